//! clone3() and pidfd tests.
//!
//! Every test is feature-gated on `clone3_available()`, and was seen going
//! red (`not ok`, exit code 1) by temporarily breaking one thing, then
//! restoring it:
//! - (a) expecting POLLIN before the release: `left: PollFlags(0x0)`,
//!   `right: PollFlags(POLLIN)`; never releasing the child:
//!   `check!(after.contains(PollFlags::POLLIN)) failed: revents PollFlags(0x0)`.
//! - (b) the child exiting with 43: `status: 43` against `status: 42`.
//! - (c) size 64 (VER0) where EINVAL is expected:
//!   `clone3_plain(&mut args, 64) succeeded with Pid(..), expected EINVAL`.
//! - (d) a zero tail where E2BIG is expected: `succeeded ..., expected E2BIG`.
//! - (e) exit_signal SIGCHLD instead of SIGUSR1:
//!   `sys::sigtimedwait(&usr1, PATIENCE) failed: EAGAIN`.
//! - (f) SIGTERM instead of SIGKILL: `status: 15` against `status: 9`.
//!
//! Under a seccomp filter making clone3() fail with ENOSYS, all of them
//! SKIP with `clone3() is not implemented` and the run exits with 4.

use std::fs;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::blocked_child::BlockedChild;
use super::common::{signal_set, PATIENCE};
use crate::feature::clone3_available;
use crate::ktap::{diag, Failure, Outcome, Test, TestResult};
use crate::sys::{self, CloneArgsWithTail, SigInfo};
use crate::uapi;

const EXIT_CODE: u8 = 42;
/// How long to watch for something that must not happen.
const GRACE_MS: u16 = 100;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clone3_pidfd_pollin_after_exit", pidfd_pollin_after_exit),
        Test::new("clone3_pidfd_waitid_exit_status", pidfd_waitid_exit_status),
        Test::new("clone3_size_below_ver0_einval", size_below_ver0_einval),
        Test::new("clone3_nonzero_tail_e2big", nonzero_tail_e2big),
        Test::new("clone3_exit_signal_sigusr1", exit_signal_sigusr1),
        Test::new("pidfd_send_signal_sigkill", pidfd_send_signal_sigkill),
    ]
}

/// (a) The pidfd is not readable while the child lives, POLLIN once it exited.
fn pidfd_pollin_after_exit() -> TestResult {
    require!(clone3_available());
    let mut child = check_ok!(BlockedChild::spawn(EXIT_CODE, Signal::SIGCHLD));
    match fdinfo_pid(child.pidfd()) {
        Some(pid) => check_eq!(pid, child.pid.as_raw()),
        None => diag("no Pid: line in /proc/self/fdinfo: pid cross-check skipped"),
    }
    let before = check_ok!(poll_in(child.pidfd(), GRACE_MS.into()));
    check_eq!(before, PollFlags::empty());
    check_ok!(child.release());
    let after = check_ok!(poll_in(
        child.pidfd(),
        PollTimeout::try_from(PATIENCE).unwrap()
    ));
    check!(after.contains(PollFlags::POLLIN), "revents {after:?}");
    check_ok!(child.reap());
    Ok(Outcome::Pass)
}

/// (b) waitid(P_PIDFD) reports the child's pid and exit status.
fn pidfd_waitid_exit_status() -> TestResult {
    require!(clone3_available());
    let mut child = check_ok!(BlockedChild::spawn(EXIT_CODE, Signal::SIGCHLD));
    check_ok!(child.release());
    let info = check_ok!(child.reap());
    check_eq!(info, exited(Signal::SIGCHLD, child.pid));
    Ok(Outcome::Pass)
}

/// (c) A size below CLONE_ARGS_SIZE_VER0 is EINVAL; the same args with
/// that size are accepted.
fn size_below_ver0_einval() -> TestResult {
    require!(clone3_available());
    let mut args = plain_args();
    check_err!(sys::clone3_plain(&mut args, 8), Errno::EINVAL);
    let ver0 = uapi::CLONE_ARGS_SIZE_VER0 as usize;
    check_exits_cleanly(check_ok!(sys::clone3_plain(&mut args, ver0)))?;
    Ok(Outcome::Pass)
}

