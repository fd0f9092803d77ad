//! clone3() and clone(2) as before the series: clone4() shares their
//! validation of the flags, which must not have changed for them.
//!
//! Every test SKIPs unless `clone4_available()` (these are about the
//! patched kernel) and, for clone3(), `clone3_available()`. A child that a
//! call creates by mistake exits at once (on a stack of its own for the
//! thread flags) and is reaped.
//!
//! - `clone3_clone_fd_bit37_einval`: clone3() with bit 37 (CLONE_FD,
//!   clone4()'s own) is EINVAL, as any unknown bit. Fails with
//!   `created Pid(..)` or another errno.
//! - `clone3_detached_einval`: clone3() still rejects CLONE_DETACHED.
//! - `clone3_thread_exit_signal_einval`: CLONE_VM | CLONE_SIGHAND |
//!   CLONE_THREAD with exit signal SIGCHLD is EINVAL; the control, the
//!   same without the exit signal (and with CLONE_CHILD_CLEARTID), creates
//!   a thread that runs on its own stack and exits (its ctid is cleared).
//! - `clone3_parent_exit_signal_einval`: a helper process H calls clone3()
//!   with CLONE_PARENT and exit signal SIGCHLD: EINVAL; then with
//!   CLONE_PARENT alone: a sibling of H, whose parent is the test (as
//!   /proc says while it waits at a gate), which sends the test SIGCHLD
//!   (H's exit signal) and which the test reaps with waitpid(), H having
//!   found that it cannot (ECHILD) (`check_sibling`). H exits with 42, 1
//!   if the first call did not give EINVAL, 2 if the second failed, 3 if H
//!   could wait for the sibling.
//! - `clone_detached_ignored`: clone(2) with CLONE_DETACHED | SIGCHLD is a
//!   plain fork: the child exits with 42, the parent (SIGCHLD blocked) gets
//!   SIGCHLD from it, and waitpid() without __WALL reaps it (its exit
//!   signal is SIGCHLD). Fails with `EINVAL` if clone(2) now rejects it.
//! - `clone_flags_upper_half_ignored`: clone(2) with bit 37 (CLONE_FD) and
//!   SIGCHLD in its 64-bit flags register: the kernel takes the lower 32
//!   bits, so a plain fork again: clone() returns the child's pid (no fd
//!   appears in /proc/self/fd), the child exits with 42 and is reaped as
//!   above. Fails if clone(2) took CLONE_FD (`EINVAL`, a new fd, or
//!   `ECHILD`: no SIGCHLD child).

use std::mem::size_of;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::clone4_common::{
    wait_cleared, Shared, StackForm, CHILD_OK, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCHLD,
};
use super::clonefd_common::{after_gate, check_sibling, open_fds, Gate};
use super::common::{signal_set, PATIENCE};
use crate::clone4::{self, c4_child_report};
use crate::feature::{clone3_available, clone4_available};
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys::{self, CloneArgsWithTail, Forked};
use crate::uapi::{self, clone_args};

const CLONE_PARENT: u64 = uapi::CLONE_PARENT as u64;
const CLONE_DETACHED: u64 = uapi::CLONE_DETACHED as u64;
const CLONE_CHILD_CLEARTID: u64 = uapi::CLONE_CHILD_CLEARTID as u64;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clone3_clone_fd_bit37_einval", || {
            clone3_fork_like_einval(uapi::CLONE_FD, 0)
        }),
        Test::new("clone3_detached_einval", || {
            clone3_fork_like_einval(CLONE_DETACHED, SIGCHLD)
        }),
        Test::new(
            "clone3_thread_exit_signal_einval",
            clone3_thread_exit_signal_einval,
        ),
        Test::new(
            "clone3_parent_exit_signal_einval",
            clone3_parent_exit_signal_einval,
        ),
        Test::new("clone_detached_ignored", || {
            clone_plain_fork(CLONE_DETACHED | SIGCHLD)
        }),
        Test::new("clone_flags_upper_half_ignored", || {
            clone_plain_fork(uapi::CLONE_FD | SIGCHLD)
        }),
    ]
}

/// clone3(flags, exit_signal) without a stack: a fork-like child, if
/// created, exits at once. The result, the child reaped.
fn clone3_fork_like(flags: u64, exit_signal: u64) -> nix::Result<Pid> {
    let mut args = CloneArgsWithTail::default();
    args.args.flags = flags;
    args.args.exit_signal = exit_signal;
    // SAFETY: the flags callers pass make the kernel write through no
    // pointer (none is set) and share no memory; the child only exits.
    let pid = match unsafe { sys::clone3(&mut args, size_of::<clone_args>()) }? {
        Forked::Child => sys::exit_now(0),
        Forked::Parent(pid) => pid,
    };
    let _ = waitpid(pid, Some(WaitPidFlag::__WALL));
    Ok(pid)
}

