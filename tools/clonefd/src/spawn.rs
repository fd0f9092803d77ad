//! The parent's side of spawning: prepare everything, clone with
//! CLONE_VM|CLONE_VFORK onto a stack of the child's own, and turn what the
//! child reported into a [`Child`] or an [`io::Error`].

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::AtomicI32;

use crate::abi::{
    split_flags, Clone4Args, CloneArgs, CLONEFD_CLOEXEC, CLONEFD_KILL_ON_CLOSE,
    CLONE_CLEAR_SIGHAND, CLONE_FD, CLONE_PIDFD, CLONE_VFORK, CLONE_VM, SYS_CLONE3, SYS_CLONE4,
};
use crate::backend::Backend;
use crate::child::{Child, Pipes};
use crate::child_setup::{ChildSetup, FdMove};
use crate::child_stack::ChildStack;
use crate::command::Command;
use crate::exec_plan::{ExecPlan, ExecRequest};
use crate::pidfd::{self, Blocking};
use crate::raw_syscall::clone_on_stack;
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout, StdioKind};

/// What a standard stream the `Command` does not set becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdioDefault {
    Inherit,
    Null,
    Piped,
}

/// The child's descriptors: what to install where, the parent's pipe ends,
/// and the descriptors to close once the child has them.
#[derive(Default)]
struct FdPlan {
    moves: Vec<FdMove>,
    pipes: [Option<OwnedFd>; 3],
    child_ends: Vec<OwnedFd>,
    dev_null: Option<File>,
}

impl FdPlan {
    fn new(cmd: &Command, defaults: [StdioDefault; 3]) -> io::Result<FdPlan> {
        let mut plan = FdPlan::default();
        let streams = [&cmd.stdin, &cmd.stdout, &cmd.stderr];
        for (number, (stream, default)) in streams.into_iter().zip(defaults).enumerate() {
            let dst = number as RawFd;
            match stream.as_ref().map(|stdio| &stdio.0) {
                Some(StdioKind::Inherit) => {}
                None if default == StdioDefault::Inherit => {}
                Some(StdioKind::Null) => plan.null(dst)?,
                None if default == StdioDefault::Null => plan.null(dst)?,
                Some(StdioKind::Piped) | None => plan.pipe(dst)?,
                Some(StdioKind::Fd(fd)) => plan.moves.push(FdMove {
                    src: fd.as_raw_fd(),
                    dst,
                }),
            }
        }
        for (dst, fd) in &cmd.fds {
            plan.moves.retain(|fd_move| fd_move.dst != *dst);
            plan.moves.push(FdMove {
                src: fd.as_raw_fd(),
                dst: *dst,
            });
        }
        Ok(plan)
    }

    fn null(&mut self, dst: RawFd) -> io::Result<()> {
        if self.dev_null.is_none() {
            // std opens with O_CLOEXEC.
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            self.dev_null = Some(file);
        }
        let src = self.dev_null.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        self.moves.push(FdMove { src, dst });
        Ok(())
    }

    fn pipe(&mut self, dst: RawFd) -> io::Result<()> {
        // Both ends close-on-exec (pipe2(O_CLOEXEC)).
        let (reader, writer) = io::pipe()?;
        let (ours, theirs): (OwnedFd, OwnedFd) = if dst == 0 {
            (writer.into(), reader.into())
        } else {
            (reader.into(), writer.into())
        };
        self.moves.push(FdMove {
            src: theirs.as_raw_fd(),
            dst,
        });
        self.child_ends.push(theirs);
        self.pipes[dst as usize] = Some(ours);
        Ok(())
    }

    /// A descriptor number above every one involved in the moves.
    fn first_free_fd(&self) -> RawFd {
        self.moves
            .iter()
            .flat_map(|m| [m.src, m.dst])
            .fold(2, RawFd::max)
            + 1
    }
}

