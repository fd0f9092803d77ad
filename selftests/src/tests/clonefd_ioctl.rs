//! CLONE_FD: the fd's ioctl()s, CLONEFD_IOC_GETPID and
//! CLONEFD_IOC_GETPIDFD, in the caller's and in other pid namespaces.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`).
//!
//! - `clonefd_ioctl_getpid_{stored,returned}`: GETPID gives the pid the
//!   child sees with getpid() (and, with `clonefd` a pointer, the pid
//!   clone4() returned). Fails with the two pids, or the ioctl's error.
//! - `clonefd_ioctl_getpid_esrch_after_reap`: once the fd reported the
//!   exit (the child is reaped), GETPID fails with ESRCH at once: the
//!   number may already name another process. Fails with the pid it gave.
//! - `clonefd_ioctl_getpid_other_pidns_none`: the fd inherited by the
//!   first process of a new pid namespace (unshare(CLONE_NEWPID), fork),
//!   where the child has no pid: GETPID gives 0 there, and GETPIDFD fails
//!   with ESRCH (the posted word is -ESRCH). SKIPs if unshare() is
//!   refused.
//! - `clonefd_ioctl_getpid_other_pidns_translated`: a child created by the
//!   first process M of a new pid namespace, its fd passed to the test over
//!   SCM_RIGHTS: in M, GETPID gives the pid clone4() returned there; in the
//!   test, the pid in the test's namespace, which /proc/PID/status lists
//!   (`NSpid:` both pids), and the fd's fdinfo says `Pid:` that pid too.
//! - `clonefd_ioctl_getpidfd`: GETPIDFD gives a new fd with FD_CLOEXEC,
//!   a pidfd for the child (its fdinfo says `Pid:` the child's pid) on
//!   which pidfd_send_signal(SIGKILL) kills it: the fd reports CLD_KILLED,
//!   SIGKILL.
//! - `clonefd_ioctl_getpidfd_esrch_after_reap`: once the fd reported the
//!   exit, GETPIDFD fails with ESRCH at once.
//! - `clonefd_ioctl_unknown_enotty`: _IO(0xC4, 0), _IO(0xC4, 3),
//!   _IOR(0xC4, 1, int), _IOW(0xC4, 2, int) and TCGETS fail with ENOTTY.
//! - `clonefd_ioctl_nonzero_arg_einval`: GETPID and GETPIDFD with an
//!   argument of 1 (and of -1) fail with EINVAL, so that a later kernel
//!   may give the argument a meaning; no fd is created.

use std::ffi::c_int;
use std::fs;
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{getpid, Pid};
use nix::{request_code_none, request_code_read, request_code_write};

use super::clone4_common::{check_exited, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::exited_child;
use super::clonefd_common::{
    after_gate, check_child_exited, check_child_reported, check_exit_reported, check_fdinfo_has,
    fork_process, new_pidns, open_fds, recv_fd, send_fd, spawn_gated, unix_pair, Gate, Mailbox,
};
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys;
use crate::uapi;

const MAGIC: u32 = uapi::CLONEFD_IOC_MAGIC;

/// (name, request): ioctl()s the fd does not know.
const UNKNOWN: &[(&str, libc::c_ulong)] = &[
    ("_IO(0xC4, 0)", request_code_none!(MAGIC, 0)),
    ("_IO(0xC4, 3)", request_code_none!(MAGIC, 3)),
    (
        "_IOR(0xC4, 1, int)",
        request_code_read!(MAGIC, 1, size_of::<c_int>()),
    ),
    (
        "_IOW(0xC4, 2, int)",
        request_code_write!(MAGIC, 2, size_of::<c_int>()),
    ),
    ("TCGETS", libc::TCGETS),
];

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_ioctl_getpid_stored", || getpid_matches(false)),
        Test::new("clonefd_ioctl_getpid_returned", || getpid_matches(true)),
        Test::new(
            "clonefd_ioctl_getpid_esrch_after_reap",
            getpid_esrch_after_reap,
        ),
        Test::new("clonefd_ioctl_getpid_other_pidns_none", getpid_pidns_none),
        Test::new(
            "clonefd_ioctl_getpid_other_pidns_translated",
            getpid_pidns_translated,
        ),
        Test::new("clonefd_ioctl_getpidfd", getpidfd),
        Test::new(
            "clonefd_ioctl_getpidfd_esrch_after_reap",
            getpidfd_esrch_after_reap,
        ),
        Test::new("clonefd_ioctl_unknown_enotty", unknown_enotty),
        Test::new("clonefd_ioctl_nonzero_arg_einval", nonzero_arg_einval),
    ]
}

/// GETPID's result as a word for a mailbox: the pid, or -errno.
fn getpid_word(fd: BorrowedFd<'_>) -> i64 {
    match clonefd::getpid(fd) {
        Ok(pid) => pid.as_raw().into(),
        Err(err) => -(err as i64),
    }
}

