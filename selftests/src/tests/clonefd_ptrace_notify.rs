//! CLONE_FD and ptrace, what the tracer and the parent's waiters are told:
//! a tracer is notified as for any tracee, the parent as a parent is told
//! nothing, and a wait() that could see the child only through a tracer
//! thread is woken when that tracer lets go.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them go.
//!
//! - `clonefd_ptrace_wait_woken_when_tracer_thread_ends`: a thread of the
//!   test seizes the child; another blocks in waitpid(child, __WALL) (the
//!   child is waitable through the tracer thread's ptrace list); the
//!   tracer thread ends: the child is now waitable by nobody, so the
//!   waiter must return ECHILD within 5 s. Fails with `still blocked`
//!   (nothing woke the waiter).
//! - `clonefd_ptrace_parent_tracer_sigchld_at_exit`: the test, the child's
//!   parent, seizes the child and lets it exit: as the tracer, it gets one
//!   SIGCHLD for the exit, as a tracer does for any tracee (also before
//!   the child execs, when a CLONE_FD child has no exit signal), and
//!   waitpid(__WALL) reports the exit. Fails with the SIGCHLD count.
//! - `clonefd_ptrace_fork_event`: a tracee with only PTRACE_O_TRACEFORK
//!   makes a CLONE_FD child: the tracer sees PTRACE_EVENT_FORK (the child
//!   is a process; a clone event would tell a debugger it is a thread,
//!   and one that follows forks only would not see it), and the new child
//!   starts traced. Fails with the wait status seen instead.
//! - `clonefd_jobctl_traced_zombie_leader_no_sigchld`: the child has two
//!   threads; the test seizes its leader, which then exits (a zombie still
//!   traced); the test stops the child with SIGSTOP, which its other thread
//!   completes: the parent, which traces only the dead leader, gets no
//!   SIGCHLD for the group stop. Fails with `a SIGCHLD came`.

use std::os::fd::AsFd;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::clone4_common::{CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{
    after_gate, check_child_reported, check_exit_reported, eventually, fork_process, spawn_gated,
    task_count, task_stat, Gate, SigchldCounter, GRACE,
};
use super::common::PATIENCE;
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys;

/// Time for a thread to block in a call before the test goes on.
const SETTLE: Duration = Duration::from_millis(300);

pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            "clonefd_ptrace_wait_woken_when_tracer_thread_ends",
            wait_woken_when_tracer_thread_ends,
        ),
        Test::new(
            "clonefd_ptrace_parent_tracer_sigchld_at_exit",
            parent_tracer_sigchld_at_exit,
        ),
        Test::new("clonefd_ptrace_fork_event", fork_event),
        Test::new(
            "clonefd_jobctl_traced_zombie_leader_no_sigchld",
            traced_zombie_leader_no_sigchld,
        ),
    ]
}

fn wait_all(pid: Pid) -> nix::Result<WaitStatus> {
    waitpid(pid, Some(WaitPidFlag::__WALL))
}

