//! Positive feature detection.
//!
//! A feature counts as available only once it has been seen working, never
//! because a header defines it or a syscall number exists. Each probe
//! returns `Ok(())` or the reason to SKIP; tests use `require!(probe())`.
//!
//! Probes are not cached: every test runs in a process of its own, forked
//! from a runner that never probes, so a cache would never be hit.

use std::mem::size_of;
use std::ptr;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::clone4;
use crate::clonefd::{self, CLONE_FD};
use crate::sys::{self, CloneArgsWithTail};
use crate::uapi::{self, clone_args};

/// `Ok(())`, or why the feature can't be tested here.
pub type Availability = Result<(), String>;

/// clone3() exists (a bad `exit_signal` gets EINVAL, not ENOSYS) and
/// really creates a child that exits and can be reaped.
pub fn clone3_available() -> Availability {
    let size = size_of::<clone_args>();
    let mut args = CloneArgsWithTail::default();
    args.args.exit_signal = u64::MAX;
    match sys::clone3_plain(&mut args, size) {
        Err(nix::errno::Errno::EINVAL) => {}
        Err(nix::errno::Errno::ENOSYS) => return Err("clone3() is not implemented".into()),
        Err(err) => {
            return Err(format!(
                "clone3() with a bad exit_signal: {err}, not EINVAL"
            ))
        }
        Ok(pid) => {
            let _ = waitpid(pid, Some(WaitPidFlag::__WALL));
            return Err("clone3() accepted a bad exit_signal".into());
        }
    }
    args.args.exit_signal = Signal::SIGCHLD as u64;
    let pid = sys::clone3_plain(&mut args, size).map_err(|err| format!("clone3(): {err}"))?;
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        other => Err(format!("clone3() child did not exit cleanly: {other:?}")),
    }
}

/// clone4() really creates a child: clone4(0, SIGCHLD, 0, NULL) forks, the
/// child `_exit(0)`s at once and waitpid() sees it exit with 0.
///
/// Any error means another kernel: ENOSYS on one without clone4(), and
/// some other error where syscall 463 is something else (setxattrat() since
/// Linux 6.13, which fails on these arguments).
pub fn clone4_available() -> Availability {
    let nr = uapi::__NR_clone4;
    let sigchld = Signal::SIGCHLD as u64;
    // SAFETY: no struct and no flag but the exit signal: a plain fork whose
    // child exits at once.
    let pid = match unsafe { clone4::fork_like(sigchld, 0, ptr::null(), || 0) } {
        Ok(pid) => pid,
        Err(Errno::ENOSYS) => {
            return Err(format!(
                "clone4() is not available: syscall {nr} gave ENOSYS (not the patched kernel)"
            ))
        }
        Err(err) => {
            return Err(format!(
                "clone4() is not available: syscall {nr} gave {err} \
                 (not the patched kernel: {nr} is another syscall here)"
            ))
        }
    };
    match waitpid(pid, Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        other => Err(format!(
            "clone4() is not usable: its child did not exit cleanly: {other:?}"
        )),
    }
}

/// The kernel has CLONE_FD: after `clone4_available()`, clone4(CLONE_FD,
/// 0, NULL) returns a file descriptor in the parent (0 in the child, which
/// `_exit(0)`s). How that fd behaves is for the tests to judge: a kernel
/// that takes CLONE_FD but never reports the exit must fail them, not
/// skip them.
pub fn clonefd_available() -> Availability {
    clone4_available()?;
    // SAFETY: no struct, no flag but CLONE_FD; the child only exits.
    match unsafe { clonefd::fork_like_returning_fd(CLONE_FD, 0, ptr::null(), || 0) } {
        Ok(_fd) => Ok(()),
        Err(Errno::EINVAL) => {
            Err("CLONE_FD is not available (EINVAL: kernel built without CONFIG_CLONEFD?)".into())
        }
        Err(err) => Err(format!("CLONE_FD is not available: clone4() gave {err}")),
    }
}
