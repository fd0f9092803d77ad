//! CLONE_FD and threads: a multi-threaded child is reported once its last
//! thread is gone; with CLONE_THREAD the fd is about that one thread.
//!
//! Every test SKIPs unless `clonefd_available()`. In the `mt` tests the
//! CLONE_FD child is a fork-like process that starts a second thread,
//! which waits at a gate (a pipe) and then ends as the test says.
//!
//! - `clonefd_mt_nonleader_exits_first`: the second thread ends with
//!   SYS_exit: /proc/PID/task shows one thread and the fd is still not
//!   readable; then the leader exits with 7: the fd reports CLD_EXITED 7.
//!   Fails with the revents seen when it became readable too early.
//! - `clonefd_mt_leader_exits_first`: the leader ends with SYS_exit (its
//!   /proc/PID/task/PID state becomes 'Z'): the fd is not readable; then the
//!   second thread calls exit_group(7): the fd reports CLD_EXITED 7.
//! - `clonefd_mt_nonleader_exec`: the second thread execve()s this binary
//!   with `--exit-with 7` (de_thread() makes it the leader): the fd
//!   reports CLD_EXITED 7 (43 if the exec failed), GETPID then gives ESRCH
//!   (the process is gone, not only its first thread), no SIGCHLD comes,
//!   wait gives ECHILD, the process is released.
//! - `clonefd_thread_reports_thread_exit`: clone4(CLONE_THREAD | CLONE_VM
//!   | CLONE_SIGHAND | CLONE_FD) on a stack of its own: a thread of the
//!   test process (in /proc/self/task) that waits on a pipe, then SYS_exits
//!   with 42. The fd is not readable before, then reports CLD_EXITED 42,
//!   and the thread is released at once (kill(tid, 0) gives ESRCH, no
//!   /proc/TID).
//! - `clonefd_thread_kill_on_close_einval`: CLONE_THREAD with
//!   CLONEFD_KILL_ON_CLOSE (no_new_privs set) is EINVAL (fails as the
//!   clone4_flags EINVAL tests).

use std::os::fd::AsFd;
use std::thread;

use nix::sys::prctl;
use nix::unistd::{getpid, Pid};

use super::clone4_common::{
    expect_einval, Shared, StackForm, CHILD_OK, CHILD_WRONG, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM,
};
use super::clonefd_common::{
    after_gate, check_child_exited, check_no_waitable_child, check_not_readable, check_released,
    eventually, exec_exit_with, task_count, task_stat, Gate, SigchldCounter, GATE_CLOSED,
};
use crate::clone4::{c4_child_wait_pipe, PipeGate};
use crate::clonefd::{self, CLONE_FD, KILL_ON_CLOSE};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys;

/// The status the multi-threaded children exit with.
const MT_STATUS: i32 = 7;
const THREAD_FLAGS: u64 = CLONE_THREAD | CLONE_VM | CLONE_SIGHAND | CLONE_FD;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_mt_nonleader_exits_first", nonleader_exits_first),
        Test::new("clonefd_mt_leader_exits_first", leader_exits_first),
        Test::new("clonefd_mt_nonleader_exec", nonleader_exec),
        Test::new(
            "clonefd_thread_reports_thread_exit",
            thread_reports_thread_exit,
        ),
        Test::new("clonefd_thread_kill_on_close_einval", || {
            require!(clonefd_available());
            check_ok!(prctl::set_no_new_privs());
            expect_einval(THREAD_FLAGS | KILL_ON_CLOSE, |_| {})
        }),
    ]
}

/// How the second thread of a multi-threaded child ends.
#[derive(Clone, Copy)]
enum ThreadEnd {
    /// SYS_exit(0): only this thread.
    ExitThread,
    /// exit_group(MT_STATUS).
    ExitGroup,
    /// execve() of `/proc/self/exe --exit-with MT_STATUS`.
    Exec,
}

