//! Waits with a deadline: for a process (waitpid), an fd over SCM_RIGHTS,
//! and the test's reader threads. Every wait of the stress has one.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::ktap::Failure;
use crate::tests::clonefd_common::{poll_in, recv_fd};

/// How often the waits below look again.
const PAUSE: Duration = Duration::from_millis(5);

/// waitpid(pid or -1, __WALL) until `deadline`: the status, or None if
/// nothing was reported by then (polled with WNOHANG).
pub(super) fn waitpid_by(pid: Option<Pid>, deadline: Instant) -> nix::Result<Option<WaitStatus>> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            Ok(status) => return Ok(Some(status)),
            Err(err) => return Err(err),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        sleep(PAUSE);
    }
}

/// [`recv_fd`] once `sock` is readable, or ETIMEDOUT at `deadline`.
pub(super) fn recv_fd_by(
    sock: BorrowedFd<'_>,
    deadline: Instant,
) -> nix::Result<(OwnedFd, Vec<i64>)> {
    let left = deadline.saturating_duration_since(Instant::now());
    if !poll_in(sock, left)?.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
        return Err(Errno::ETIMEDOUT);
    }
    recv_fd(sock)
}

/// Joins `threads` once all have finished, waiting until `deadline`:
/// fails if one is still running then, or panicked.
pub(super) fn join_by(threads: Vec<JoinHandle<()>>, deadline: Instant) -> Result<(), Failure> {
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
        sleep(PAUSE);
    }
    let running = threads.iter().filter(|t| !t.is_finished()).count();
    check!(running == 0, "{running} reader threads still running");
    for thread in threads {
        check!(thread.join().is_ok(), "a reader thread panicked");
    }
    Ok(())
}
