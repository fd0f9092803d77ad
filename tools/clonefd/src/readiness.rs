//! poll(2) on one descriptor: whether a CLONE_FD descriptor or a pidfd
//! reports its child's exit.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Whether `fd` is readable, waiting at most `timeout_ms` (-1: no limit).
/// Both a CLONE_FD descriptor and a pidfd become readable (POLLIN) when
/// the child exits; a CLONE_FD descriptor also reports POLLHUP.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one pollfd, valid for the call.
        let ret = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ret >= 0 {
            return Ok(ret > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
