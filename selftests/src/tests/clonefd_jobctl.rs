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
//! - `clonefd_jobctl_wait_any_skips_stop_continue`: the test also has an
//!   ordinary child (the sibling), so that "any child" waits have a child
//!   to look at and do not just fail with ECHILD: while the CLONE_FD child
//!   runs, after it was stopped (/proc 'T') and after it was continued,
//!   waitid(P_ALL, WSTOPPED | WCONTINUED | WEXITED | WNOHANG | __WALL),
//!   waitpid(-1, WUNTRACED | WCONTINUED | WNOHANG | __WALL) and waitpid(0,
//!   same) (the process group, which the child is in) report nothing
//!   (StillAlive). The control: the sibling's stop and continue are
//!   reported by the same waitid(). Fails with the status reported (e.g.
//!   `Stopped(Pid(..), SIGSTOP)` of the CLONE_FD child).
//! - `clonefd_jobctl_tracer_parent_notified`: a tracer is notified as for
//!   any tracee, also when it is the child's parent, whose one
//!   notification of a continue is then the tracer's. With SIGCHLD
//!   blocked, the test seizes its child, stops it (the signal-delivery
//!   stop, then the group stop as PTRACE_EVENT_STOP), sends SIGCONT and
//!   PTRACE_CONT: a SIGCHLD with CLD_CONTINUED from the child must come
//!   within 5 s. Fails with what came instead (`EAGAIN`: nothing).

use std::ffi::CString;
use std::fs;

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{execv, Pid};

use super::clone4_common::{check_exited, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{
    after_gate, check_child_exited, check_child_reported, eventually, fork_process, proc_stat,
    spawn_gated, Gate, SigchldCounter,
};
use super::common::{signal_set, PATIENCE};
use crate::clonefd::{self, CLONE_FD};
use crate::sys;

/// PTRACE_EVENT_STOP: a seized tracee's group stop.
const PTRACE_EVENT_STOP: i32 = 128;
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
        Test::new(
            "clonefd_jobctl_wait_any_skips_stop_continue",
            wait_any_skips_stop_continue,
        ),
        Test::new(
            "clonefd_jobctl_tracer_parent_notified",
            tracer_parent_notified,
        ),
    ]
}

/// The "any child" waits for job control, WNOHANG: nothing to report.
fn check_any_wait_quiet(when: &str) -> Result<(), Failure> {
    let flags = WaitPidFlag::WSTOPPED
        | WaitPidFlag::WCONTINUED
        | WaitPidFlag::WEXITED
        | WaitPidFlag::WNOHANG
        | WaitPidFlag::__WALL;
    let all = check_ok!(waitid(Id::All, flags));
    check!(
        all == WaitStatus::StillAlive,
        "{when}: waitid(P_ALL) gave {all:?}"
    );
    let flags = WaitPidFlag::WUNTRACED
        | WaitPidFlag::WCONTINUED
        | WaitPidFlag::WNOHANG
        | WaitPidFlag::__WALL;
    for (name, pid) in [("-1", None), ("0", Some(Pid::from_raw(0)))] {
        let status = check_ok!(waitpid(pid, Some(flags)));
        check!(
            status == WaitStatus::StillAlive,
            "{when}: waitpid({name}) gave {status:?}"
        );
    }
    Ok(())
}

/// Sends `signal` to `pid` and waits until /proc says it is stopped or
/// not, as `stopped` says.
fn signal_until(pid: Pid, signal: Signal, stopped: bool) -> Result<(), Failure> {
    check_ok!(kill(pid, signal));
    if !eventually(|| matches!(proc_stat(pid), Ok(s) if (s.state == 'T') == stopped)) {
        fail!("after {signal}: /proc/{pid}/stat says {:?}", proc_stat(pid));
    }
    Ok(())
}

fn wait_any_skips_stop_continue() -> TestResult {
    require!(clonefd_available());
    let sibling_gate = check_ok!(Gate::new());
    let gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the sibling waits on a
    // pipe and exits.
    let sibling = check_ok!(unsafe { fork_process(|| after_gate(&sibling_gate, CHILD_OK)) });
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_any_wait_quiet("running")?;
    signal_until(child.pid, Signal::SIGSTOP, true)?;
    check_any_wait_quiet("stopped")?;
    signal_until(child.pid, Signal::SIGCONT, false)?;
    check_any_wait_quiet("continued")?;
    // The control: the same waits report the sibling's.
    let flags = |what| what | WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    signal_until(sibling, Signal::SIGSTOP, true)?;
    check_eq!(
        check_ok!(waitid(Id::All, flags(WaitPidFlag::WSTOPPED))),
        WaitStatus::Stopped(sibling, Signal::SIGSTOP)
    );
    signal_until(sibling, Signal::SIGCONT, false)?;
    check_eq!(
        check_ok!(waitid(Id::All, flags(WaitPidFlag::WCONTINUED))),
        WaitStatus::Continued(sibling)
    );
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    check_ok!(sibling_gate.open());
    check_exited(sibling, CHILD_OK)?;
    Ok(Outcome::Pass)
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
    signal_until(pid, signal, stopped)?;
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
    check_child_exited(&child, CHILD_OK)?;
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
    check_child_reported(&child, libc::CLD_KILLED, libc::SIGKILL)?;
    check_no_job_report(child.pid)?;
    counter.check_none_from(child.pid)?;
    Ok(Outcome::Pass)
}

/// Takes every pending SIGCHLD (SIGCHLD blocked).
fn drain_sigchld(set: &SigSet) {
    while sys::sigtimedwait(set, Duration::ZERO).is_ok() {}
}

/// Waits at most PATIENCE for a SIGCHLD with CLD_CONTINUED from `pid`.
fn check_continued_reported(set: &SigSet, pid: Pid) -> Result<(), Failure> {
    let mut seen = Vec::new();
    loop {
        match sys::sigtimedwait(set, PATIENCE) {
            Ok(info) if info.pid == pid && info.code == libc::CLD_CONTINUED => return Ok(()),
            Ok(info) => seen.push(info),
            Err(err) => fail!("no CLD_CONTINUED from {pid} ({err}); SIGCHLDs seen: {seen:?}"),
        }
    }
}

fn tracer_parent_notified() -> TestResult {
    require!(clonefd_available());
    let set = signal_set(libc::SIGCHLD);
    check_ok!(sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None));
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_ok!(ptrace::seize(child.pid, ptrace::Options::empty()));
    check_ok!(kill(child.pid, Signal::SIGSTOP));
    let wait_traced = || waitpid(child.pid, Some(WaitPidFlag::__WALL));
    check_eq!(
        check_ok!(wait_traced()),
        WaitStatus::Stopped(child.pid, Signal::SIGSTOP)
    );
    check_ok!(ptrace::cont(child.pid, Signal::SIGSTOP));
    check_eq!(
        check_ok!(wait_traced()),
        WaitStatus::PtraceEvent(child.pid, Signal::SIGSTOP, PTRACE_EVENT_STOP)
    );
    drain_sigchld(&set);
    check_ok!(kill(child.pid, Signal::SIGCONT));
    check_ok!(ptrace::cont(child.pid, None));
    check_continued_reported(&set, child.pid)?;
    check_ok!(kill(child.pid, Signal::SIGKILL));
    check_eq!(
        check_ok!(wait_traced()),
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    check_child_reported(&child, libc::CLD_KILLED, libc::SIGKILL)?;
    Ok(Outcome::Pass)
}