fn wait_woken_when_tracer_thread_ends() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let pid = child.pid;
    let (seized_tx, seized_rx) = mpsc::channel();
    let (end_tx, end_rx) = mpsc::channel::<()>();
    let tracer = thread::spawn(move || {
        let _ = seized_tx.send(ptrace::seize(pid, ptrace::Options::empty()));
        // Until the test hangs up.
        let _ = end_rx.recv();
    });
    check_ok!(check_ok!(seized_rx.recv()));
    let (waited_tx, waited_rx) = mpsc::channel();
    // Not joined: with the bug it never returns (the process's end takes it).
    thread::spawn(move || {
        let _ = waited_tx.send(wait_all(pid));
    });
    thread::sleep(SETTLE);
    if let Ok(early) = waited_rx.try_recv() {
        fail!("waitpid returned while a thread traced the child: {early:?}");
    }
    drop(end_tx);
    check!(tracer.join().is_ok(), "the tracer thread panicked");
    match waited_rx.recv_timeout(PATIENCE) {
        Ok(Err(Errno::ECHILD)) => {}
        Ok(other) => fail!("waitpid after the tracer thread ended: {other:?}, not ECHILD"),
        Err(_) => fail!(
            "waitpid(child, __WALL) still blocked {PATIENCE:?} after the tracer thread \
             ended: nothing woke it, and nobody can wait for the child any more"
        ),
    }
    check_ok!(gate.open());
    check_exit_reported(child.fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn parent_tracer_sigchld_at_exit() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_ok!(ptrace::seize(child.pid, ptrace::Options::empty()));
    check_ok!(gate.open());
    check_eq!(
        check_ok!(wait_all(child.pid)),
        WaitStatus::Exited(child.pid, CHILD_OK)
    );
    eventually(|| counter.from(child.pid) > 0);
    thread::sleep(GRACE);
    check!(
        counter.from(child.pid) == 1,
        "the tracer got {} SIGCHLD for its tracee's exit, not 1 (as for any tracee)",
        counter.from(child.pid)
    );
    check_exit_reported(child.fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// The tracee of `fork_event`: after `gate`, makes a CLONE_FD child that
/// exits with CHILD_OK and exits with what its fd reported.
fn make_clonefd_child(gate: &Gate) -> i32 {
    if !gate.pass() {
        return CHILD_WRONG;
    }
    // SAFETY: this process is single-threaded; the child only exits.
    let Ok(child) = (unsafe { clonefd::fork_like_fd(CLONE_FD, || CHILD_OK) }) else {
        return CHILD_WRONG;
    };
    match clonefd::read_info(child.fd.as_fd()) {
        Ok((_, info)) if info.code == libc::CLD_EXITED as u32 => info.status as i32,
        _ => CHILD_WRONG,
    }
}

fn fork_event() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the tracee waits on a
    // pipe, makes a child and reads its fd.
    let tracee = check_ok!(unsafe { fork_process(|| make_clonefd_child(&gate)) });
    check_ok!(ptrace::seize(tracee, ptrace::Options::PTRACE_O_TRACEFORK));
    check_ok!(gate.open());
    let status = check_ok!(wait_all(tracee));
    let WaitStatus::PtraceEvent(_, Signal::SIGTRAP, libc::PTRACE_EVENT_FORK) = status else {
        let _ = kill(tracee, Signal::SIGKILL);
        fail!("the tracer saw {status:?}, not a PTRACE_EVENT_FORK stop");
    };
    let new = Pid::from_raw(check_ok!(ptrace::getevent(tracee)) as i32);
    // It starts traced, in a stop of its own.
    let first = check_ok!(wait_all(new));
    check!(
        matches!(first, WaitStatus::PtraceEvent(..) | WaitStatus::Stopped(..)),
        "the new child's first stop: {first:?}"
    );
    check_ok!(ptrace::cont(new, None));
    check_ok!(ptrace::cont(tracee, None));
    check_eq!(check_ok!(wait_all(new)), WaitStatus::Exited(new, CHILD_OK));
    check_eq!(
        check_ok!(wait_all(tracee)),
        WaitStatus::Exited(tracee, CHILD_OK)
    );
    Ok(Outcome::Pass)
}

/// The other thread of the child of `traced_zombie_leader_no_sigchld`.
fn second_thread(gate: Gate) {
    let _ = after_gate(&gate, 0);
    sys::exit_thread(0)
}

fn traced_zombie_leader_no_sigchld() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let thread_gate = check_ok!(Gate::new());
    let leader_gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the child starts a
    // thread that waits on a pipe, and ends its leader after another pipe.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            let Ok(gate) = thread_gate.try_clone() else {
                return CHILD_WRONG;
            };
            if thread::Builder::new()
                .spawn(move || second_thread(gate))
                .is_err()
            {
                return CHILD_WRONG;
            }
            let _ = leader_gate.pass();
            sys::exit_thread(0)
        })
    });
    let pid = child.pid;
    if !eventually(|| matches!(task_count(pid), Ok(2))) {
        fail!("the child has {:?} threads, not 2", task_count(pid));
    }
    check_ok!(ptrace::seize(pid, ptrace::Options::empty()));
    check_ok!(leader_gate.open());
    if !eventually(|| matches!(task_stat(pid, pid), Ok(stat) if stat.state == 'Z')) {
        fail!("the leader did not exit: {:?}", task_stat(pid, pid));
    }
    // The tracer is told of the leader's exit, as of any tracee's.
    eventually(|| counter.from(pid) > 0);
    thread::sleep(GRACE);
    let before = counter.from(pid);
    check_ok!(kill(pid, Signal::SIGSTOP));
    let stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&tid| tid != pid.as_raw())
            .any(|tid| matches!(task_stat(pid, Pid::from_raw(tid)), Ok(s) if s.state == 'T'))
    };
    if !eventually(stopped) {
        fail!("the child's second thread did not stop");
    }
    thread::sleep(GRACE);
    let after = counter.from(pid);
    check_ok!(kill(pid, Signal::SIGKILL));
    while let Ok(status) = wait_all(pid) {
        if matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
            break;
        }
    }
    check!(
        after == before,
        "a SIGCHLD came for the group stop of a CLONE_FD child ({} before the stop, {after} \
         after), whose parent traces only its dead leader",
        before
    );
    check_child_reported(&child, libc::CLD_KILLED, libc::SIGKILL)?;
    Ok(Outcome::Pass)
}
