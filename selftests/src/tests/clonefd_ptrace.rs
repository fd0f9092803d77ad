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
//! - `clonefd_ptrace_tracer_thread_exits`: a second thread of the test
//!   process seizes the child, lets it exit, sees it a zombie ('Z' in
//!   /proc) and ends without waiting for it. The tracer was in the child's
//!   parent process, so __ptrace_detach() leaves the zombie to the parent's
//!   wait(), which never reports a CLONE_FD child: the fd must report the
//!   exit within 5 s anyway. Fails with `not readable after 5s` (the zombie
//!   stays forever).
//! - `clonefd_ptrace_creator_thread_exits`: the same, the tracer being the
//!   thread that created the child, which ends (SYS_exit) while another
//!   thread of its process goes on and reads the fd; that process exits
//!   with 42 if the fd reported the exit within 5 s (1: it did not, 2: the
//!   read failed, 43: the set-up failed).
//! - `clonefd_ptrace_tracer_detaches`: a third process T seizes the child,
//!   stops it (PTRACE_INTERRUPT) and detaches (PTRACE_DETACH); /proc then
//!   says TracerPid 0. Let go, the child exits: the fd reports it, the
//!   child is released, T cannot wait for it (ECHILD), no SIGCHLD comes.
//! - `clonefd_ptrace_tracer_process_dies_child_zombie`: T seizes the
//!   child, lets it exit, sees it a zombie and exits without waiting for
//!   it: once the test has reaped T, the fd reports the exit (within 5 s)
//!   and the child is released. Fails with `not readable after 5s` (the
//!   zombie stays).
//! - `clonefd_ptrace_tracer_process_dies_child_running`: T seizes the
//!   child and exits at once; the child, detached by T's exit (TracerPid
//!   0), runs on (the fd not readable); let go, it exits and is reported.
//!
//! In the last three, the exit is reported exactly once: after the read
//! that got it, read() gives 0 and poll() still says POLLIN | POLLHUP.

use std::os::fd::{AsFd, BorrowedFd};
use std::thread;
use std::time::Duration;

use nix::poll::PollFlags;
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::clone4_common::{check_exited, child_code, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{
    after_gate, check_exit_reported, check_not_readable, check_not_waitable, check_released,
    eventually, fork_process, poll_in, proc_stat, spawn_gated, tracer_pid, Gate, Mailbox,
    SigchldCounter,
};
use super::common::PATIENCE;
use crate::clonefd;
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys;

/// PTRACE_EVENT_STOP: a seized tracee's stop that is not a signal's.
const PTRACE_EVENT_STOP: i32 = 128;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_ptrace_attach_by_parent", || by_parent(true)),
        Test::new("clonefd_ptrace_seize_by_parent", || by_parent(false)),
        Test::new(
            "clonefd_ptrace_seize_by_other_process",
            seize_by_other_process,
        ),
        Test::new("clonefd_ptrace_tracer_thread_exits", tracer_thread_exits),
        Test::new("clonefd_ptrace_creator_thread_exits", creator_thread_exits),
        Test::new("clonefd_ptrace_tracer_detaches", tracer_detaches),
        Test::new("clonefd_ptrace_tracer_process_dies_child_zombie", || {
            tracer_dies(TracerDies::ChildZombie)
        }),
        Test::new("clonefd_ptrace_tracer_process_dies_child_running", || {
            tracer_dies(TracerDies::ChildRunning)
        }),
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
    check_released(pid)?;
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

/// In a tracer: seizes `pid`, lets it through `gate` and waits until it is
/// a zombie (its exit waits for this tracer). Whether all of it worked.
fn seize_until_zombie(pid: Pid, gate: &Gate) -> bool {
    ptrace::seize(pid, ptrace::Options::empty()).is_ok()
        && gate.open().is_ok()
        && eventually(|| matches!(proc_stat(pid), Ok(stat) if stat.state == 'Z'))
}

fn tracer_thread_exits() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let traced = thread::scope(|scope| scope.spawn(|| seize_until_zombie(child.pid, &gate)).join());
    check!(
        matches!(traced, Ok(true)),
        "the tracer thread did not see its tracee a zombie: {:?}",
        proc_stat(child.pid)
    );
    check_done(child.fd.as_fd(), child.pid)?;
    Ok(Outcome::Pass)
}

/// The exit code of the process in `creator_thread_exits`, from what its
/// second thread saw on the fd.
fn reported_code(fd: BorrowedFd<'_>) -> i32 {
    match poll_in(fd, PATIENCE) {
        Ok(revents) if !revents.is_empty() => match clonefd::read_info(fd) {
            Ok((_, info)) if info.code == libc::CLD_EXITED as u32 => info.status as i32,
            _ => 2,
        },
        _ => 1,
    }
}

