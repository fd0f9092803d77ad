//! Operations on pidfds: pidfd_send_signal(2), and waitid(P_PIDFD) for the
//! fallback's children.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use crate::abi::P_PIDFD;
use crate::exit_info::ExitInfo;
use crate::readiness::poll_readable;

/// pidfd_send_signal(pidfd, sig, NULL, 0).
pub(crate) fn send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: no siginfo pointer; the kernel only reads the fd and sig.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether to block until the child exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocking {
    Yes,
    No,
}

/// waitid(P_PIDFD, pidfd, &info, WEXITED | __WALL [| WNOHANG], &rusage):
/// reaps the child if it exited. `None` if it has not (`Blocking::No`).
///
/// `__WALL` because the fallback's children have no exit signal until
/// they exec, which makes them "clone" children that plain waits do not
/// see (a child that failed to exec is one). A pidfd with O_NONBLOCK (set
/// by whoever registered it in an event loop: `Child::pidfd()` duplicates
/// the same open file description) makes waitid() fail with EAGAIN instead
/// of blocking: `Blocking::Yes` then polls the pidfd and waits again. The raw
/// syscall is used for its fifth argument, the child's `struct rusage`,
/// which glibc's waitid() wrapper does not expose.
pub(crate) fn wait(pidfd: BorrowedFd<'_>, blocking: Blocking) -> io::Result<Option<ExitInfo>> {
    let mut options = libc::WEXITED | libc::__WALL;
    if blocking == Blocking::No {
        options |= libc::WNOHANG;
    }
    loop {
        // Zeroed: with WNOHANG and no exited child, si_pid stays 0.
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        let mut usage = MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: the kernel writes a siginfo_t and a struct rusage, to
        // memory of their sizes.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                P_PIDFD,
                pidfd.as_raw_fd(),
                info.as_mut_ptr(),
                options,
                usage.as_mut_ptr(),
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if err.raw_os_error() == Some(libc::EAGAIN) && blocking == Blocking::Yes {
                poll_readable(pidfd, -1)?;
                continue;
            }
            if err.raw_os_error() == Some(libc::ECHILD) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the child was already reaped elsewhere in the process \
                     (a wait for any child, or SIGCHLD set to SIG_IGN)",
                ));
            }
            return Err(err);
        }
        // SAFETY: zero-initialised and possibly filled in by the kernel:
        // valid values of these plain C structures.
        let (info, usage) = unsafe { (info.assume_init(), usage.assume_init()) };
        // SAFETY: a SIGCHLD siginfo (or zeroes): si_pid is in the union.
        if unsafe { info.si_pid() } == 0 {
            return Ok(None);
        }
        return ExitInfo::from_waitid(&info, &usage).map(Some);
    }
}
