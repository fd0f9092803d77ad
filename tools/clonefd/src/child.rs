//! [`Child`]: a running or exited child, owned through its descriptor.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::{ExitStatus, Output};
use std::ptr;

use crate::backend::Backend;
use crate::clonefd_file;
use crate::exit_info::ExitInfo;
use crate::output::read_to_end_both;
use crate::pidfd::{self, Blocking};
use crate::readiness::poll_readable;
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout};

/// The parent's ends of the child's piped standard streams.
pub(crate) struct Pipes {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// A child process, as `std::process::Child`, owned through a descriptor:
/// the CLONE_FD descriptor ([`Backend::CloneFd`]) or a pidfd
/// ([`Backend::Pidfd`]), which [`AsFd`] exposes for a poll loop of your
/// own (both become readable when the child exits; then
/// [`try_wait`](Child::try_wait) returns its status).
///
/// Dropping a `Child` does not kill the child, unless it was spawned with
/// [`kill_on_close`](crate::Command::kill_on_close). On
/// [`Backend::CloneFd`] the kernel reaps the child when it exits, waited
/// for or not; on [`Backend::Pidfd`] a child dropped without being waited
/// for stays a zombie after it exits, as with `std::process`.
///
/// ```
/// use clonefd::Command;
///
/// let mut child = Command::new("sleep").arg("10").spawn()?;
/// assert!(child.try_wait()?.is_none());
/// child.kill()?;
/// let status = child.wait()?;
/// assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Child {
    fd: OwnedFd,
    backend: Backend,
    pid: u32,
    exit: Option<ExitInfo>,
    /// [`Backend::Pidfd`]'s emulation of kill_on_close.
    kill_on_drop: bool,
    /// The child's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    pub(crate) fn new(
        backend: Backend,
        pid: libc::pid_t,
        fd: OwnedFd,
        pipes: Pipes,
        kill_on_drop: bool,
    ) -> Child {
        Child {
            fd,
            backend,
            pid: pid as u32,
            exit: None,
            kill_on_drop,
            stdin: pipes.stdin,
            stdout: pipes.stdout,
            stderr: pipes.stderr,
        }
    }

    /// A `Child` for a CLONE_FD descriptor obtained another way: inherited,
    /// received with SCM_RIGHTS, or from [`IntoRawFd`]. Any holder of the
    /// descriptor can wait for the child (the first read gets its status)
    /// and signal it. Fails with ENOTTY if `fd` is not a CLONE_FD
    /// descriptor, and ESRCH if the child has already exited: a status
    /// left unread is then lost with the descriptor (or read it yourself).
    pub fn from_clonefd(fd: OwnedFd) -> io::Result<Child> {
        let pid = clonefd_file::getpid(fd.as_fd())?;
        let pipes = Pipes {
            stdin: None,
            stdout: None,
            stderr: None,
        };
        Ok(Child::new(Backend::CloneFd, pid, fd, pipes, false))
    }

    /// The child's pid. Only a hint once the child may have exited: on
    /// [`Backend::CloneFd`] the kernel frees the pid as soon as the child
    /// exits. Use [`signal`](Child::signal) or [`pidfd`](Child::pidfd)
    /// rather than `kill(pid)`.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// How this child was created.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for the child to exit and returns its status. Closes the
    /// child's stdin first (if piped), so that a child reading it sees end
    /// of file. Later calls return the same status.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.wait_info().map(|info| info.status)
    }

    /// As [`wait`](Child::wait), with the child's resource usage.
    ///
    /// ```
    /// let mut child = clonefd::Command::new("true").spawn()?;
    /// let info = child.wait_info()?;
    /// assert!(info.status.success());
    /// assert!(info.rusage.max_rss_kib > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_info(&mut self) -> io::Result<ExitInfo> {
        if let Some(info) = self.exit {
            return Ok(info);
        }
        drop(self.stdin.take());
        let info = match self.backend {
            Backend::CloneFd => clonefd_file::read_info(self.fd.as_fd())?,
            Backend::Pidfd => pidfd::wait(self.fd.as_fd(), Blocking::Yes)?
                .ok_or_else(|| io::Error::other("blocking waitid() reported no exit"))?,
        };
        self.exit = Some(info);
        Ok(info)
    }

    /// The child's status if it has exited, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        Ok(self.try_wait_info()?.map(|info| info.status))
    }

    /// As [`try_wait`](Child::try_wait), with the child's resource usage.
    pub fn try_wait_info(&mut self) -> io::Result<Option<ExitInfo>> {
        if let Some(info) = self.exit {
            return Ok(Some(info));
        }
        let info = match self.backend {
            Backend::CloneFd => {
                if !poll_readable(self.fd.as_fd(), 0)? {
                    return Ok(None);
                }
                clonefd_file::read_info(self.fd.as_fd())?
            }
            Backend::Pidfd => match pidfd::wait(self.fd.as_fd(), Blocking::No)? {
                Some(info) => info,
                None => return Ok(None),
            },
        };
        self.exit = Some(info);
        Ok(Some(info))
    }

    /// The status and usage of a child that [`wait`](Child::wait) or
    /// [`try_wait`](Child::try_wait) saw exit.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit
    }

    /// Sends SIGKILL to the child. `Ok` if it has already exited, as std.
    pub fn kill(&mut self) -> io::Result<()> {
        match self.signal(libc::SIGKILL) {
            Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            result => result,
        }
    }

    /// Sends signal `sig` (e.g. `libc::SIGTERM`) to the child, through a
    /// pidfd: it can never reach another process that reused the pid.
    /// Fails with ESRCH once the child has exited and been reaped.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        if self.exit.is_some() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        match self.backend {
            Backend::CloneFd => {
                let pidfd = clonefd_file::getpidfd(self.fd.as_fd())?;
                pidfd::send_signal(pidfd.as_fd(), sig)
            }
            Backend::Pidfd => pidfd::send_signal(self.fd.as_fd(), sig),
        }
    }

    /// A new pidfd for the child (close-on-exec), for pidfd_send_signal,
    /// pidfd_getfd, setns or poll. On [`Backend::CloneFd`] this is
    /// `CLONEFD_IOC_GETPIDFD`, which fails with ESRCH once the child has
    /// exited; on [`Backend::Pidfd`] a duplicate of the child's pidfd.
    pub fn pidfd(&self) -> io::Result<OwnedFd> {
        match self.backend {
            Backend::CloneFd => clonefd_file::getpidfd(self.fd.as_fd()),
            Backend::Pidfd => self.fd.try_clone(),
        }
    }

    /// Waits for the child, collecting its stdout and stderr (those that
    /// are piped) meanwhile; closes its stdin first.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read_to_end_both(self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl AsFd for Child {
    /// The CLONE_FD descriptor, or the pidfd on [`Backend::Pidfd`].
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Child {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Child {
    /// Gives up the child: its descriptor is the caller's to read, poll
    /// and close (its pipes are closed). No kill on drop any more: a
    /// CLONEFD_KILL_ON_CLOSE descriptor still kills the child when closed.
    fn into_raw_fd(self) -> RawFd {
        let mut this = ManuallyDrop::new(self);
        drop(this.stdin.take());
        drop(this.stdout.take());
        drop(this.stderr.take());
        // SAFETY: `this` is never used or dropped again; the other fields
        // own nothing.
        let fd = unsafe { ptr::read(&this.fd) };
        fd.into_raw_fd()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.kill_on_drop && self.exit.is_none() {
            // Backend::Pidfd's kill_on_close: kill, then reap, so that no
            // zombie is left (SIGKILL ends the child promptly).
            let _ = pidfd::send_signal(self.fd.as_fd(), libc::SIGKILL);
            let _ = pidfd::wait(self.fd.as_fd(), Blocking::Yes);
        }
    }
}