/// The process of `creator_thread_exits`: creates and seizes the child,
/// starts a thread that reads the fd and ends the process with what it
/// saw, then ends its own (main) thread.
fn create_trace_and_exit() -> i32 {
    let Ok(gate) = Gate::new() else {
        return CHILD_WRONG;
    };
    let Ok(child) = spawn_gated(0, &gate, CHILD_OK) else {
        return CHILD_WRONG;
    };
    if !seize_until_zombie(child.pid, &gate) {
        return CHILD_WRONG;
    }
    let reader = move || sys::exit_now(reported_code(child.fd.as_fd()));
    if thread::Builder::new().spawn(reader).is_err() {
        return CHILD_WRONG;
    }
    sys::exit_thread(0)
}

fn creator_thread_exits() -> TestResult {
    require!(clonefd_available());
    // SAFETY: the test process is single-threaded; the new process is
    // single-threaded until it has created its child.
    let process = check_ok!(unsafe { fork_process(create_trace_and_exit) });
    check_exited(process, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// Once the exit has been read: it was reported exactly once. The next
/// read() gives 0 (end of file), and poll() still says POLLIN | POLLHUP.
fn check_reported_once(fd: BorrowedFd<'_>) -> Result<(), Failure> {
    check_eq!(check_ok!(clonefd::read_info(fd)).0, 0);
    let revents = check_ok!(poll_in(fd, Duration::ZERO));
    check!(
        revents.contains(PollFlags::POLLIN | PollFlags::POLLHUP),
        "poll after the report: {revents:?}"
    );
    Ok(())
}

/// The tracer T of `tracer_detaches`: seizes `pid`, stops it with
/// PTRACE_INTERRUPT, waits for that stop and detaches; posts 1, or what
/// failed (-errno, or -1000 for another wait status). Then, after
/// `until`, exits with 42 if it can no longer wait for `pid` (ECHILD).
fn trace_then_detach(pid: Pid, mailbox: &Mailbox, until: &Gate) -> i32 {
    let errno = |err: nix::errno::Errno| -(err as i64);
    let attach_detach = || -> Result<(), i64> {
        ptrace::seize(pid, ptrace::Options::empty()).map_err(errno)?;
        ptrace::interrupt(pid).map_err(errno)?;
        match wait_traced(pid) {
            Ok(WaitStatus::PtraceEvent(_, _, PTRACE_EVENT_STOP)) => {}
            _ => return Err(-1000),
        }
        ptrace::detach(pid, None).map_err(errno)
    };
    mailbox.post(attach_detach().map_or_else(|word| word, |()| 1));
    if !until.pass() {
        return CHILD_WRONG;
    }
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    child_code(waitpid(pid, Some(flags)) == Err(nix::errno::Errno::ECHILD))
}

fn tracer_detaches() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    // SAFETY: the test process is single-threaded; the tracer makes
    // ptrace and wait calls, writes to a pipe and waits on another.
    let tracer =
        check_ok!(unsafe { fork_process(|| trace_then_detach(child.pid, &mailbox, &until)) });
    check_eq!(check_ok!(mailbox.fetch()), 1);
    check_eq!(check_ok!(tracer_pid(child.pid)), 0);
    check_ok!(gate.open());
    check_done(child.fd.as_fd(), child.pid)?;
    check_reported_once(child.fd.as_fd())?;
    counter.check_none_from(child.pid)?;
    check_ok!(until.open());
    check_exited(tracer, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// When the tracer process T of `tracer_dies_*` exits.
#[derive(Clone, Copy)]
enum TracerDies {
    /// Once its tracee is a zombie (T let it exit).
    ChildZombie,
    /// At once, its tracee running.
    ChildRunning,
}

fn tracer_dies(when: TracerDies) -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let trace = || match when {
        TracerDies::ChildZombie => seize_until_zombie(child.pid, &gate),
        TracerDies::ChildRunning => ptrace::seize(child.pid, ptrace::Options::empty()).is_ok(),
    };
    // SAFETY: the test process is single-threaded; the tracer seizes the
    // child, maybe writes to a pipe and reads /proc, and exits.
    let tracer = check_ok!(unsafe { fork_process(|| child_code(trace())) });
    // T has exited (and is reaped), tracing its tracee to the end.
    check_exited(tracer, CHILD_OK)?;
    if let TracerDies::ChildRunning = when {
        check_eq!(check_ok!(tracer_pid(child.pid)), 0);
        check_not_readable(child.fd.as_fd())?;
        check_ok!(gate.open());
    }
    check_done(child.fd.as_fd(), child.pid)?;
    check_reported_once(child.fd.as_fd())?;
    counter.check_none_from(child.pid)?;
    Ok(Outcome::Pass)
}
