//! CLONE_FD: job control. A CLONE_FD child's stop and continue send its
//! parent no SIGCHLD, before and after it execs, and wait() never reports
//! them (nor anything else of the child).
//!
//! Every test SKIPs unless `clonefd_available()`. A counting SIGCHLD
//! handler records who sent each SIGCHLD.
//!
//! - `clonefd_jobctl_stop_continue_no_sigchld`: the test stops a gated
//!   child with SIGSTOP (/proc shows 'T'), then continues it with SIGCONT
//!   (/proc shows 'S' again); waitpid(pid, WUNTRACED | WCONTINUED |
//!   WNOHANG) gives ECHILD all along and no SIGCHLD comes from the child
//!   (200 ms after each step); let go, the child exits with 42. Fails with
//!   `left: 1` (the SIGCHLD count) or the status waitpid() reported.
//! - `clonefd_jobctl_after_exec_no_sigchld`: the child first execve()s
//!   `/bin/sleep 30` (its /proc/PID/comm becomes `sleep`), then is stopped,
//!   continued and killed (SIGKILL): no SIGCHLD, wait gives ECHILD, and the
//!   fd reports CLD_KILLED SIGKILL.

use std::ffi::CString;
use std::fs;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{execv, Pid};

use super::clone4_common::{CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{
    check_exit_reported, check_reported, eventually, proc_stat, spawn_gated, Gate, SigchldCounter,
};
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};

pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            "clonefd_jobctl_stop_continue_no_sigchld",
            stop_continue_no_sigchld,
        ),
        Test::new(
            "clonefd_jobctl_after_exec_no_sigchld",
            after_exec_no_sigchld,
        ),
    ]
}

/// waitpid(pid, WUNTRACED | WCONTINUED | WNOHANG | __WALL) gives ECHILD.
fn check_no_job_report(pid: Pid) -> Result<(), Failure> {
    let flags = WaitPidFlag::WUNTRACED
        | WaitPidFlag::WCONTINUED
        | WaitPidFlag::WNOHANG
        | WaitPidFlag::__WALL;
    check_err!(waitpid(pid, Some(flags)), Errno::ECHILD);
    Ok(())
}

/// Sends `signal` to `pid` and waits until /proc says it is stopped ('T')
/// or not, as `stopped` says; then checks that it sent no SIGCHLD and that
/// wait() reports nothing.
fn signal_and_check(
    counter: &SigchldCounter,
    pid: Pid,
    signal: Signal,
    stopped: bool,
) -> Result<(), Failure> {
    check_ok!(kill(pid, signal));
    if !eventually(|| matches!(proc_stat(pid), Ok(s) if (s.state == 'T') == stopped)) {
        fail!("after {signal}: /proc/{pid}/stat says {:?}", proc_stat(pid));
    }
    check_no_job_report(pid)?;
    counter.check_none_from(pid)?;
    Ok(())
}

/// Stops and continues `pid`, which must send no SIGCHLD for either.
fn stop_and_continue(counter: &SigchldCounter, pid: Pid) -> Result<(), Failure> {
    signal_and_check(counter, pid, Signal::SIGSTOP, true)?;
    signal_and_check(counter, pid, Signal::SIGCONT, false)?;
    Ok(())
}

fn stop_continue_no_sigchld() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_no_job_report(child.pid)?;
    stop_and_continue(&counter, child.pid)?;
    check_ok!(gate.open());
    check_exit_reported(child.fd.as_fd(), CHILD_OK)?;
    counter.check_none_from(child.pid)?;
    Ok(Outcome::Pass)
}

/// In the child: execve("/bin/sleep", ["sleep", "30"]). Returns only if
/// that failed: CHILD_WRONG.
fn exec_sleep() -> i32 {
    let sleep = CString::new("/bin/sleep").expect("no NUL");
    let _ = execv(&sleep, &[c"sleep", c"30"]);
    CHILD_WRONG
}

fn after_exec_no_sigchld() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    // SAFETY: the test process is single-threaded; the child only execs.
    let child = check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, exec_sleep) });
    let comm = format!("/proc/{}/comm", child.pid);
    if !eventually(|| matches!(fs::read_to_string(&comm), Ok(c) if c.trim() == "sleep")) {
        fail!(
            "the child did not exec sleep: {:?}",
            fs::read_to_string(&comm)
        );
    }
    stop_and_continue(&counter, child.pid)?;
    check_ok!(kill(child.pid, Signal::SIGKILL));
    check_reported(child.fd.as_fd(), libc::CLD_KILLED, libc::SIGKILL)?;
    check_no_job_report(child.pid)?;
    counter.check_none_from(child.pid)?;
    Ok(Outcome::Pass)
}
