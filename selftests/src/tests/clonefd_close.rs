//! CLONE_FD: closing the fd, and CLONEFD_KILL_ON_CLOSE.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`); whether a
//! child died is seen on a pidfd_open() pidfd (readable once it exited).
//!
//! - `clonefd_close_child_unaffected`: closing the only fd leaves the child
//!   running (its pidfd stays unreadable for 200 ms); let go, it exits
//!   normally (it writes a byte on its way out), is reaped (gone from
//!   /proc), sends no SIGCHLD, and wait gives ECHILD.
//! - `clonefd_kill_on_close_last_reference`: with KILL_ON_CLOSE (and
//!   no_new_privs): closing one of two dup()ed fds leaves the child
//!   running; closing the last one kills it (pidfd readable within 5 s)
//!   although its gate never opens.
//! - `clonefd_kill_on_close_last_holder_exits`: the last reference held by
//!   another process (inherited by fork): the test's close leaves the child
//!   running; the holder's exit kills it.
//! - `clonefd_kill_on_close_eperm_without_cap_sys_admin`: without
//!   no_new_privs and with CAP_SYS_ADMIN dropped from the effective set,
//!   clone4(CLONE_FD | KILL_ON_CLOSE) fails with EPERM and creates no
//!   child (none has the test as parent). SKIPs if no_new_privs is already
//!   set.
//! - `clonefd_kill_on_close_no_new_privs`: with no_new_privs and without
//!   CAP_SYS_ADMIN it succeeds, and the child exits normally.
//! - `clonefd_kill_on_close_cap_sys_admin`: with CAP_SYS_ADMIN and without
//!   no_new_privs it succeeds. SKIPs without CAP_SYS_ADMIN.
//! - `clonefd_kill_on_close_user_ns`: CAP_SYS_ADMIN in the caller's own
//!   user namespace is enough. A helper becomes user 65534 (no capability,
//!   no no_new_privs): KILL_ON_CLOSE gives EPERM; after
//!   unshare(CLONE_NEWUSER) it succeeds and the child exits normally. The
//!   helper exits with 42, or 1 (not EPERM at first), 2 (refused in the
//!   user namespace), 43 (set-up); SKIPs if unshare() is refused.
//! - `clonefd_kill_on_close_einval_before_eperm`: without the privilege, a
//!   KILL_ON_CLOSE call that is malformed otherwise gives EINVAL, not EPERM
//!   (the privilege is checked last): with an unknown CLONEFD_ flag (0x08),
//!   with CLONE_THREAD, with CLONE_SIGHAND but not CLONE_VM, with
//!   CLONE_PARENT, and with CLONE_NEWUSER | CLONE_NEWIPC | CLONE_SYSVSEM
//!   (which copy_namespaces() refuses, late in copy_process()).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{dup, getpid};

use super::clone4_common::{
    check_exited, expect_einval, CHILD_OK, CHILD_WRONG, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM,
};
use super::clonefd_common::exited_child;
use super::clonefd_common::{
    after_gate, become_nobody, check_no_waitable_child, check_reaped, children_of, fork_process,
    poll_in, spawn_gated, Gate, SigchldCounter, GRACE, NOBODY,
};
use super::common::PATIENCE;
use crate::clonefd::{self, Clonefd, CLONE_FD, KILL_ON_CLOSE};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys::{self, CAP_SYS_ADMIN};
use crate::uapi;

const CLONE_PARENT: u64 = uapi::CLONE_PARENT as u64;
const CLONE_NEWUSER: u64 = uapi::CLONE_NEWUSER as u64;
const CLONE_NEWIPC: u64 = uapi::CLONE_NEWIPC as u64;
const CLONE_SYSVSEM: u64 = uapi::CLONE_SYSVSEM as u64;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_close_child_unaffected", child_unaffected),
        Test::new(
            "clonefd_kill_on_close_last_reference",
            kill_on_close_last_reference,
        ),
        Test::new(
            "clonefd_kill_on_close_last_holder_exits",
            kill_on_close_last_holder_exits,
        ),
        Test::new(
            "clonefd_kill_on_close_eperm_without_cap_sys_admin",
            eperm_without_cap_sys_admin,
        ),
        Test::new("clonefd_kill_on_close_no_new_privs", no_new_privs),
        Test::new("clonefd_kill_on_close_cap_sys_admin", cap_sys_admin),
        Test::new("clonefd_kill_on_close_user_ns", user_ns),
        Test::new(
            "clonefd_kill_on_close_einval_before_eperm",
            einval_before_eperm,
        ),
    ]
}

/// The process behind `pidfd` is still running after GRACE.
pub(super) fn check_alive(pidfd: BorrowedFd<'_>) -> Result<(), Failure> {
    let revents = check_ok!(poll_in(pidfd, GRACE));
    check!(
        revents.is_empty(),
        "the child died: pidfd revents {revents:?}"
    );
    Ok(())
}

/// The process behind `pidfd` dies within PATIENCE.
pub(super) fn check_dies(pidfd: BorrowedFd<'_>) -> Result<(), Failure> {
    let revents = check_ok!(poll_in(pidfd, PATIENCE));
    check!(
        revents.contains(PollFlags::POLLIN),
        "the child still runs after {PATIENCE:?}"
    );
    Ok(())
}

fn child_unaffected() -> TestResult {
    require!(clonefd_available());
    let counter = check_ok!(SigchldCounter::install());
    let gate = check_ok!(Gate::new());
    let (mut done, done_writer) = check_ok!(io::pipe());
    // SAFETY: the test process is single-threaded; the child waits on a
    // pipe, writes to another and exits.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            let code = after_gate(&gate, CHILD_OK);
            let _ = (&done_writer).write_all(b"d");
            code
        })
    });
    drop(done_writer);
    let pidfd = check_ok!(sys::pidfd_open(child.pid));
    drop(child.fd);
    check_alive(pidfd.as_fd())?;
    check_ok!(gate.open());
    let mut byte = [0u8; 1];
    check_ok!(done.read_exact(&mut byte));
    check_reaped(child.pid)?;
    counter.check_none_since(0)?;
    check_no_waitable_child()?;
    Ok(Outcome::Pass)
}