fn clone3_fork_like_einval(flags: u64, exit_signal: u64) -> TestResult {
    require!(clone4_available());
    require!(clone3_available());
    match clone3_fork_like(flags, exit_signal) {
        Err(err) => check_eq!(err, Errno::EINVAL),
        Ok(pid) => fail!("clone3({flags:#x}, exit signal {exit_signal}) created {pid}"),
    }
    Ok(Outcome::Pass)
}

/// clone3() of a thread on the stack of `shared`, running
/// `c4_child_report`, with CLONE_CHILD_CLEARTID on `shared.ctid`.
fn clone3_thread(shared: &'static Shared, exit_signal: u64) -> nix::Result<Pid> {
    let stack = shared.args(StackForm::Range);
    let args = clone_args {
        flags: CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_CHILD_CLEARTID,
        child_tid: stack.ctid,
        exit_signal,
        stack: stack.stack_start,
        stack_size: stack.stack_size,
        ..Default::default()
    };
    // SAFETY: the stack, ctid and report are leaked, so they outlive the
    // thread; c4_child_report writes only the report.
    unsafe { clone4::clone3_on_stack(&args, c4_child_report, shared.report_arg()) }
}

fn clone3_thread_exit_signal_einval() -> TestResult {
    require!(clone4_available());
    require!(clone3_available());
    let shared = check_ok!(Shared::leaked());
    match clone3_thread(shared, SIGCHLD) {
        Err(err) => check_eq!(err, Errno::EINVAL),
        Ok(tid) => fail!("clone3(thread flags, SIGCHLD) created thread {tid}"),
    }
    let control = check_ok!(Shared::leaked());
    let tid = check_ok!(clone3_thread(control, 0));
    wait_cleared(&control.ctid)?;
    check_eq!(control.report().tid, i64::from(tid.as_raw()));
    Ok(Outcome::Pass)
}

/// In H: clone3(CLONE_PARENT, SIGCHLD) must fail with EINVAL (else H
/// exits with 1); then clone3(CLONE_PARENT) creates a sibling that waits
/// at `gate` (else H exits with 2).
fn clone3_sibling(gate: &Gate) -> Result<Pid, i32> {
    if clone3_fork_like(CLONE_PARENT, SIGCHLD) != Err(Errno::EINVAL) {
        return Err(1);
    }
    let mut args = CloneArgsWithTail::default();
    args.args.flags = CLONE_PARENT;
    // SAFETY: H is single-threaded; CLONE_PARENT makes the kernel write
    // through no pointer; the sibling waits on a pipe and exits.
    match unsafe { sys::clone3(&mut args, size_of::<clone_args>()) } {
        Ok(Forked::Child) => sys::exit_now(after_gate(gate, CHILD_OK)),
        Ok(Forked::Parent(pid)) => Ok(pid),
        Err(_) => Err(2),
    }
}

fn clone3_parent_exit_signal_einval() -> TestResult {
    require!(clone4_available());
    require!(clone3_available());
    check_sibling(clone3_sibling)?;
    Ok(Outcome::Pass)
}

/// clone(2) with `flags` (a full 64-bit register) as a fork: returns in
/// the child, which exits with CHILD_OK.
fn clone_fork(flags: u64) -> nix::Result<Pid> {
    // SAFETY: no CLONE_VM and no pointer argument: a fork whose child only
    // _exit()s (if the kernel took other bits, the checks say so).
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    match Errno::result(ret)? {
        0 => sys::exit_now(CHILD_OK),
        pid => Ok(Pid::from_raw(pid as libc::pid_t)),
    }
}

/// clone(2) with `flags` is a plain fork whose exit signal is SIGCHLD.
fn clone_plain_fork(flags: u64) -> TestResult {
    require!(clone4_available());
    let chld = signal_set(libc::SIGCHLD);
    check_ok!(chld.thread_block());
    let fds = check_ok!(open_fds());
    let pid = check_ok!(clone_fork(flags));
    check_eq!(check_ok!(open_fds()), fds);
    check_sigchld_from(&chld, pid)?;
    // Without __WALL: only children whose exit signal is SIGCHLD.
    check_eq!(
        check_ok!(waitpid(pid, None)),
        WaitStatus::Exited(pid, CHILD_OK)
    );
    Ok(Outcome::Pass)
}

/// A SIGCHLD (blocked, in `set`) from `pid` comes within PATIENCE.
fn check_sigchld_from(set: &nix::sys::signal::SigSet, pid: Pid) -> Result<(), Failure> {
    let info = check_ok!(sys::sigtimedwait(set, PATIENCE));
    check_eq!((info.pid, info.code), (pid, libc::CLD_EXITED));
    Ok(())
}
