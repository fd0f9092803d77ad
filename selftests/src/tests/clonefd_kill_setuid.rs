//! CLONEFD_KILL_ON_CLOSE and set-user-ID programs: the kill on close
//! follows kill(2)'s rule for the caller, whether or not no_new_privs
//! kept the program from gaining its owner's user ID.
//!
//! Both tests fork a caller that, in a mount namespace of its own, puts a
//! copy of /bin/sleep on a tmpfs, set-user-ID and set-group-ID NOBODY,
//! then becomes user CALLER. Its clone4(CLONE_FD | KILL_ON_CLOSE) child
//! execs the copy. The caller reads the child's UIDs in /proc/PID/status
//! once it runs the program, checks that kill(2) may signal it, closes
//! the fd and checks that the child dies. The caller's exit code says
//! which step failed (`Step`); a child that survives is killed with
//! SIGKILL by the caller, which may.
//!
//! - `clonefd_kill_on_close_setuid_exec_no_new_privs`: the caller has no
//!   capability and sets no_new_privs, which KILL_ON_CLOSE then allows:
//!   the exec grants nothing, the program runs as CALLER and dies on
//!   close.
//! - `clonefd_kill_on_close_setuid_exec_cap_sys_admin`: the caller keeps
//!   CAP_SYS_ADMIN alone (no CAP_KILL, no no_new_privs): the program runs
//!   with NOBODY as its effective and saved UID and CALLER as its real
//!   one, which kill(2) from CALLER may signal, and dies on close.
//!
//! A child that switches all its UIDs away is not killed: see
//! clonefd_kill_permission.rs, where the child calls setresuid() itself
//! (to the kernel's check, the same case as a set-user-ID program that
//! does it).

use std::ffi::CString;
use std::fs::{self, Permissions};
use std::os::fd::AsFd;
use std::os::unix::fs::{chown, PermissionsExt};

use nix::mount::{mount, MsFlags};
use nix::poll::PollFlags;
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execv, setgroups, setresgid, setresuid, Gid, Pid, Uid};

use super::clone4_common::{CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{
    check_reaped, eventually, fork_process, poll_in, status_field, NOBODY,
};
use super::common::PATIENCE;
use crate::clonefd::{self, CLONE_FD, KILL_ON_CLOSE};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys::{self, CAP_SYS_ADMIN};

/// The caller's user and group ID.
const CALLER: u32 = 1000;

/// Where the caller mounts its tmpfs, in its own mount namespace.
const DIR: &str = "/tmp";

/// The set-user-ID copy of /bin/sleep.
const PROGRAM: &str = "/tmp/sleep-setuid-nobody";

/// How the caller ends: `Done` is CHILD_OK, every other value a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Step {
    Setup = 10,
    Credentials = 11,
    Clone = 12,
    NeverRan = 13,
    WrongEuid = 14,
    NotSignalable = 15,
    Survived = 16,
    NotReaped = 17,
}

impl Step {
    fn describe(code: i32) -> String {
        let steps = [
            (Step::Setup, "the set-up (mount, copy, chown) failed"),
            (Step::Credentials, "becoming the caller failed"),
            (Step::Clone, "clone4(CLONE_FD | KILL_ON_CLOSE) failed"),
            (Step::NeverRan, "the child never ran the program"),
            (Step::WrongEuid, "the program ran with the wrong UIDs"),
            (Step::NotSignalable, "kill(child, 0) from the caller failed"),
            (Step::Survived, "the child survived the close"),
            (Step::NotReaped, "the child died but was not reaped"),
        ];
        steps
            .iter()
            .find(|(step, _)| *step as i32 == code)
            .map_or_else(|| format!("exit code {code}"), |(_, what)| (*what).into())
    }
}

pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            "clonefd_kill_on_close_setuid_exec_no_new_privs",
            setuid_exec_no_new_privs,
        ),
        Test::new(
            "clonefd_kill_on_close_setuid_exec_cap_sys_admin",
            setuid_exec_cap_sys_admin,
        ),
    ]
}

fn setuid_exec_no_new_privs() -> TestResult {
    setuid_exec(true)
}

fn setuid_exec_cap_sys_admin() -> TestResult {
    setuid_exec(false)
}