/// A gated KILL_ON_CLOSE child (whose gate the test never opens) and a
/// pidfd for it. Sets no_new_privs first.
fn killable(gate: &Gate) -> Result<(Clonefd, std::os::fd::OwnedFd), Failure> {
    check_ok!(prctl::set_no_new_privs());
    let child = check_ok!(spawn_gated(KILL_ON_CLOSE, gate, CHILD_OK));
    let pidfd = check_ok!(sys::pidfd_open(child.pid));
    Ok((child, pidfd))
}

fn kill_on_close_last_reference() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let (child, pidfd) = killable(&gate)?;
    let copy = check_ok!(dup(child.fd.as_fd()));
    drop(child.fd);
    check_alive(pidfd.as_fd())?;
    drop(copy);
    check_dies(pidfd.as_fd())?;
    check_reaped(child.pid)?;
    Ok(Outcome::Pass)
}

fn kill_on_close_last_holder_exits() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let (child, pidfd) = killable(&gate)?;
    // SAFETY: the test process is single-threaded; the holder only waits
    // on a pipe and exits.
    let holder = check_ok!(unsafe { fork_process(|| after_gate(&until, CHILD_OK)) });
    drop(child.fd);
    check_alive(pidfd.as_fd())?;
    check_ok!(until.open());
    check_exited(holder, CHILD_OK)?;
    check_dies(pidfd.as_fd())?;
    Ok(Outcome::Pass)
}

fn eperm_without_cap_sys_admin() -> TestResult {
    require!(clonefd_available());
    if check_ok!(prctl::get_no_new_privs()) {
        skip!("no_new_privs is already set for the test process");
    }
    check_ok!(sys::drop_effective_cap(CAP_SYS_ADMIN));
    let gate = check_ok!(Gate::new());
    check_err!(spawn_gated(KILL_ON_CLOSE, &gate, CHILD_OK), Errno::EPERM);
    check_eq!(check_ok!(children_of(getpid())), []);
    Ok(Outcome::Pass)
}

/// A KILL_ON_CLOSE child can be created, and exits normally.
fn check_kill_on_close_allowed() -> TestResult {
    exited_child(KILL_ON_CLOSE, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn no_new_privs() -> TestResult {
    require!(clonefd_available());
    check_ok!(sys::drop_effective_cap(CAP_SYS_ADMIN));
    check_ok!(prctl::set_no_new_privs());
    check_kill_on_close_allowed()
}

fn cap_sys_admin() -> TestResult {
    require!(clonefd_available());
    if check_ok!(prctl::get_no_new_privs()) {
        skip!("no_new_privs is already set for the test process");
    }
    if !check_ok!(sys::has_effective_cap(CAP_SYS_ADMIN)) {
        skip!("the test process lacks CAP_SYS_ADMIN (run as root)");
    }
    check_kill_on_close_allowed()
}

/// The helper's exit code when unshare(CLONE_NEWUSER) was refused.
const NO_USER_NS: i32 = 3;

/// In the helper: KILL_ON_CLOSE as an unprivileged user, then as that
/// user's root in a new user namespace.
fn kill_on_close_in_user_ns() -> i32 {
    if become_nobody().is_err() {
        return CHILD_WRONG;
    }
    // SAFETY: the helper is single-threaded; a child made by mistake exits.
    let spawn = || unsafe { clonefd::fork_like_fd(CLONE_FD | KILL_ON_CLOSE, || CHILD_OK) };
    if !matches!(spawn(), Err(Errno::EPERM)) {
        return 1;
    }
    if unshare(CloneFlags::CLONE_NEWUSER).is_err() {
        return NO_USER_NS;
    }
    match spawn() {
        Ok(child) => match clonefd::read_info(child.fd.as_fd()) {
            Ok((_, info)) if info.status == CHILD_OK as u32 => CHILD_OK,
            _ => CHILD_WRONG,
        },
        Err(_) => 2,
    }
}

fn user_ns() -> TestResult {
    require!(clonefd_available());
    // SAFETY: the test process is single-threaded; the helper changes its
    // credentials and namespaces and spawns a child.
    let helper = check_ok!(unsafe { fork_process(kill_on_close_in_user_ns) });
    let status = check_ok!(waitpid(helper, None));
    if status == WaitStatus::Exited(helper, NO_USER_NS) {
        skip!("unshare(CLONE_NEWUSER) as user {NOBODY} was refused");
    }
    check_eq!(status, WaitStatus::Exited(helper, CHILD_OK));
    Ok(Outcome::Pass)
}

fn einval_before_eperm() -> TestResult {
    require!(clonefd_available());
    if check_ok!(prctl::get_no_new_privs()) {
        skip!("no_new_privs is already set for the test process");
    }
    check_ok!(sys::drop_effective_cap(CAP_SYS_ADMIN));
    let unknown_clonefd_flag = 0x08;
    for flags in [
        unknown_clonefd_flag,
        CLONE_THREAD | CLONE_SIGHAND | CLONE_VM,
        CLONE_SIGHAND,
        CLONE_PARENT,
        CLONE_NEWUSER | CLONE_NEWIPC | CLONE_SYSVSEM,
    ] {
        expect_einval(CLONE_FD | KILL_ON_CLOSE | flags, |_| {})?;
    }
    Ok(Outcome::Pass)
}
