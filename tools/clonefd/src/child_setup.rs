//! What the child does between clone and execve, and how it tells the
//! parent that it failed.
//!
//! The child runs [`child_main`] on a stack of its own, in the parent's
//! memory (CLONE_VM), while the parent thread waits (CLONE_VFORK) until it
//! has exec'ed or exited. Everything it needs was allocated by the parent
//! before the clone: it only reads [`ChildSetup`], makes raw syscalls
//! (no libc, no `errno`, no allocation, no panic) and, on failure, stores
//! the step and errno in `ChildSetup` and exits with 127. The parent reads
//! them when clone returns: the shared memory plays the role of std's
//! CLOEXEC pipe, with no file descriptor to create (glibc's posix_spawn
//! does the same).

use std::ffi::{c_char, c_int, c_void};
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::raw_syscall::{exit_now, syscall2, syscall3, syscall4, RawResult};

/// The exit code of a child that could not exec, as std and the shells.
pub(crate) const EXEC_FAILED_EXIT_CODE: i32 = 127;

/// One descriptor the child gets: `dst` becomes a copy of our `src`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdMove {
    pub src: RawFd,
    pub dst: RawFd,
}

/// The step of the child's setup that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum Step {
    ProcessGroup = 1,
    SignalMask = 2,
    Sigpipe = 3,
    Fds = 4,
    Chdir = 5,
    Exec = 6,
}

impl Step {
    fn from_raw(raw: i32) -> Option<Step> {
        [
            Step::ProcessGroup,
            Step::SignalMask,
            Step::Sigpipe,
            Step::Fds,
            Step::Chdir,
            Step::Exec,
        ]
        .into_iter()
        .find(|step| *step as i32 == raw)
    }
}

/// Everything the child reads, prepared by the parent, and where it writes
/// why it failed. All pointers stay valid until clone returns.
pub(crate) struct ChildSetup<'a> {
    /// Paths to try with execve, in order (NULL-free C strings).
    pub candidates: &'a [*const c_char],
    /// NULL-terminated argv and envp.
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    /// Directory to change to, or NULL.
    pub cwd: *const c_char,
    /// Descriptors to install, and one scratch slot for each.
    pub fd_moves: &'a [FdMove],
    pub scratch: &'a [AtomicI32],
    /// A descriptor number above every `src` and `dst` of `fd_moves`.
    pub first_free_fd: RawFd,
    /// setpgid(0, pgid) when `Some`.
    pub process_group: Option<libc::pid_t>,
    /// Out: the failed [`Step`] (0: none) and its errno.
    pub failed_step: AtomicI32,
    pub errno: AtomicI32,
}

impl ChildSetup<'_> {
    /// After clone returned: the step that failed and its errno, if the
    /// child did not exec.
    pub(crate) fn failure(&self) -> Option<(Step, i32)> {
        let step = Step::from_raw(self.failed_step.load(Ordering::Acquire))?;
        Some((step, self.errno.load(Ordering::Acquire)))
    }
}

