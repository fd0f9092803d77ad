//! CLONE_FD: the fd's /proc/PID/fdinfo, as pidfd's: `Pid:` and `NSpid:`
//! in the pid namespace of the /proc instance read (not the reader's), -1
//! once the child has been reaped, and `Exited:`.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`).
//!
//! - `clonefd_fdinfo_pid_exited`: while the child runs, /proc/self/fdinfo/FD
//!   has `Pid:\t<pid>`, `NSpid:\t<pid>` and `Exited:\t0`; once the fd
//!   reported the exit, `Pid:\t-1`, `NSpid:\t-1` and `Exited:\t1` (the
//!   number may already name another process). Fails with the lines there.
//! - `clonefd_fdinfo_proc_pidns`: the first process of a new pid namespace
//!   (which inherited the fd) mounts a /proc for that namespace, where the
//!   child has no pid: the fd's fdinfo read there, by the test (outside
//!   that namespace), says `Pid:\t0` and `NSpid:\t0`, and through the
//!   test's /proc the child's pid. SKIPs if the namespaces can't be made.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::clone4_common::{check_exited, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{
    after_gate, check_child_exited, check_exit_reported, check_fdinfo_has, fork_process, new_pidns,
    spawn_gated, Gate, Mailbox,
};
use crate::feature::{clonefd_available, Availability};
use crate::ktap::{Failure, Outcome, Test, TestResult};

/// Where the test mounts a tmpfs (in a mount namespace of its own) and,
/// in it, the other namespace's /proc.
const SCRATCH: &str = "/tmp";
const OTHER_PROC: &str = "/tmp/proc";

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_fdinfo_pid_exited", pid_exited),
        Test::new("clonefd_fdinfo_proc_pidns", proc_pidns),
    ]
}

/// fdinfo has `Pid:\t<nr>` and `NSpid:\t<nr>`.
fn check_pid_lines(fd: BorrowedFd<'_>, nr: i32) -> Result<(), Failure> {
    check_fdinfo_has(fd, &format!("Pid:\t{nr}"))?;
    check_fdinfo_has(fd, &format!("NSpid:\t{nr}"))?;
    Ok(())
}

fn pid_exited() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let fd = child.fd.as_fd();
    check_pid_lines(fd, child.pid.as_raw())?;
    check_fdinfo_has(fd, "Exited:\t0")?;
    check_ok!(gate.open());
    check_exit_reported(fd, CHILD_OK)?;
    check_pid_lines(fd, -1)?;
    check_fdinfo_has(fd, "Exited:\t1")?;
    Ok(Outcome::Pass)
}

/// A mount namespace of the test's own, with a tmpfs at SCRATCH.
fn private_scratch() -> Availability {
    let private = || -> nix::Result<()> {
        unshare(CloneFlags::CLONE_NEWNS)?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )?;
        mount(
            Some("tmpfs"),
            SCRATCH,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )?;
        nix::unistd::mkdir(OTHER_PROC, nix::sys::stat::Mode::from_bits_truncate(0o755))
    };
    private().map_err(|err| format!("a private tmpfs at {SCRATCH}: {err}").into())
}

/// In the first process of the new pid namespace: mounts its /proc at
/// OTHER_PROC, posts 1, and waits at `until`.
fn mount_proc(mailbox: &Mailbox, until: &Gate) -> i32 {
    let mounted = mount(
        Some("proc"),
        OTHER_PROC,
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    );
    if mounted.is_err() || !mailbox.post(1) {
        return CHILD_WRONG;
    }
    after_gate(until, CHILD_OK)
}

fn proc_pidns() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    require!(private_scratch());
    require!(new_pidns());
    // SAFETY: the test process is single-threaded; the new process mounts
    // /proc, writes to a pipe and waits on another.
    let init = check_ok!(unsafe { fork_process(|| mount_proc(&mailbox, &until)) });
    check_eq!(check_ok!(mailbox.fetch()), 1);
    let path = format!("{OTHER_PROC}/1/fdinfo/{}", child.fd.as_raw_fd());
    let text = check_ok!(fs::read_to_string(&path));
    let lines: Vec<&str> = text.lines().collect();
    for want in ["Pid:\t0", "NSpid:\t0"] {
        check!(
            lines.contains(&want),
            "no line {want:?} in {path}: {lines:?}"
        );
    }
    check_pid_lines(child.fd.as_fd(), child.pid.as_raw())?;
    check_ok!(until.open());
    check_exited(init, CHILD_OK)?;
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}
