//! CLONE_FD and CLONE_PARENT: a CLONE_FD child can't get a sibling.
//!
//! A sibling made by CLONE_PARENT would inherit the CLONE_FD child's exit
//! signal (none) without its file descriptor: a zombie under the original
//! parent that plain wait() never reports. So both ways to make one fail
//! with EINVAL.
//!
//! Every test SKIPs unless `clonefd_available()`.
//!
//! - `clonefd_clone_parent_einval`: clone4(CLONE_FD | CLONE_PARENT) gives
//!   EINVAL (fails as the clone4_flags EINVAL tests).
//! - `clonefd_child_clone_parent_einval`: the CLONE_FD child calls
//!   clone(CLONE_PARENT | SIGCHLD), clone3(CLONE_PARENT) and
//!   clone4(CLONE_PARENT | SIGCHLD); each must give EINVAL (a process one
//!   of them creates exits at once). The child exits with 42 if all three
//!   did, else with the sum of 1 (clone), 2 (clone3) and 4 (clone4) for
//!   those that did not: the fd reports `left: 1` etc. Afterwards no
//!   process has the test as its parent (a hidden zombie would).

use std::ptr;

use nix::errno::Errno;
use nix::unistd::getpid;

use super::clone4_common::{expect_einval, CHILD_OK, SIGCHLD};
use super::clonefd_common::{check_child_exited, children_of};
use crate::clone4;
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys::{self, CloneArgsWithTail, Forked};
use crate::uapi;

const CLONE_PARENT: u64 = uapi::CLONE_PARENT as u64;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_clone_parent_einval", || {
            require!(clonefd_available());
            expect_einval(CLONE_FD | CLONE_PARENT, |_| {})
        }),
        Test::new(
            "clonefd_child_clone_parent_einval",
            child_clone_parent_einval,
        ),
    ]
}

/// A clone call with CLONE_PARENT: Ok if it created a process.
type CloneCall = fn() -> Result<(), Errno>;

/// clone(CLONE_PARENT | SIGCHLD): fork-like, the new process exits at once.
fn clone_parent() -> Result<(), Errno> {
    // SAFETY: no CLONE_VM, no pointer: a fork whose child only _exit()s.
    let ret = unsafe { libc::syscall(libc::SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0) };
    match Errno::result(ret)? {
        0 => sys::exit_now(0),
        _ => Ok(()),
    }
}

/// clone3(CLONE_PARENT): the new process exits at once.
fn clone3_parent() -> Result<(), Errno> {
    let mut args = CloneArgsWithTail::default();
    args.args.flags = CLONE_PARENT;
    let size = std::mem::size_of::<uapi::clone_args>();
    // SAFETY: CLONE_PARENT makes the kernel write through no pointer; the
    // child only _exit()s.
    match unsafe { sys::clone3(&mut args, size) }? {
        Forked::Child => sys::exit_now(0),
        Forked::Parent(_) => Ok(()),
    }
}

/// clone4(CLONE_PARENT | SIGCHLD): the new process exits at once.
fn clone4_parent() -> Result<(), Errno> {
    // SAFETY: no struct, fork-like flags; the child only exits.
    unsafe { clone4::fork_like(CLONE_PARENT | SIGCHLD, 0, ptr::null(), || 0) }.map(drop)
}

/// In the CLONE_FD child: CHILD_OK if each call gave EINVAL, else the sum
/// of the bits of those that did not.
fn try_clone_parent() -> i32 {
    let calls: [(i32, CloneCall); 3] = [(1, clone_parent), (2, clone3_parent), (4, clone4_parent)];
    let wrong: i32 = calls
        .iter()
        .filter(|(_, call)| call() != Err(Errno::EINVAL))
        .map(|(bit, _)| bit)
        .sum();
    if wrong == 0 {
        CHILD_OK
    } else {
        wrong
    }
}

fn child_clone_parent_einval() -> TestResult {
    require!(clonefd_available());
    // SAFETY: the test process is single-threaded; the child makes clone
    // calls whose children exit at once.
    let child = check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, try_clone_parent) });
    check_child_exited(&child, CHILD_OK)?;
    check_eq!(check_ok!(children_of(getpid())), []);
    Ok(Outcome::Pass)
}
