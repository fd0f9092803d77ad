//! CLONE_FD: when the fd reports the exit, the child is fully released.
//!
//! read() and poll() report the exit only once the child's PID, its /proc
//! entry and what it counted against its user's RLIMIT_NPROC are gone, so
//! that a program may spawn again at once, as it can after wait().
//!
//! Every test SKIPs unless `clonefd_available()`.
//!
//! - `clonefd_release_before_report`: 200 times, a child exits at once and
//!   the test reads its fd (non-blocking, in a busy loop, so that it sees
//!   the report the moment it comes, while the kernel may still be
//!   releasing the child on the other CPU); right after the read,
//!   kill(pid, 0) gives ESRCH and /proc/PID does not exist. Fails with the
//!   round and what was left (`succeeded with ()`: the PID still named the
//!   child).
//! - `clonefd_release_before_poll`: the same with poll() as the first
//!   sign of the exit: 200 times, the test polls the fd with a zero
//!   timeout in a busy loop until it gives POLLIN; right then, before any
//!   read(), kill(pid, 0) gives ESRCH and /proc/PID does not exist (then
//!   read() gives the info). Fails as the read() variant.
//! - `clonefd_release_respawn_nproc`: a helper process, with RLIMIT_NPROC
//!   at 2 and user and group 65534 (so the limit applies), spawns a
//!   CLONE_FD child that exits at once and reads its fd (busy loop, as
//!   above), 500 times; each clone4() must succeed. The helper exits with 42, or with 100 plus the
//!   number of clone4() calls that failed with EAGAIN (the previous child
//!   still counted), 43 if the set-up or anything else failed.

use std::os::fd::{AsFd, BorrowedFd};
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::resource::{setrlimit, Resource};

use super::clone4_common::{check_exited, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{become_nobody, check_released, fork_process, poll_in, spawn_exiting};
use crate::clonefd::{self, ClonefdInfo, CLONE_FD, INFO_VER1, NONBLOCK};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};

const ROUNDS: usize = 200;
const RESPAWNS: usize = 500;
/// The helper's exit code is this plus the number of EAGAINs (at most 150).
const EAGAIN_BASE: i32 = 100;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_release_before_report", release_before_report),
        Test::new("clonefd_release_before_poll", release_before_poll),
        // 500 clone4()s as another user: 30 s did not suffice on the
        // debug kernel under TCG.
        Test::new("clonefd_release_respawn_nproc", respawn_nproc)
            .with_timeout(Duration::from_secs(120)),
    ]
}

/// Reads the fd (O_NONBLOCK) until it gives the whole info, without
/// sleeping in between.
fn spin_read(fd: BorrowedFd<'_>) -> nix::Result<ClonefdInfo> {
    loop {
        match clonefd::read_info(fd) {
            Err(Errno::EAGAIN) => std::hint::spin_loop(),
            Err(err) => return Err(err),
            Ok((INFO_VER1, info)) => return Ok(info),
            Ok(_) => return Err(Errno::EIO),
        }
    }
}

fn release_before_report() -> TestResult {
    require!(clonefd_available());
    for round in 0..ROUNDS {
        let child = check_ok!(spawn_exiting(NONBLOCK, CHILD_OK));
        let info = check_ok!(spin_read(child.fd.as_fd()));
        check_eq!(info.status, CHILD_OK as u32);
        if let Err(failure) = check_released(child.pid) {
            fail!("round {round}: {failure}");
        }
    }
    Ok(Outcome::Pass)
}

/// Polls the fd (zero timeout) until it gives an event, without sleeping
/// in between: the revents.
fn spin_poll(fd: BorrowedFd<'_>) -> nix::Result<PollFlags> {
    loop {
        let revents = poll_in(fd, Duration::ZERO)?;
        if !revents.is_empty() {
            return Ok(revents);
        }
        std::hint::spin_loop();
    }
}

fn release_before_poll() -> TestResult {
    require!(clonefd_available());
    for round in 0..ROUNDS {
        let child = check_ok!(spawn_exiting(0, CHILD_OK));
        let revents = check_ok!(spin_poll(child.fd.as_fd()));
        if let Err(failure) = check_released(child.pid) {
            fail!("round {round}, poll gave {revents:?}: {failure}");
        }
        check!(
            revents.contains(PollFlags::POLLIN),
            "round {round}: poll gave {revents:?}"
        );
        let (len, info) = check_ok!(clonefd::read_info(child.fd.as_fd()));
        check_eq!((len, info.status), (INFO_VER1, CHILD_OK as u32));
    }
    Ok(Outcome::Pass)
}

/// In the helper: becomes nobody with RLIMIT_NPROC 2.
fn become_limited_user() -> nix::Result<()> {
    setrlimit(Resource::RLIMIT_NPROC, 2, 2)?;
    become_nobody()
}

/// In the helper: spawns and reads RESPAWNS children, one at a time.
fn respawn() -> i32 {
    if become_limited_user().is_err() {
        return CHILD_WRONG;
    }
    let mut eagain = 0;
    for _ in 0..RESPAWNS {
        // SAFETY: the helper is single-threaded; no struct; the child exits.
        match unsafe { clonefd::fork_like_returning_fd(CLONE_FD | NONBLOCK, 0, ptr::null(), || 0) }
        {
            Ok(fd) => {
                if !matches!(spin_read(fd.as_fd()), Ok(info) if info.status == 0) {
                    return CHILD_WRONG;
                }
            }
            Err(Errno::EAGAIN) => eagain += 1,
            Err(_) => return CHILD_WRONG,
        }
    }
    if eagain == 0 {
        CHILD_OK
    } else {
        EAGAIN_BASE + eagain.min(150)
    }
}

fn respawn_nproc() -> TestResult {
    require!(clonefd_available());
    // SAFETY: the test process is single-threaded; the helper changes its
    // credentials, spawns children and reads their fds.
    let helper = check_ok!(unsafe { fork_process(respawn) });
    check_exited(helper, CHILD_OK)?;
    Ok(Outcome::Pass)
}
