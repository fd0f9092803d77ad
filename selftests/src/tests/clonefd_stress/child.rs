//! What a CLONE_FD child runs (in the child), and its creation.

use std::os::fd::RawFd;
use std::thread;

use nix::errno::Errno;

use super::plan::{Body, Plan};
use crate::clonefd::{self, Clonefd, CLONE_FD};
use crate::sys;
use crate::tests::clone4_common::CHILD_WRONG;
use crate::tests::clonefd_common::{exec_exit_with, GATE_CLOSED};

/// close_range(first, last, 0).
fn close_range(first: u32, last: u32) {
    if first <= last {
        // SAFETY: only in a child or helper process that ends with
        // `_exit()`: no object owning one of these fds is used or dropped
        // after this.
        unsafe { libc::close_range(first, last, 0) };
    }
}

/// In a child or helper process: closes every fd above 2 but `keep`, so
/// that it holds no reference to files it does not use (KILL_ON_CLOSE
/// fds of other children, gates, pipes).
pub(super) fn close_all_except(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut next: u32 = 3;
    for &fd in keep.iter() {
        let fd = fd as u32;
        if fd >= next {
            if fd > next {
                close_range(next, fd - 1);
            }
            next = fd + 1;
        }
    }
    close_range(next, u32::MAX);
}

/// In a child: waits for one byte on the gate's read end `fd`.
fn wait_gate(fd: RawFd) -> bool {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a local.
        let n = unsafe { libc::read(fd, std::ptr::from_mut(&mut byte).cast(), 1) };
        if n == 1 {
            return true;
        }
        if n == 0 || Errno::last() != Errno::EINTR {
            return false;
        }
    }
}

/// In a child: waits at the gate, then ends the whole process.
fn gate_then_exit(fd: RawFd, body: Body, code: i32) -> ! {
    if !wait_gate(fd) {
        sys::exit_now(GATE_CLOSED);
    }
    match body {
        Body::Exec => sys::exit_now(exec_exit_with(code)),
        _ => sys::exit_now(code),
    }
}

/// Waits forever (only a signal ends the caller).
fn wait_forever() -> ! {
    loop {
        // SAFETY: pause() takes nothing.
        unsafe { libc::pause() };
    }
}

/// What a CLONE_FD child runs: `body`, `gate` being its gate's read end.
fn child_body(body: Body, gate: RawFd, code: i32) -> i32 {
    close_all_except(&mut [gate]);
    match body {
        Body::Exit | Body::Exec => gate_then_exit(gate, body, code),
        Body::MtGroupExit | Body::MtLeaderFirst => {
            let thread = thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || gate_then_exit(gate, Body::Exit, code));
            match (thread, body) {
                (Err(_), _) => CHILD_WRONG,
                (Ok(_), Body::MtLeaderFirst) => sys::exit_thread(0),
                (Ok(_), _) => wait_forever(),
            }
        }
    }
}

/// clone4(CLONE_FD | the plan's flags): a child that runs the plan's body.
pub(super) fn spawn_child(plan: &Plan, gate: RawFd) -> nix::Result<Clonefd> {
    let (body, code) = (plan.body, plan.code);
    // SAFETY: called while the calling process (the test between rounds,
    // or the orphan maker) is single-threaded; the child closes its fds,
    // waits on a pipe, maybe starts a thread or execs, and exits.
    unsafe { clonefd::fork_like_fd(CLONE_FD | plan.low_flags(), || child_body(body, gate, code)) }
}
