//! CLONE_FD: a ptraced child still reports to its tracer; once the tracer
//! has waited for its exit, it is reaped and the fd reports the exit.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`). After the
//! tracer's wait, the fd must report CLD_EXITED 42, waitpid(pid) give
//! ECHILD and the child be gone from /proc.
//!
//! - `clonefd_ptrace_attach_by_parent`: the test PTRACE_ATTACHes: its
//!   waitpid(__WALL) reports the attach stop (SIGSTOP), then, after
//!   PTRACE_CONT and the gate, the exit with 42. Fails with the wait status
//!   seen (e.g. ECHILD: the tracer was not told).
//! - `clonefd_ptrace_seize_by_parent`: the same with PTRACE_SEIZE (no
//!   stop): waitpid(__WALL) reports the exit with 42.
//! - `clonefd_ptrace_seize_by_other_process`: a third process seizes the
//!   child and waitpid()s for it: it sees the exit with 42 (it posts what it
//!   saw: -1 for anything else). The test, the child's parent, gets no
//!   SIGCHLD from the child.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::clone4_common::{check_exited, CHILD_OK};
use super::clonefd_common::{
    after_gate, check_exit_reported, check_not_waitable, check_reaped, fork_process, spawn_gated,
    Gate, Mailbox, SigchldCounter,
};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_ptrace_attach_by_parent", || by_parent(true)),
        Test::new("clonefd_ptrace_seize_by_parent", || by_parent(false)),
        Test::new(
            "clonefd_ptrace_seize_by_other_process",
            seize_by_other_process,
        ),
    ]
}

/// waitpid(pid, __WALL).
fn wait_traced(pid: Pid) -> nix::Result<WaitStatus> {
    waitpid(pid, Some(WaitPidFlag::__WALL))
}

/// After the tracer's wait: the fd reports the exit, the child is gone.
fn check_done(fd: BorrowedFd<'_>, pid: Pid) -> Result<(), Failure> {
    check_exit_reported(fd, CHILD_OK)?;
    check_not_waitable(pid)?;
    check_reaped(pid)?;
    Ok(())
}

fn by_parent(attach: bool) -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    if attach {
        check_ok!(ptrace::attach(child.pid));
        check_eq!(
            check_ok!(wait_traced(child.pid)),
            WaitStatus::Stopped(child.pid, Signal::SIGSTOP)
        );
        check_ok!(ptrace::cont(child.pid, None));
    } else {
        check_ok!(ptrace::seize(child.pid, ptrace::Options::empty()));
    }
    check_ok!(gate.open());
    check_eq!(
        check_ok!(wait_traced(child.pid)),
        WaitStatus::Exited(child.pid, CHILD_OK)
    );
    check_done(child.fd.as_fd(), child.pid)?;
    Ok(Outcome::Pass)
}

/// The third process: seizes `pid`, posts 1 (or -errno), waits for it and
/// posts its exit status (-1 if it saw anything else), then waits at
/// `until`.
fn trace(pid: Pid, mailbox: &Mailbox, until: &Gate) -> i32 {
    if let Err(err) = ptrace::seize(pid, ptrace::Options::empty()) {
        mailbox.post(-(err as i64));
        return 1;
    }
    mailbox.post(1);
    let status = match wait_traced(pid) {
        Ok(WaitStatus::Exited(_, code)) => code.into(),
        _ => -1,
    };
    mailbox.post(status);
    after_gate(until, CHILD_OK)
}

fn seize_by_other_process() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    // SAFETY: the test process is single-threaded; the tracer makes
    // ptrace and wait calls, writes to a pipe and waits on another.
    let tracer = check_ok!(unsafe { fork_process(|| trace(child.pid, &mailbox, &until)) });
    check_eq!(check_ok!(mailbox.fetch()), 1);
    check_ok!(gate.open());
    check_eq!(check_ok!(mailbox.fetch()), i64::from(CHILD_OK));
    check_done(child.fd.as_fd(), child.pid)?;
    counter.check_none_from(child.pid)?;
    check_ok!(until.open());
    check_exited(tracer, CHILD_OK)?;
    Ok(Outcome::Pass)
}