fn setuid_exec(no_new_privs: bool) -> TestResult {
    require!(clonefd_available());
    // SAFETY: the test process is single-threaded; the caller mounts,
    // copies a file, changes its credentials, clones and exits.
    let caller = check_ok!(unsafe { fork_process(|| run_caller(no_new_privs)) });
    match check_ok!(waitpid(caller, None)) {
        WaitStatus::Exited(_, CHILD_OK) => Ok(Outcome::Pass),
        WaitStatus::Exited(_, code) => fail!("{}", Step::describe(code)),
        other => fail!("the caller ended with {other:?}"),
    }
}

/// In the caller: CHILD_OK, or the `Step` that failed.
fn run_caller(no_new_privs: bool) -> i32 {
    match caller_steps(no_new_privs) {
        Ok(()) => CHILD_OK,
        Err(step) => step as i32,
    }
}

fn caller_steps(no_new_privs: bool) -> Result<(), Step> {
    install_program().map_err(|_| Step::Setup)?;
    become_caller(no_new_privs).map_err(|_| Step::Credentials)?;
    // SAFETY: the caller is single-threaded; the child execs.
    let child = unsafe { clonefd::fork_like_fd(CLONE_FD | KILL_ON_CLOSE, exec_program) }
        .map_err(|_| Step::Clone)?;
    let pidfd = sys::pidfd_open(child.pid).map_err(|_| Step::Clone)?;
    let outcome = judge(child.pid, no_new_privs);
    if outcome.is_ok() {
        drop(child.fd);
        let revents = poll_in(pidfd.as_fd(), PATIENCE).unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLIN) {
            return check_reaped(child.pid).map_err(|_| Step::NotReaped);
        }
    }
    let _ = kill(child.pid, Signal::SIGKILL);
    outcome.and(Err(Step::Survived))
}

/// The child runs the program with the UIDs that no_new_privs (or its
/// absence) gives it, and kill(2) from the caller may signal it.
fn judge(child: Pid, no_new_privs: bool) -> Result<(), Step> {
    let runs_it = eventually(|| {
        status_field(child, "Name:").is_ok_and(|name| "sleep-setuid-nobody".starts_with(&name))
    });
    if !runs_it {
        return Err(Step::NeverRan);
    }
    // Real, effective, saved, filesystem.
    let euid = if no_new_privs { CALLER } else { NOBODY };
    let expected = format!("{CALLER}\t{euid}\t{euid}\t{euid}");
    if status_field(child, "Uid:").ok().as_deref() != Some(expected.as_str()) {
        return Err(Step::WrongEuid);
    }
    kill(child, None).map_err(|_| Step::NotSignalable)
}

/// Mounts a tmpfs on DIR in a new mount namespace and puts PROGRAM there.
fn install_program() -> std::io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    let none = None::<&str>;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)?;
    mount(Some("tmpfs"), DIR, Some("tmpfs"), MsFlags::empty(), none)?;
    fs::copy("/bin/sleep", PROGRAM)?;
    chown(PROGRAM, Some(NOBODY), Some(NOBODY))?;
    // After chown(), which clears the set-ID bits.
    fs::set_permissions(PROGRAM, Permissions::from_mode(0o6755))
}

/// Becomes CALLER (real, effective, saved; no supplementary group) with
/// CAP_SYS_ADMIN alone, or with no capability and no_new_privs.
fn become_caller(no_new_privs: bool) -> nix::Result<()> {
    prctl::set_keepcaps(true)?;
    setgroups(&[])?;
    let gid = Gid::from_raw(CALLER);
    setresgid(gid, gid, gid)?;
    let uid = Uid::from_raw(CALLER);
    setresuid(uid, uid, uid)?;
    if no_new_privs {
        sys::keep_only_caps(&[])?;
        prctl::set_no_new_privs()
    } else {
        sys::keep_only_caps(&[CAP_SYS_ADMIN])
    }
}

/// In the child: exec PROGRAM; CHILD_WRONG if that failed.
fn exec_program() -> i32 {
    let program = CString::new(PROGRAM).expect("no NUL in the path");
    let _ = execv(&program, &[c"sleep", c"600"]);
    CHILD_WRONG
}