/// (d) Bytes past the known struct must be zero: E2BIG otherwise; a zero
/// tail of the same size is accepted.
fn nonzero_tail_e2big() -> TestResult {
    require!(clone3_available());
    let size = size_of::<CloneArgsWithTail>();
    let mut args = plain_args();
    args.tail = 1;
    check_err!(sys::clone3_plain(&mut args, size), Errno::E2BIG);
    args.tail = 0;
    check_exits_cleanly(check_ok!(sys::clone3_plain(&mut args, size)))?;
    Ok(Outcome::Pass)
}

/// (e) exit_signal = SIGUSR1 is what the parent gets when the child exits,
/// instead of SIGCHLD, and not before.
fn exit_signal_sigusr1() -> TestResult {
    require!(clone3_available());
    let usr1 = signal_set(libc::SIGUSR1);
    let chld = signal_set(libc::SIGCHLD);
    check_ok!(usr1.thread_block());
    check_ok!(chld.thread_block());
    let mut child = check_ok!(BlockedChild::spawn(EXIT_CODE, Signal::SIGUSR1));
    check_err!(sys::sigtimedwait(&usr1, Duration::ZERO), Errno::EAGAIN);
    check_ok!(child.release());
    let info = check_ok!(sys::sigtimedwait(&usr1, PATIENCE));
    check_eq!(info, exited(Signal::SIGUSR1, child.pid));
    check_err!(sys::sigtimedwait(&chld, Duration::ZERO), Errno::EAGAIN);
    check_ok!(child.reap());
    Ok(Outcome::Pass)
}

/// (f) pidfd_send_signal(SIGKILL) kills the child; waitid says so.
fn pidfd_send_signal_sigkill() -> TestResult {
    require!(clone3_available());
    let child = check_ok!(BlockedChild::spawn(EXIT_CODE, Signal::SIGCHLD));
    check_ok!(sys::pidfd_send_signal(child.pidfd(), Signal::SIGKILL));
    let info = check_ok!(child.reap());
    let killed = SigInfo {
        signo: libc::SIGCHLD,
        code: libc::CLD_KILLED,
        pid: child.pid,
        status: libc::SIGKILL,
    };
    check_eq!(info, killed);
    Ok(Outcome::Pass)
}

/// What a child exiting with EXIT_CODE looks like in a `signo` siginfo.
fn exited(signo: Signal, pid: Pid) -> SigInfo {
    SigInfo {
        signo: signo as i32,
        code: libc::CLD_EXITED,
        pid,
        status: EXIT_CODE.into(),
    }
}

/// Args for clone3_plain(): no flags, SIGCHLD on exit.
fn plain_args() -> CloneArgsWithTail {
    let mut args = CloneArgsWithTail::default();
    args.args.exit_signal = Signal::SIGCHLD as u64;
    args
}

fn check_exits_cleanly(pid: Pid) -> Result<(), Failure> {
    check_eq!(check_ok!(waitpid(pid, None)), WaitStatus::Exited(pid, 0));
    Ok(())
}

/// The events among POLLIN that `fd` has within `timeout` (empty: none).
fn poll_in(fd: BorrowedFd<'_>, timeout: PollTimeout) -> nix::Result<PollFlags> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    poll(&mut fds, timeout)?;
    Ok(fds[0].revents().unwrap_or(PollFlags::empty()))
}

/// The `Pid:` line of a pidfd's /proc fdinfo, if /proc is mounted.
fn fdinfo_pid(pidfd: BorrowedFd<'_>) -> Option<i32> {
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let text = fs::read_to_string(path).ok()?;
    let value = text.lines().find_map(|line| line.strip_prefix("Pid:"))?;
    value.trim().parse().ok()
}