/// The child's entry point (called by `raw_syscall::clone_on_stack` on
/// the child's stack). Never returns: it execs, or exits with 127.
///
/// # Safety
///
/// `setup` points to a [`ChildSetup`] whose pointers are valid, in memory
/// this child shares with its suspended parent.
pub(crate) unsafe extern "C" fn child_main(setup: *const c_void) -> ! {
    // SAFETY: the caller's contract.
    let setup = unsafe { &*setup.cast::<ChildSetup<'_>>() };
    // SAFETY: as above; run() returns only if execve failed or was not
    // reached.
    let (step, errno) = unsafe { run(setup) };
    setup.errno.store(errno, Ordering::Release);
    setup.failed_step.store(step as i32, Ordering::Release);
    exit_now(EXEC_FAILED_EXIT_CODE)
}

/// Checks a raw syscall result: `Err((step, errno))` if it failed.
fn check(step: Step, ret: RawResult) -> Result<RawResult, (Step, i32)> {
    if ret < 0 {
        Err((step, -ret as i32))
    } else {
        Ok(ret)
    }
}

/// The kernel's `struct sigaction` on x86_64.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Sets up the child and execs; returns why it could not.
///
/// # Safety
///
/// As [`child_main`].
unsafe fn run(setup: &ChildSetup<'_>) -> (Step, i32) {
    // SAFETY: as the caller's contract.
    match unsafe { prepare(setup) } {
        Ok(()) => (Step::Exec, unsafe { exec(setup) }),
        Err(failure) => failure,
    }
}

/// Everything before execve, in the order std does it.
///
/// # Safety
///
/// As [`child_main`].
unsafe fn prepare(setup: &ChildSetup<'_>) -> Result<(), (Step, i32)> {
    if let Some(pgid) = setup.process_group {
        // SAFETY: setpgid takes no pointer.
        check(Step::ProcessGroup, unsafe {
            syscall2(libc::SYS_setpgid, 0, pgid as usize)
        })?;
    }
    // The child starts with an empty signal mask, whatever ours is
    // (CLONE_CLEAR_SIGHAND has already reset handled signals to SIG_DFL).
    let empty: u64 = 0;
    // SAFETY: reads 8 bytes at `empty`, writes nothing.
    check(Step::SignalMask, unsafe {
        syscall4(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            ptr::from_ref(&empty) as usize,
            0,
            8,
        )
    })?;
    // Rust ignores SIGPIPE; programs expect its default action, as std
    // gives them.
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: reads the struct above, writes nothing.
    check(Step::Sigpipe, unsafe {
        syscall4(
            libc::SYS_rt_sigaction,
            libc::SIGPIPE as usize,
            ptr::from_ref(&default) as usize,
            0,
            8,
        )
    })?;
    move_fds(setup)?;
    if !setup.cwd.is_null() {
        // SAFETY: `cwd` is a C string.
        check(Step::Chdir, unsafe {
            syscall1_ptr(libc::SYS_chdir, setup.cwd)
        })?;
    }
    Ok(())
}

/// chdir(path) and the like.
///
/// # Safety
///
/// `path` is a C string.
unsafe fn syscall1_ptr(nr: libc::c_long, path: *const c_char) -> RawResult {
    // SAFETY: the caller's contract.
    unsafe { crate::raw_syscall::syscall1(nr, path as usize) }
}

/// Installs each `src` at its `dst`. First every `src` is copied above all
/// the numbers involved (close-on-exec), so that no `dst` overwrites a
/// `src` still to be moved; then each copy is dup2()ed to its `dst`, which
/// clears close-on-exec there (also when `dst == src`).
fn move_fds(setup: &ChildSetup<'_>) -> Result<(), (Step, i32)> {
    for (fd_move, slot) in setup.fd_moves.iter().zip(setup.scratch) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointer.
        let copy = check(Step::Fds, unsafe {
            syscall3(
                libc::SYS_fcntl,
                fd_move.src as usize,
                libc::F_DUPFD_CLOEXEC as usize,
                setup.first_free_fd as usize,
            )
        })?;
        slot.store(copy as c_int, Ordering::Relaxed);
    }
    for (fd_move, slot) in setup.fd_moves.iter().zip(setup.scratch) {
        let copy = slot.load(Ordering::Relaxed);
        // SAFETY: dup2 takes no pointer.
        check(Step::Fds, unsafe {
            syscall2(libc::SYS_dup2, copy as usize, fd_move.dst as usize)
        })?;
    }
    Ok(())
}

/// Tries each candidate path with execve, as execvp(3) does: it goes on
/// past a missing file and remembers EACCES, and stops at other errors.
/// Returns the errno to report.
///
/// # Safety
///
/// As [`child_main`].
unsafe fn exec(setup: &ChildSetup<'_>) -> i32 {
    let mut errno = libc::ENOENT;
    let mut saw_eacces = false;
    for &path in setup.candidates {
        // SAFETY: path, argv and envp are valid C strings and
        // NULL-terminated arrays of them.
        let ret = unsafe {
            syscall3(
                libc::SYS_execve,
                path as usize,
                setup.argv as usize,
                setup.envp as usize,
            )
        };
        errno = -ret as i32;
        match errno {
            libc::EACCES => saw_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return errno,
        }
    }
    if saw_eacces {
        libc::EACCES
    } else {
        errno
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip() {
        for raw in 1..=6 {
            assert_eq!(Step::from_raw(raw).map(|s| s as i32), Some(raw));
        }
        assert_eq!(Step::from_raw(0), None);
        assert_eq!(Step::from_raw(7), None);
    }
}
