//! CLONE_FD: the child sends no signal when it exits, is never a zombie,
//! and wait never reports it.
//!
//! Every test SKIPs unless `clonefd_available()`. Each child waits at a
//! gate (a pipe) until the test lets it exit with 42 (`CHILD_OK`); the fd
//! then reports CLD_EXITED 42 (or the test fails with what it saw).
//!
//! - `clonefd_reap_no_sigchld`: a counting SIGCHLD handler counts 0 after
//!   the child's exit (and 200 ms more). Fails with `left: 1`.
//! - `clonefd_reap_not_zombie_fd_open`: after the exit, with the fd still
//!   open, the child is gone from /proc (and kill(pid, 0) gives ESRCH) as
//!   soon as the fd reported the exit: reaped at once, no zombie.
//!   Fails with its last /proc state (e.g. `state: 'Z'`).
//!   (With the fd closed first: `clonefd_close_child_unaffected`.)
//! - `clonefd_reap_wait_any_echild`: while the child (the only one) runs
//!   and after its exit: waitpid(-1, WNOHANG) with and without __WALL, and
//!   waitid(P_ALL, WEXITED | WNOHANG), give ECHILD. Fails with the status
//!   reported (e.g. `succeeded with StillAlive`).
//! - `clonefd_reap_wait_pid_echild`: the same for waitpid(pid),
//!   waitid(P_PID, pid) and waitid(P_PIDFD) on a pidfd_open() pidfd.
//! - `clonefd_reap_exec_no_sigchld`: a child that execve()s this binary
//!   with `--exit-with 7`: the fd reports status 7 (43 if the exec
//!   failed), no SIGCHLD comes, wait gives ECHILD, the child is reaped.
//! - `clonefd_reap_parent_exec_no_sigchld`: the parent execs instead. A
//!   process M (forked by the test) blocks SIGCHLD, creates the child and
//!   execve()s this binary with `--await-clonefd FD 42`; once M runs that
//!   program, the test lets the child exit with 42. The program reads the
//!   fd, requires exactly the whole info of that exit (80 bytes,
//!   CLD_EXITED, 42), then waits 200 ms more and exits 1 if a SIGCHLD is
//!   pending (one sent at the exit, or late, within that window): the
//!   kernel turns a child's exit signal into SIGCHLD for a parent that
//!   has exec'd since the fork. Fails with `left: Exited(.., 1)` then (2:
//!   the read failed, 3: another length, code or status, 43: the exec
//!   failed), or if M is never seen running the program.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag};
use nix::unistd::Pid;

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::execv;

use super::clone4_common::{check_exited, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::exited_child;
use super::clonefd_common::{
    check_child_exited, check_no_waitable_child, check_not_waitable, check_released, eventually,
    exec_exit_with, fork_process, spawn_gated, Gate, SigchldCounter,
};
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys;

/// What the exec'ed program exits with.
const EXEC_STATUS: i32 = 7;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_reap_no_sigchld", no_sigchld),
        Test::new("clonefd_reap_not_zombie_fd_open", not_zombie_fd_open),
        Test::new("clonefd_reap_wait_any_echild", wait_any_echild),
        Test::new("clonefd_reap_wait_pid_echild", wait_pid_echild),
        Test::new("clonefd_reap_exec_no_sigchld", exec_no_sigchld),
        Test::new(
            "clonefd_reap_parent_exec_no_sigchld",
            parent_exec_no_sigchld,
        ),
    ]
}

fn no_sigchld() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    exited_child(0, CHILD_OK)?;
    counter.check_none_since(0)?;
    Ok(Outcome::Pass)
}

fn not_zombie_fd_open() -> TestResult {
    require!(clonefd_available());
    let child = exited_child(0, CHILD_OK)?;
    check_released(child.pid)?;
    drop(child.fd);
    Ok(Outcome::Pass)
}

/// Every "any child" wait: ECHILD.
fn check_wait_any_echild() -> Result<(), Failure> {
    check_no_waitable_child()?;
    check_err!(waitpid(None, Some(WaitPidFlag::WNOHANG)), Errno::ECHILD);
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
    check_err!(waitid(Id::All, flags), Errno::ECHILD);
    Ok(())
}

fn wait_any_echild() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_wait_any_echild()?;
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    check_wait_any_echild()?;
    Ok(Outcome::Pass)
}

/// Every wait for `pid`: ECHILD.
fn check_wait_pid_echild(pid: Pid) -> Result<(), Failure> {
    check_not_waitable(pid)?;
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    check_err!(waitid(Id::Pid(pid), flags), Errno::ECHILD);
    Ok(())
}

fn wait_pid_echild() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let pidfd = check_ok!(sys::pidfd_open(child.pid));
    check_wait_pid_echild(child.pid)?;
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
    check_err!(sys::waitid_pidfd(pidfd.as_fd(), flags), Errno::ECHILD);
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    check_wait_pid_echild(child.pid)?;
    check_err!(sys::waitid_pidfd(pidfd.as_fd(), flags), Errno::ECHILD);
    Ok(Outcome::Pass)
}

fn exec_no_sigchld() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    // SAFETY: the test process is single-threaded; the child execve()s.
    let child =
        check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, || exec_exit_with(EXEC_STATUS)) });
    check_child_exited(&child, EXEC_STATUS)?;
    counter.check_none_since(0)?;
    check_no_waitable_child()?;
    check_released(child.pid)?;
    Ok(Outcome::Pass)
}

/// In M: with SIGCHLD blocked, create the gated child and execve() this
/// binary with `--await-clonefd FD 42`. Returns only if that failed.
fn create_then_exec(gate: &Gate) -> i32 {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return CHILD_WRONG;
    }
    let Ok(child) = spawn_gated(0, gate, CHILD_OK) else {
        return CHILD_WRONG;
    };
    let fd = CString::new(child.fd.as_raw_fd().to_string()).expect("no NUL in a number");
    let status = CString::new(CHILD_OK.to_string()).expect("no NUL in a number");
    let option = CString::new(crate::AWAIT_CLONEFD).expect("no NUL in the option");
    let argv = [
        c"clone4-selftests",
        option.as_c_str(),
        fd.as_c_str(),
        status.as_c_str(),
    ];
    let _ = execv(c"/proc/self/exe", &argv);
    CHILD_WRONG
}

fn parent_exec_no_sigchld() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; M forks a child and
    // execve()s.
    let m = check_ok!(unsafe { fork_process(|| create_then_exec(&gate)) });
    let awaiting = || {
        fs::read(format!("/proc/{m}/cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(crate::AWAIT_CLONEFD))
    };
    check!(eventually(awaiting), "M never ran the exec'ed program");
    check_ok!(gate.open());
    check_exited(m, 0)?;
    Ok(Outcome::Pass)
}
