//! CLONE_FD: who exits first, the creator or the child, for a child
//! process and for a CLONE_THREAD child.
//!
//! Every test SKIPs unless `clonefd_available()`. A middle process M
//! (forked by the test) creates the CLONE_FD child, which waits at a gate
//! (a pipe) and then exits with 42 (`CHILD_OK`), and sends its fd to the
//! test over SCM_RIGHTS. The fd must then report CLD_EXITED 42 in the test.
//!
//! - `clonefd_orphan_parent_exits_first_process`: M exits; the child is
//!   reparented to the test (a child subreaper here), which must still not
//!   see it: waitpid(-1) gives ECHILD before and after its exit, no
//!   SIGCHLD comes from it, and it is reaped. Fails with the parent /proc
//!   shows if it is not reparented to the test, or as `clonefd_reap_*`.
//! - `clonefd_orphan_child_exits_first_process`: the child exits while M
//!   lives; M then checks it got no SIGCHLD and that waitpid(-1) gives
//!   ECHILD, and exits 42 if so (43 otherwise).
//! - `clonefd_orphan_parent_exits_first_thread`: the child is a thread of
//!   M (CLONE_THREAD | CLONE_VM | CLONE_SIGHAND, own stack); M's leader
//!   thread ends (SYS_exit 0, its state becomes 'Z'); the fd is not
//!   readable; then the thread SYS_exits with 42, which ends M: the fd
//!   reports the thread's 42, the thread is released at once, and the
//!   test reaps M with 42 too: the last thread's exit code becomes the
//!   process's.
//! - `clonefd_orphan_thread_killed_by_exit_group`: M's thread waits at a
//!   gate that never opens; M's leader calls exit_group(7), which kills
//!   the thread: the fd reports the thread's exit code, which is the
//!   group's (CLD_EXITED, 7), the thread is released at once, and the test
//!   reaps M with 7.
//! - `clonefd_orphan_thread_killed_by_sigkill`: the same, the test killing
//!   M with SIGKILL: the fd reports CLD_KILLED, SIGKILL; M is reaped as
//!   killed by SIGKILL.
//! - `clonefd_orphan_child_exits_first_thread`: the thread exits while M's
//!   leader lives: the fd reports 42, and at that moment the thread is
//!   released (kill(tid, 0) gives ESRCH, no /proc/TID) and M has one
//!   thread left (/proc/M/task, read once: no waiting for a late release);
//!   then M exits with 42.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::prctl;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpid, Pid};

use super::clone4_common::{
    check_exited, child_code, Shared, StackForm, CHILD_OK, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM,
};
use super::clonefd_common::{
    after_gate, check_exit_reported, check_no_waitable_child, check_not_readable,
    check_not_waitable, check_released, check_reported, eventually, fork_process, proc_stat,
    recv_fd, send_fd, spawn_gated, task_count, task_stat, unix_pair, Gate, SigchldCounter, GRACE,
};
use crate::clone4::{c4_child_wait_pipe, PipeGate};
use crate::clonefd::{self, Clonefd, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys;

const THREAD_FLAGS: u64 = CLONE_THREAD | CLONE_VM | CLONE_SIGHAND | CLONE_FD;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            "clonefd_orphan_parent_exits_first_process",
            parent_exits_first_process,
        ),
        Test::new(
            "clonefd_orphan_child_exits_first_process",
            child_exits_first_process,
        ),
        Test::new(
            "clonefd_orphan_parent_exits_first_thread",
            parent_exits_first_thread,
        ),
        Test::new(
            "clonefd_orphan_child_exits_first_thread",
            child_exits_first_thread,
        ),
        Test::new("clonefd_orphan_thread_killed_by_exit_group", || {
            thread_killed_by_group(GroupEnd::ExitGroup)
        }),
        Test::new("clonefd_orphan_thread_killed_by_sigkill", || {
            thread_killed_by_group(GroupEnd::Sigkill)
        }),
    ]
}

/// In M: a CLONE_FD thread of M, on a leaked stack, that waits at `gate`
/// and then SYS_exits with CHILD_OK.
fn spawn_thread(gate: &Gate) -> Option<Clonefd> {
    let shared = Shared::leaked().ok()?;
    let arg: &'static mut PipeGate = Box::leak(Box::new(PipeGate {
        fd: gate.read_fd(),
        code: CHILD_OK,
    }));
    // SAFETY: the stack and `arg` are leaked, so they outlive the thread;
    // c4_child_wait_pipe only reads `arg` and the pipe.
    unsafe {
        clonefd::on_stack_fd(
            THREAD_FLAGS,
            &shared.args(StackForm::Range),
            c4_child_wait_pipe,
            std::ptr::from_mut(arg).cast(),
        )
    }
    .ok()
}

/// In M: creates the gated child (a thread if `thread`) and sends its fd
/// and pid on `sock`. The child, if all went well.
fn create_and_send(sock: BorrowedFd<'_>, gate: &Gate, thread: bool) -> Option<Clonefd> {
    let child = if thread {
        spawn_thread(gate)?
    } else {
        spawn_gated(0, gate, CHILD_OK).ok()?
    };
    let pid = child.pid.as_raw().into();
    send_fd(sock, child.fd.as_fd(), &[pid]).ok()?;
    Some(child)
}