impl ThreadEnd {
    fn run(self) -> ! {
        match self {
            ThreadEnd::ExitThread => sys::exit_thread(0),
            ThreadEnd::ExitGroup => sys::exit_now(MT_STATUS),
            ThreadEnd::Exec => sys::exit_now(exec_exit_with(MT_STATUS)),
        }
    }
}

/// In the CLONE_FD child: starts a thread that waits at `gate`, then ends
/// as `end` says. Whether it started.
fn start_thread(gate: &Gate, end: ThreadEnd) -> bool {
    let Ok(gate) = gate.try_clone() else {
        return false;
    };
    let body = move || {
        if gate.pass() {
            end.run()
        } else {
            sys::exit_thread(GATE_CLOSED)
        }
    };
    thread::Builder::new().spawn(body).is_ok()
}

/// Waits until the child has `count` threads.
fn check_threads(pid: Pid, count: usize) -> Result<(), Failure> {
    if !eventually(|| matches!(task_count(pid), Ok(n) if n == count)) {
        fail!("{pid} has {:?} threads, not {count}", task_count(pid));
    }
    Ok(())
}

fn nonleader_exits_first() -> TestResult {
    require!(clonefd_available());
    let first = check_ok!(Gate::new());
    let second = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the child starts a
    // thread and both wait on pipes and exit.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            if !start_thread(&first, ThreadEnd::ExitThread) {
                return CHILD_WRONG;
            }
            after_gate(&second, MT_STATUS)
        })
    });
    check_threads(child.pid, 2)?;
    check_ok!(first.open());
    check_threads(child.pid, 1)?;
    check_not_readable(child.fd.as_fd())?;
    check_ok!(second.open());
    check_child_exited(&child, MT_STATUS)?;
    Ok(Outcome::Pass)
}

fn leader_exits_first() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the child starts a
    // thread that waits on a pipe, and ends its leader thread.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            if !start_thread(&gate, ThreadEnd::ExitGroup) {
                return CHILD_WRONG;
            }
            sys::exit_thread(0)
        })
    });
    let leader_gone = || matches!(task_stat(child.pid, child.pid), Ok(stat) if stat.state == 'Z');
    if !eventually(leader_gone) {
        fail!(
            "the leader did not exit: {:?}",
            task_stat(child.pid, child.pid)
        );
    }
    check_not_readable(child.fd.as_fd())?;
    check_ok!(gate.open());
    check_child_exited(&child, MT_STATUS)?;
    Ok(Outcome::Pass)
}

fn nonleader_exec() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let hold = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the child starts a
    // thread that waits on a pipe and execs, while the leader waits.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            if !start_thread(&gate, ThreadEnd::Exec) {
                return CHILD_WRONG;
            }
            after_gate(&hold, CHILD_WRONG)
        })
    });
    check_threads(child.pid, 2)?;
    check_ok!(gate.open());
    check_child_exited(&child, MT_STATUS)?;
    check_err!(clonefd::getpid(child.fd.as_fd()), nix::errno::Errno::ESRCH);
    counter.check_none_since(0)?;
    check_no_waitable_child()?;
    check_released(child.pid)?;
    Ok(Outcome::Pass)
}

fn thread_reports_thread_exit() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let shared = check_ok!(Shared::leaked());
    let arg: &'static mut PipeGate = Box::leak(Box::new(PipeGate {
        fd: gate.read_fd(),
        code: CHILD_OK,
    }));
    // SAFETY: the stack and `arg` are leaked, so they outlive the thread;
    // c4_child_wait_pipe only reads `arg` and the pipe (the gate, which
    // lives until the test process ends).
    let thread = check_ok!(unsafe {
        clonefd::on_stack_fd(
            THREAD_FLAGS,
            &shared.args(StackForm::Range),
            c4_child_wait_pipe,
            std::ptr::from_mut(arg).cast(),
        )
    });
    check_ok!(task_stat(getpid(), thread.pid));
    check_not_readable(thread.fd.as_fd())?;
    check_ok!(gate.open());
    check_child_exited(&thread, CHILD_OK)?;
    Ok(Outcome::Pass)
}
