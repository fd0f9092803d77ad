//! CLONE_FD: the fd as a file: fdinfo, write(), lseek(), and its use in
//! other processes than the one that created the child.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`).
//!
//! (fdinfo: `clonefd_fdinfo`.)
//! - `clonefd_write_einval`: write() of 1 or 80 bytes fails with EINVAL,
//!   while the child runs and after its exit.
//! - `clonefd_lseek_espipe`: lseek() (SEEK_SET, SEEK_CUR, SEEK_END) fails
//!   with ESPIPE.
//! - `clonefd_share_fork_inherited`: a process forked after the child was
//!   created inherits the fd; the test closes its copy; in that process
//!   GETPID gives the child's pid and read() its exit (the process exits
//!   with 42 if so, 43 otherwise). The test lets the child exit only once
//!   that process has made the GETPID call (it says so through a pipe).
//! - `clonefd_share_scm_rights`: the same in a process forked before the
//!   child existed, which gets the fd over SCM_RIGHTS.
//! - `clonefd_share_pidfd_getfd`: a helper process creates the child and
//!   says which fd it has; the test copies it with pidfd_getfd(): GETPID
//!   and read() work on the copy.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::unistd::{lseek, write, Pid, Whence};

use super::clone4_common::{check_exited, child_code, CHILD_OK};
use super::clonefd_common::{
    after_gate, await_readable, check_child_exited, check_exit_reported, fork_process, poll_in,
    recv_fd, send_fd, spawn_gated, unix_pair, Gate, Mailbox,
};
use super::common::PATIENCE;
use crate::clonefd::{self, INFO_VER1};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_write_einval", write_einval),
        Test::new("clonefd_lseek_espipe", lseek_espipe),
        Test::new("clonefd_share_fork_inherited", share_fork_inherited),
        Test::new("clonefd_share_scm_rights", share_scm_rights),
        Test::new("clonefd_share_pidfd_getfd", share_pidfd_getfd),
    ]
}

/// write() of 1 and of 80 bytes: EINVAL.
fn check_write_einval(fd: BorrowedFd<'_>) -> Result<(), Failure> {
    check_err!(write(fd, &[0u8]), Errno::EINVAL);
    check_err!(write(fd, &[0u8; INFO_VER1]), Errno::EINVAL);
    Ok(())
}

fn write_einval() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_write_einval(child.fd.as_fd())?;
    check_ok!(gate.open());
    await_readable(child.fd.as_fd())?;
    check_write_einval(child.fd.as_fd())?;
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn lseek_espipe() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    for whence in [Whence::SeekSet, Whence::SeekCur, Whence::SeekEnd] {
        check_err!(lseek(child.fd.as_fd(), 0, whence), Errno::ESPIPE);
    }
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// In a process that holds `fd`: GETPID gives `pid`, and once the child
/// exited read() gives CLD_EXITED 42. The process's exit code.
fn reads_exit(fd: BorrowedFd<'_>, pid: Pid, mailbox: &Mailbox) -> i32 {
    let pid_right = clonefd::getpid(fd) == Ok(pid);
    // The test lets the child exit only once GETPID has been asked, while
    // the child still has its pid.
    mailbox.post(1);
    let readable = poll_in(fd, PATIENCE).is_ok_and(|r| r.contains(PollFlags::POLLIN));
    let exit_right = matches!(
        clonefd::read_info(fd),
        Ok((INFO_VER1, info)) if info.code == libc::CLD_EXITED as u32
            && info.status == CHILD_OK as u32
    );
    child_code(pid_right && readable && exit_right)
}

fn share_fork_inherited() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let fd = child.fd.as_fd();
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the new process reads
    // the fd, writes to a pipe and exits.
    let holder = check_ok!(unsafe { fork_process(|| reads_exit(fd, child.pid, &mailbox)) });
    drop(child.fd);
    check_eq!(check_ok!(mailbox.fetch()), 1);
    check_ok!(gate.open());
    check_exited(holder, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// Receives an fd and a pid on `sock`, then [`reads_exit`].
fn receive_and_read(sock: BorrowedFd<'_>, mailbox: &Mailbox) -> i32 {
    match recv_fd(sock) {
        Ok((fd, words)) if words.len() == 1 => {
            reads_exit(fd.as_fd(), Pid::from_raw(words[0] as i32), mailbox)
        }
        _ => child_code(false),
    }
}

fn share_scm_rights() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let (ours, theirs) = check_ok!(unix_pair());
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the new process
    // receives an fd, reads it and exits.
    let receiver =
        check_ok!(unsafe { fork_process(|| receive_and_read(theirs.as_fd(), &mailbox)) });
    drop(theirs);
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_ok!(send_fd(
        ours.as_fd(),
        child.fd.as_fd(),
        &[child.pid.as_raw().into()]
    ));
    drop(child.fd);
    check_eq!(check_ok!(mailbox.fetch()), 1);
    check_ok!(gate.open());
    check_exited(receiver, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// A helper that creates a gated child, posts its fd's number and pid, and
/// waits at `until`.
fn create_and_wait(gate: &Gate, mailbox: &Mailbox, until: &Gate) -> i32 {
    let Ok(child) = spawn_gated(0, gate, CHILD_OK) else {
        return child_code(false);
    };
    mailbox.post(child.fd.as_raw_fd().into());
    mailbox.post(child.pid.as_raw().into());
    after_gate(until, CHILD_OK)
}

fn share_pidfd_getfd() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let until = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the helper creates a
    // child, writes to a pipe and waits on another.
    let helper = check_ok!(unsafe { fork_process(|| create_and_wait(&gate, &mailbox, &until)) });
    let target = check_ok!(mailbox.fetch()) as i32;
    let pid = Pid::from_raw(check_ok!(mailbox.fetch()) as i32);
    let helper_pidfd = check_ok!(sys::pidfd_open(helper));
    let copy = check_ok!(sys::pidfd_getfd(helper_pidfd.as_fd(), target));
    check_eq!(check_ok!(clonefd::getpid(copy.as_fd())), pid);
    check_ok!(gate.open());
    check_exit_reported(copy.as_fd(), CHILD_OK)?;
    check_ok!(until.open());
    check_exited(helper, CHILD_OK)?;
    Ok(Outcome::Pass)
}
