//! Positive feature detection.
//!
//! A feature counts as available only once it has been seen working, never
//! because a header defines it or a syscall number exists. Each probe
//! returns `Ok(())` or the reason to SKIP; tests use `require!(probe())`.
//! `clone4_available()` will join `clone3_available()` here.

use std::mem::size_of;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::sys::{self, CloneArgsWithTail};
use crate::uapi::clone_args;

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