/// Forks M, which runs `middle` with its end of a socket pair; receives the
/// fd and the child's pid M sends.
fn via_middle(middle: impl FnOnce(BorrowedFd<'_>) -> i32) -> Result<(Pid, OwnedFd, Pid), Failure> {
    let (ours, theirs) = check_ok!(unix_pair());
    // SAFETY: the test process is single-threaded; M creates a child,
    // sends an fd and waits or exits as `middle` says.
    let m = check_ok!(unsafe { fork_process(|| middle(theirs.as_fd())) });
    drop(theirs);
    let (fd, words) = check_ok!(recv_fd(ours.as_fd()));
    check_eq!(words.len(), 1);
    Ok((m, fd, Pid::from_raw(words[0] as i32)))
}

fn parent_exits_first_process() -> TestResult {
    require!(clonefd_available());
    check_ok!(prctl::set_child_subreaper(true));
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let (m, fd, pid) =
        via_middle(|sock| child_code(create_and_send(sock, &gate, false).is_some()))?;
    check_exited(m, CHILD_OK)?;
    check!(eventually(|| counter.from(m) > 0), "no SIGCHLD from M");
    let before = counter.count();
    let reparented = || matches!(proc_stat(pid), Ok(stat) if stat.ppid == getpid().as_raw());
    check!(
        eventually(reparented),
        "not reparented to the test: {:?}",
        proc_stat(pid)
    );
    check_no_waitable_child()?;
    check_not_waitable(pid)?;
    check_ok!(gate.open());
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    counter.check_none_since(before)?;
    check_no_waitable_child()?;
    check_released(pid)?;
    Ok(Outcome::Pass)
}

/// In M: after `until`, M saw no SIGCHLD and has nothing to wait for.
fn quiet_after(until: &Gate, counter: &SigchldCounter) -> i32 {
    if !until.pass() {
        return child_code(false);
    }
    std::thread::sleep(GRACE);
    child_code(counter.count() == 0 && check_no_waitable_child().is_ok())
}

fn child_exits_first_process() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let (m, fd, pid) = via_middle(|sock| {
        let Ok(counter) = SigchldCounter::install() else {
            return child_code(false);
        };
        match create_and_send(sock, &gate, false) {
            Some(_child) => quiet_after(&until, &counter),
            None => child_code(false),
        }
    })?;
    check_ok!(gate.open());
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    check_released(pid)?;
    check_ok!(until.open());
    check_exited(m, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn parent_exits_first_thread() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let (m, fd, tid) = via_middle(|sock| match create_and_send(sock, &gate, true) {
        Some(_thread) => sys::exit_thread(0),
        None => child_code(false),
    })?;
    check!(tid != m, "the thread's tid is M's pid");
    let leader_gone = || matches!(task_stat(m, m), Ok(stat) if stat.state == 'Z');
    check!(
        eventually(leader_gone),
        "M's leader did not exit: {:?}",
        task_stat(m, m)
    );
    check_not_readable(fd.as_fd())?;
    check_ok!(gate.open());
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    check_released(tid)?;
    // The last thread's exit code is the process's (do_exit() makes it
    // the group exit code), the leader's 0 being overridden.
    check_exited(m, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn child_exits_first_thread() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let (m, fd, tid) = via_middle(|sock| match create_and_send(sock, &gate, true) {
        Some(_thread) => after_gate(&until, CHILD_OK),
        None => child_code(false),
    })?;
    check_ok!(gate.open());
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    // Released at once: no second look.
    check_released(tid)?;
    check_eq!(check_ok!(task_count(m)), 1);
    check_ok!(until.open());
    check_exited(m, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// How M's thread group ends while its CLONE_FD thread waits.
#[derive(Clone, Copy)]
enum GroupEnd {
    /// M's leader calls exit_group(GROUP_STATUS).
    ExitGroup,
    /// The test sends M SIGKILL.
    Sigkill,
}

/// What M's exit_group() passes.
const GROUP_STATUS: i32 = 7;

fn thread_killed_by_group(end: GroupEnd) -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let (m, fd, tid) = via_middle(|sock| match create_and_send(sock, &gate, true) {
        Some(_thread) => match end {
            GroupEnd::ExitGroup => {
                if until.pass() {
                    sys::exit_now(GROUP_STATUS)
                }
                child_code(false)
            }
            GroupEnd::Sigkill => after_gate(&until, CHILD_OK),
        },
        None => child_code(false),
    })?;
    check!(tid != m, "the thread's tid is M's pid");
    check_ok!(task_stat(m, tid));
    check_not_readable(fd.as_fd())?;
    // The thread waits at `gate`, which never opens: only its group's end
    // ends it.
    match end {
        GroupEnd::ExitGroup => {
            check_ok!(until.open());
            check_reported(fd.as_fd(), libc::CLD_EXITED, GROUP_STATUS)?;
            check_released(tid)?;
            check_exited(m, GROUP_STATUS)?;
        }
        GroupEnd::Sigkill => {
            check_ok!(kill(m, Signal::SIGKILL));
            check_reported(fd.as_fd(), libc::CLD_KILLED, libc::SIGKILL)?;
            check_released(tid)?;
            check_eq!(
                check_ok!(waitpid(m, None)),
                WaitStatus::Signaled(m, Signal::SIGKILL, false)
            );
        }
    }
    Ok(Outcome::Pass)
}