fn getpid_matches(returned: bool) -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    let child = || {
        mailbox.post(getpid().as_raw().into());
        after_gate(&gate, CHILD_OK)
    };
    let fd = if returned {
        // SAFETY: the test process is single-threaded; no struct; the child
        // writes to a pipe, waits on another and exits.
        check_ok!(unsafe { clonefd::fork_like_returning_fd(CLONE_FD, 0, ptr::null(), child) })
    } else {
        // SAFETY: as above, with the struct of fork_like_fd().
        let spawned = check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, child) });
        check_eq!(check_ok!(clonefd::getpid(spawned.fd.as_fd())), spawned.pid);
        spawned.fd
    };
    let seen = check_ok!(mailbox.fetch());
    check_eq!(getpid_word(fd.as_fd()), seen);
    check_ok!(gate.open());
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn getpid_esrch_after_reap() -> TestResult {
    require!(clonefd_available());
    let child = exited_child(0, CHILD_OK)?;
    check_err!(clonefd::getpid(child.fd.as_fd()), Errno::ESRCH);
    Ok(Outcome::Pass)
}

fn getpid_pidns_none() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    require!(new_pidns());
    let fd = child.fd.as_fd();
    // SAFETY: the test process is single-threaded; the new process calls
    // the ioctl, writes to a pipe and exits.
    let outsider = check_ok!(unsafe {
        fork_process(|| {
            let in_ns = getpid() == Pid::from_raw(1);
            let pidfd = match clonefd::getpidfd(fd) {
                Ok(_) => 0,
                Err(err) => -(err as i64),
            };
            if in_ns && mailbox.post(getpid_word(fd)) && mailbox.post(pidfd) {
                CHILD_OK
            } else {
                CHILD_WRONG
            }
        })
    });
    check_exited(outsider, CHILD_OK)?;
    check_eq!(check_ok!(mailbox.fetch()), 0);
    check_eq!(check_ok!(mailbox.fetch()), -(Errno::ESRCH as i64));
    check_ok!(gate.open());
    check_exit_reported(fd, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// The pids of `pid` in its namespaces, outermost first (`NSpid:`).
fn nspids(pid: Pid) -> std::io::Result<Vec<i32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect())
}

/// In the first process of a new pid namespace: creates a gated CLONE_FD
/// child, sends its fd with [clone4()'s pid, GETPID's word] on `sock`,
/// then waits at `until` (the namespace ends with this process).
fn creator_in_pidns(sock: BorrowedFd<'_>, gate: &Gate, until: &Gate) -> i32 {
    let Ok(child) = spawn_gated(0, gate, CHILD_OK) else {
        return CHILD_WRONG;
    };
    let words = [child.pid.as_raw().into(), getpid_word(child.fd.as_fd())];
    if send_fd(sock, child.fd.as_fd(), &words).is_err() {
        return CHILD_WRONG;
    }
    after_gate(until, CHILD_OK)
}

fn getpid_pidns_translated() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let (ours, theirs) = check_ok!(unix_pair());
    require!(new_pidns());
    // SAFETY: the test process is single-threaded; the new process creates
    // a child, sends an fd and waits on a pipe.
    let creator =
        check_ok!(unsafe { fork_process(|| creator_in_pidns(theirs.as_fd(), &gate, &until)) });
    drop(theirs);
    let (fd, words) = match recv_fd(ours.as_fd()) {
        Ok(received) => received,
        Err(err) => fail!(
            "receiving the fd: {err}; the creator: {:?}",
            waitpid(creator, None)
        ),
    };
    check_eq!(words.len(), 2);
    let ns_pid = words[0];
    check_eq!(words[1], ns_pid);
    let pid = check_ok!(clonefd::getpid(fd.as_fd()));
    check_eq!(check_ok!(nspids(pid)), [pid.as_raw(), ns_pid as i32]);
    check_fdinfo_has(fd.as_fd(), &format!("Pid:\t{pid}"))?;
    check_ok!(gate.open());
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    check_ok!(until.open());
    check_exited(creator, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn getpidfd() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let pidfd = check_ok!(clonefd::getpidfd(child.fd.as_fd()));
    let flags = FdFlag::from_bits_retain(check_ok!(fcntl(pidfd.as_fd(), FcntlArg::F_GETFD)));
    check!(flags.contains(FdFlag::FD_CLOEXEC), "fd flags {flags:?}");
    check_fdinfo_has(pidfd.as_fd(), &format!("Pid:\t{}", child.pid))?;
    check_ok!(sys::pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL));
    check_child_reported(&child, libc::CLD_KILLED, libc::SIGKILL)?;
    Ok(Outcome::Pass)
}

fn getpidfd_esrch_after_reap() -> TestResult {
    require!(clonefd_available());
    let child = exited_child(0, CHILD_OK)?;
    check_err!(clonefd::getpidfd(child.fd.as_fd()), Errno::ESRCH);
    Ok(Outcome::Pass)
}

fn unknown_enotty() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    for &(name, request) in UNKNOWN {
        match clonefd::ioctl(child.fd.as_fd(), request) {
            Err(Errno::ENOTTY) => {}
            other => fail!("ioctl({name}): {other:?}, not ENOTTY"),
        }
    }
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn nonzero_arg_einval() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let fds = check_ok!(open_fds());
    for (name, request) in [
        ("GETPID", clonefd::IOC_GETPID),
        ("GETPIDFD", clonefd::IOC_GETPIDFD),
    ] {
        for arg in [1usize, usize::MAX] {
            match clonefd::ioctl_arg(child.fd.as_fd(), request, arg) {
                Err(Errno::EINVAL) => {}
                other => fail!("ioctl({name}, {arg:#x}): {other:?}, not EINVAL"),
            }
        }
    }
    check_eq!(check_ok!(open_fds()), fds);
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}
