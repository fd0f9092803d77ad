//! CLONEFD_KILL_ON_CLOSE kills for the clone4() caller, as it could: the
//! signal sent when the file goes is checked with the credentials of the
//! file (its opener's, the caller's), whoever closes it last, and a
//! process that gets the fd gains no signal authority of its own.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`); whether a
//! child died is seen on a pidfd_open() pidfd.
//!
//! - `clonefd_kill_on_close_needs_kill_permission`: the test (root)
//!   drops CAP_KILL from its effective set and keeps CAP_SYS_ADMIN (so
//!   KILL_ON_CLOSE is allowed); its child becomes user 65534 (setresuid),
//!   so that kill(child, 0) gives EPERM. Closing the fd must leave the
//!   child running (a kill the caller could not send itself); let go, it
//!   exits and is reaped. Fails with `the child died` if the close killed
//!   it, or if kill() did not give EPERM (the set-up is wrong).
//! - `clonefd_kill_on_close_other_holder_gains_nothing`: the fd is sent
//!   (SCM_RIGHTS) to a helper that becomes user 65534. There, GETPIDFD
//!   gives a pidfd, but pidfd_send_signal(SIGTERM) and kill() on the
//!   child give EPERM, as for any pidfd, and the child still runs. When
//!   the helper, holding the last reference, exits, the child is killed:
//!   the kill the caller (root) arranged and may send. The helper exits
//!   with 42, or 1 (no fd), 2 (GETPIDFD failed), 3 (a signal was not
//!   refused with EPERM).
//! - `clonefd_kill_on_close_caller_changed_uids`: a caller (root) makes
//!   the child, then becomes user 65534, so that kill(child, 0) gives
//!   EPERM; its close still kills the child: the credentials are those
//!   of the clone4() call. The caller exits with 42, or 1 (set-up), 4
//!   (kill() was not refused), 5 (the child survived the close).
//! - `clonefd_kill_on_close_pidns_init_from_inside`: the child is the
//!   init of a new PID namespace (CLONE_NEWPID), where a process it forks
//!   receives the fd (SCM_RIGHTS) and, after the test's close, drops the
//!   last reference: init dies, although a kill(1, SIGKILL) from inside
//!   its namespace would be ignored.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::clone4_common::CHILD_OK;
use super::clonefd_close::{check_alive, check_dies};
use super::clonefd_common::{
    after_gate, become_nobody, check_reaped, fork_process, recv_fd, send_fd, unix_pair, Gate,
};
use crate::clonefd::{self, CLONE_FD, KILL_ON_CLOSE};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys::{self, CAP_KILL};

/// The exit codes of the helpers of `other_holder_gains_nothing` and
/// `caller_changed_uids`.
const NO_FD: i32 = 1;
const NO_PIDFD: i32 = 2;
const NOT_REFUSED: i32 = 3;
const KILL_ALLOWED: i32 = 4;
const SURVIVED: i32 = 5;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            "clonefd_kill_on_close_needs_kill_permission",
            needs_kill_permission,
        ),
        Test::new(
            "clonefd_kill_on_close_other_holder_gains_nothing",
            other_holder_gains_nothing,
        ),
        Test::new(
            "clonefd_kill_on_close_caller_changed_uids",
            caller_changed_uids,
        ),
        Test::new(
            "clonefd_kill_on_close_pidns_init_from_inside",
            pidns_init_from_inside,
        ),
    ]
}

fn needs_kill_permission() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let (mut ready, ready_writer) = check_ok!(io::pipe());
    check_ok!(sys::drop_effective_cap(CAP_KILL));
    // SAFETY: the test process is single-threaded; the child changes its
    // user IDs, writes to a pipe, waits on another and exits.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD | KILL_ON_CLOSE, || {
            if become_nobody().is_err() {
                return 43;
            }
            let _ = (&ready_writer).write_all(b"r");
            after_gate(&gate, CHILD_OK)
        })
    });
    drop(ready_writer);
    let mut byte = [0u8; 1];
    check_ok!(ready.read_exact(&mut byte));
    check_err!(kill(child.pid, None), Errno::EPERM);
    let pidfd = check_ok!(sys::pidfd_open(child.pid));
    drop(child.fd);
    check_alive(pidfd.as_fd())?;
    check_ok!(gate.open());
    check_dies(pidfd.as_fd())?;
    check_reaped(child.pid)?;
    Ok(Outcome::Pass)
}