/// Spawns `cmd`, its unset standard streams as `defaults` say.
pub(crate) fn spawn(cmd: &Command, defaults: [StdioDefault; 3]) -> io::Result<Child> {
    let chosen = choose_backend(cmd.backend)?;
    let plan = ExecPlan::new(&ExecRequest {
        program: &cmd.program,
        arg0: cmd.arg0.as_deref(),
        args: &cmd.args,
        env: &cmd.env,
        cwd: cmd.cwd.as_deref(),
    })?;
    let fds = FdPlan::new(cmd, defaults)?;
    let scratch: Vec<AtomicI32> = fds.moves.iter().map(|_| AtomicI32::new(-1)).collect();
    if cmd.no_new_privs {
        set_no_new_privs()?;
    }
    let stack = ChildStack::new()?;
    let setup = ChildSetup {
        candidates: plan.candidates(),
        argv: plan.argv(),
        envp: plan.envp(),
        cwd: plan.cwd(),
        fd_moves: &fds.moves,
        scratch: &scratch,
        first_free_fd: fds.first_free_fd(),
        process_group: cmd.process_group,
        failed_step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };

    let (backend, pid, fd) = clone_child_or_fall_back(
        chosen,
        cmd.backend.is_some(),
        &stack,
        &setup,
        cmd.kill_on_close,
    )?;
    // The child has exec'ed or exited: its stack and its ends of the
    // pipes are ours alone again.
    drop(stack);
    drop(fds.child_ends);

    if let Some((_step, errno)) = setup.failure() {
        if backend == Backend::Pidfd {
            // The child exited with 127: reap it. (A CLONE_FD child has
            // been reaped by the kernel already.)
            let _ = pidfd::wait(fd.as_fd(), Blocking::Yes);
        }
        return Err(io::Error::from_raw_os_error(errno));
    }

    let [stdin, stdout, stderr] = fds.pipes;
    let pipes = Pipes {
        stdin: stdin.map(ChildStdin::new),
        stdout: stdout.map(ChildStdout::new),
        stderr: stderr.map(ChildStderr::new),
    };
    let kill_on_drop = cmd.kill_on_close && backend == Backend::Pidfd;
    Ok(Child::new(backend, pid, fd, pipes, kill_on_drop))
}

fn choose_backend(requested: Option<Backend>) -> io::Result<Backend> {
    match requested {
        None => Ok(Backend::detect()),
        Some(backend) if backend.is_available() => Ok(backend),
        Some(backend) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("the running kernel does not provide {backend}"),
        )),
    }
}

fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes no pointer.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a clone that failed with `errno` is retried with the fallback:
/// only a clone4() that [`Backend::detect`] chose (not one forced with
/// `Command::backend`), and only when the kernel refused clone4() itself
/// (ENOSYS: a seccomp filter that does not know the syscall, as container
/// runtimes install) or CLONE_FD (EINVAL, as a kernel built without
/// CONFIG_CLONEFD gives). The crate's flags are otherwise valid, and a
/// failed clone4() created neither a child nor a descriptor.
fn retries_with_fallback(tried: Backend, forced: bool, errno: i32) -> bool {
    tried == Backend::CloneFd && !forced && matches!(errno, libc::ENOSYS | libc::EINVAL)
}

/// Clones the child with `backend`, or with the fallback if the kernel
/// refused clone4() ([`retries_with_fallback`]): returns the backend used,
/// the child's pid and its descriptor.
fn clone_child_or_fall_back(
    backend: Backend,
    forced: bool,
    stack: &ChildStack,
    setup: &ChildSetup<'_>,
    kill_on_close: bool,
) -> io::Result<(Backend, libc::pid_t, OwnedFd)> {
    let errno = match clone_child(backend, stack, setup, kill_on_close) {
        Ok((pid, fd)) => return Ok((backend, pid, fd)),
        Err(errno) => errno,
    };
    if !retries_with_fallback(backend, forced, errno) {
        return Err(clone_error(backend, errno, kill_on_close));
    }
    let fallback = Backend::Pidfd;
    clone_child(fallback, stack, setup, kill_on_close)
        .map(|(pid, fd)| (fallback, pid, fd))
        .map_err(|errno| clone_error(fallback, errno, kill_on_close))
}

