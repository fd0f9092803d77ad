//! Positive feature detection.
//!
//! A feature counts as available only once it has been seen working, never
//! because a header defines it or a syscall number exists. Each probe
//! returns `Ok(())` or the reason to SKIP; tests use `require!(probe())`.
//!
//! Probes are not cached: every test runs in a process of its own, forked
//! from a runner that never probes, so a cache would never be hit.

use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::clone4;
use crate::clonefd::{self, CLONE_FD};
use crate::sys::{self, CloneArgsWithTail};
use crate::uapi::{self, clone_args};

/// Why a feature can't be tested here.
#[derive(Debug)]
pub enum Unavailable {
    /// The kernel lacks it: the test SKIPs.
    Skip(String),
    /// The kernel is the patched one (/proc/kallsyms says so) and the
    /// feature does not work: the test FAILs with the real error.
    Broken(String),
}

impl From<String> for Unavailable {
    fn from(reason: String) -> Self {
        Unavailable::Skip(reason)
    }
}

impl From<&str> for Unavailable {
    fn from(reason: &str) -> Self {
        Unavailable::Skip(reason.into())
    }
}

/// `Ok(())`, or why the feature can't be tested here.
pub type Availability = Result<(), Unavailable>;

/// Whether the running kernel has the function `symbol` (/proc/kallsyms
/// lists it): how a patched kernel is recognized positively, whatever its
/// syscall numbers do.
pub fn kernel_has_symbol(symbol: &str) -> bool {
    std::fs::read_to_string("/proc/kallsyms").is_ok_and(|text| {
        text.lines()
            .any(|line| line.split_whitespace().nth(2) == Some(symbol))
    })
}

/// The clone4() entry point of the patched kernel (x86_64).
pub const CLONE4_SYMBOL: &str = "__x64_sys_clone4";
/// The CLONE_FD file of the patched kernel (CONFIG_CLONEFD=y).
pub const CLONEFD_SYMBOL: &str = "clonefd_create";

/// A probe's failure: Broken on a kernel that has `symbol`, else Skip.
fn unavailable(symbol: &str, reason: String) -> Unavailable {
    if kernel_has_symbol(symbol) {
        Unavailable::Broken(format!(
            "{reason}, although /proc/kallsyms lists {symbol}: this is the patched kernel"
        ))
    } else {
        Unavailable::Skip(reason)
    }
}

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
            return Err(format!("clone3() with a bad exit_signal: {err}, not EINVAL").into())
        }
        Ok(pid) => {
            let _ = waitpid(pid, Some(WaitPidFlag::__WALL));
            return Err("clone3() accepted a bad exit_signal".into());
        }
    }
    args.args.exit_signal = Signal::SIGCHLD as u64;
    let pid = sys::clone3_plain(&mut args, size)
        .map_err(|err| Unavailable::from(format!("clone3(): {err}")))?;
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        other => Err(format!("clone3() child did not exit cleanly: {other:?}").into()),
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
            let why = format!("clone4() is not available: syscall {nr} gave ENOSYS");
            return Err(unavailable(CLONE4_SYMBOL, why));
        }
        Err(err) => {
            let why = format!(
                "clone4() is not available: syscall {nr} gave {err} \
                 ({nr} is another syscall on kernels without clone4())"
            );
            return Err(unavailable(CLONE4_SYMBOL, why));
        }
    };
    match waitpid(pid, Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        other => Err(unavailable(
            CLONE4_SYMBOL,
            format!("clone4() is not usable: its child did not exit cleanly: {other:?}"),
        )),
    }
}

/// The kernel has CLONE_FD: after `clone4_available()`, clone4(CLONE_FD,
/// 0, NULL) returns a file descriptor in the parent (0 in the child, which
/// `_exit(0)`s). How that fd behaves is for the tests to judge: a kernel
/// that takes CLONE_FD but never reports the exit must fail them, not
/// skip them.
///
/// The probe waits until the fd reports its child's exit (at most
/// PROBE_EXIT_TIMEOUT_MS; a kernel that takes longer is broken, not
/// missing), so that the tests that count their children never find the
/// probe's.
pub fn clonefd_available() -> Availability {
    clone4_available()?;
    // SAFETY: no struct, no flag but CLONE_FD; the child only exits.
    match unsafe { clonefd::fork_like_returning_fd(CLONE_FD, 0, ptr::null(), || 0) } {
        Ok(fd) => wait_probe_exit(fd.as_fd()),
        Err(Errno::EINVAL) => Err(unavailable(
            CLONEFD_SYMBOL,
            "CLONE_FD is not available (EINVAL: kernel built without CONFIG_CLONEFD?)".into(),
        )),
        Err(err) => Err(unavailable(
            CLONEFD_SYMBOL,
            format!("CLONE_FD is not available: clone4() gave {err}"),
        )),
    }
}

/// How long the CLONE_FD probe waits for its child's exit to be reported.
const PROBE_EXIT_TIMEOUT_MS: u16 = 10_000;

/// Polls the probe's fd until it is readable and reads the report: then
/// the child is released. Broken if the exit is not reported in time.
fn wait_probe_exit(fd: BorrowedFd<'_>) -> Availability {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let broken = |why: String| Unavailable::Broken(format!("CLONE_FD probe: {why}"));
    match poll(&mut fds, PollTimeout::from(PROBE_EXIT_TIMEOUT_MS)) {
        Ok(0) => return Err(broken("the child's exit was not reported in 10 s".into())),
        Ok(_) => {}
        Err(err) => return Err(broken(format!("poll: {err}"))),
    }
    clonefd::read_info(fd).map_err(|err| broken(format!("read: {err}")))?;
    Ok(())
}