/// In the helper: what the fd of the child `pid` lets user 65534 do.
fn try_as_other_user(sock: std::os::fd::BorrowedFd<'_>) -> i32 {
    let Ok((fd, words)) = recv_fd(sock) else {
        return NO_FD;
    };
    if become_nobody().is_err() {
        return 43;
    }
    let Ok(pidfd) = clonefd::getpidfd(fd.as_fd()) else {
        return NO_PIDFD;
    };
    let pid = Pid::from_raw(words[0] as libc::pid_t);
    let refused = sys::pidfd_send_signal(pidfd.as_fd(), Signal::SIGTERM) == Err(Errno::EPERM)
        && kill(pid, Signal::SIGTERM) == Err(Errno::EPERM);
    if !refused {
        return NOT_REFUSED;
    }
    // The last reference goes with the helper's exit.
    CHILD_OK
}

fn other_holder_gains_nothing() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the child waits on a
    // pipe and exits.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD | KILL_ON_CLOSE, || after_gate(&gate, CHILD_OK))
    });
    let pidfd = check_ok!(sys::pidfd_open(child.pid));
    let (ours, theirs) = check_ok!(unix_pair());
    // SAFETY: the test process is single-threaded; the helper receives an
    // fd, changes its user IDs, makes system calls and exits.
    let helper = check_ok!(unsafe { fork_process(|| try_as_other_user(theirs.as_fd())) });
    drop(theirs);
    check_ok!(send_fd(
        ours.as_fd(),
        child.fd.as_fd(),
        &[child.pid.as_raw().into()]
    ));
    drop(child.fd);
    let status = check_ok!(waitpid(helper, None));
    check_eq!(status, WaitStatus::Exited(helper, CHILD_OK));
    check_dies(pidfd.as_fd())?;
    check_reaped(child.pid)?;
    Ok(Outcome::Pass)
}

/// In the caller of `caller_changed_uids`: CHILD_OK, or what failed.
fn clone_then_change_uids() -> i32 {
    let gate = match Gate::new() {
        Ok(gate) => gate,
        Err(_) => return NO_FD,
    };
    // SAFETY: the caller is single-threaded; the child waits on a pipe.
    let Ok(child) = (unsafe {
        clonefd::fork_like_fd(CLONE_FD | KILL_ON_CLOSE, || after_gate(&gate, CHILD_OK))
    }) else {
        return NO_FD;
    };
    let Ok(pidfd) = sys::pidfd_open(child.pid) else {
        return NO_PIDFD;
    };
    if become_nobody().is_err() {
        return NO_FD;
    }
    if kill(child.pid, None) != Err(Errno::EPERM) {
        return KILL_ALLOWED;
    }
    drop(child.fd);
    if check_dies(pidfd.as_fd()).is_err() {
        // The test (root) kills it, see below.
        return SURVIVED;
    }
    CHILD_OK
}

fn caller_changed_uids() -> TestResult {
    require!(clonefd_available());
    // SAFETY: the test process is single-threaded; the caller clones,
    // changes its user IDs, closes an fd and polls.
    let caller = check_ok!(unsafe { fork_process(clone_then_change_uids) });
    let status = check_ok!(waitpid(caller, None));
    check_eq!(status, WaitStatus::Exited(caller, CHILD_OK));
    Ok(Outcome::Pass)
}

/// In the process that the namespace's init forks: receive the fd, drop
/// it, then wait to be killed with the namespace.
fn drop_received_fd(sock: std::os::fd::BorrowedFd<'_>, gate: &Gate) -> i32 {
    match recv_fd(sock) {
        Ok((fd, _)) => drop(fd),
        Err(_) => return NO_FD,
    }
    after_gate(gate, CHILD_OK)
}

/// The namespace's init: forks the process that receives the fd, then
/// waits to be killed.
fn init_with_receiver(sock: std::os::fd::BorrowedFd<'_>, gate: &Gate) -> i32 {
    // SAFETY: init is single-threaded, as the test process it came from.
    match unsafe { fork_process(|| drop_received_fd(sock, gate)) } {
        Ok(_) => after_gate(gate, CHILD_OK),
        Err(_) => NO_FD,
    }
}

fn pidns_init_from_inside() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let (ours, theirs) = check_ok!(unix_pair());
    let newpid = u64::from(libc::CLONE_NEWPID as u32);
    // SAFETY: the test process is single-threaded; the child forks a
    // process that receives an fd and waits, and waits itself.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD | KILL_ON_CLOSE | newpid, || {
            init_with_receiver(theirs.as_fd(), &gate)
        })
    });
    drop(theirs);
    let pidfd = check_ok!(sys::pidfd_open(child.pid));
    check_ok!(send_fd(ours.as_fd(), child.fd.as_fd(), &[]));
    drop(child.fd);
    let died = check_dies(pidfd.as_fd());
    if died.is_err() {
        let _ = kill(child.pid, Signal::SIGKILL);
    }
    died?;
    check_reaped(child.pid)?;
    Ok(Outcome::Pass)
}