/// Clones the child onto `stack`, running `setup`: returns its pid and its
/// descriptor (CLONE_FD descriptor or pidfd), once it has exec'ed or
/// exited; or the errno of the failed clone.
fn clone_child(
    backend: Backend,
    stack: &ChildStack,
    setup: &ChildSetup<'_>,
    kill_on_close: bool,
) -> Result<(libc::pid_t, OwnedFd), i32> {
    let mut fd: libc::c_int = -1;
    let fd_ptr = ptr::from_mut(&mut fd) as u64;
    let setup_ptr = ptr::from_ref(setup).cast::<c_void>();
    let ret = match backend {
        Backend::CloneFd => {
            let args = Clone4Args {
                stack_start: stack.start(),
                stack_size: stack.size(),
                clonefd: fd_ptr,
                ..Clone4Args::default()
            };
            let mut flags =
                CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_FD | CLONEFD_CLOEXEC;
            if kill_on_close {
                flags |= CLONEFD_KILL_ON_CLOSE;
            }
            let (high, low) = split_flags(flags);
            // SAFETY: the stack stays mapped and `setup` valid until this
            // returns (CLONE_VFORK); the kernel writes an int at `fd`.
            unsafe {
                clone_on_stack(
                    SYS_CLONE4,
                    high as usize,
                    low as usize,
                    size_of::<Clone4Args>(),
                    ptr::from_ref(&args) as usize,
                    setup_ptr,
                )
            }
        }
        Backend::Pidfd => {
            let args = CloneArgs {
                flags: CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_PIDFD,
                pidfd: fd_ptr,
                exit_signal: 0,
                stack: stack.start(),
                stack_size: stack.size(),
                ..CloneArgs::default()
            };
            // SAFETY: as above.
            unsafe {
                clone_on_stack(
                    SYS_CLONE3,
                    ptr::from_ref(&args) as usize,
                    size_of::<CloneArgs>(),
                    0,
                    0,
                    setup_ptr,
                )
            }
        }
    };
    if ret < 0 {
        return Err(-ret as i32);
    }
    assert!(fd >= 0, "{backend} succeeded without storing a descriptor");
    // SAFETY: the kernel stored a new descriptor that nothing else owns.
    Ok((ret as libc::pid_t, unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// The error of a failed clone, explained where the errno alone is cryptic.
fn clone_error(backend: Backend, errno: i32, kill_on_close: bool) -> io::Error {
    let err = io::Error::from_raw_os_error(errno);
    match (backend, errno) {
        (Backend::CloneFd, libc::EPERM) if kill_on_close => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "clone4(CLONEFD_KILL_ON_CLOSE): {err}: the caller needs no_new_privs \
                 or CAP_SYS_ADMIN (see Command::no_new_privs)"
            ),
        ),
        (Backend::CloneFd, libc::ENOSYS | libc::EINVAL) => io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "clone4(CLONE_FD): {err}: the kernel, or a seccomp filter, refused it \
                 (without Command::backend, spawn falls back to clone3 + pidfd)"
            ),
        ),
        (Backend::Pidfd, libc::ENOSYS | libc::EINVAL) => io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "clone3(CLONE_PIDFD | CLONE_CLEAR_SIGHAND): {err}: \
                 the fallback needs Linux 5.5 or later"
            ),
        ),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_detected_clone4_refused_by_the_kernel_falls_back() {
        for errno in [libc::ENOSYS, libc::EINVAL] {
            assert!(retries_with_fallback(Backend::CloneFd, false, errno));
            // Forced with Command::backend: the caller asked for CLONE_FD.
            assert!(!retries_with_fallback(Backend::CloneFd, true, errno));
            // The fallback has nothing to fall back to.
            assert!(!retries_with_fallback(Backend::Pidfd, false, errno));
        }
        // Real failures of a supported clone4() are reported as they are.
        for errno in [libc::EPERM, libc::EAGAIN, libc::ENOMEM, libc::EMFILE] {
            assert!(!retries_with_fallback(Backend::CloneFd, false, errno));
        }
    }

    #[test]
    fn a_refused_forced_clone4_is_unsupported() {
        for errno in [libc::ENOSYS, libc::EINVAL] {
            let err = clone_error(Backend::CloneFd, errno, false);
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        }
        let err = clone_error(Backend::CloneFd, libc::EPERM, true);
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        let err = clone_error(Backend::CloneFd, libc::EAGAIN, false);
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    }
}
