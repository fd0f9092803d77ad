//! Operations on a CLONE_FD descriptor: read(2) of `struct clonefd_info`,
//! and the CLONEFD_IOC_GETPID / CLONEFD_IOC_GETPIDFD ioctls.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use crate::abi::{ClonefdInfo, CLONEFD_IOC_GETPID, CLONEFD_IOC_GETPIDFD};
use crate::exit_info::ExitInfo;
use crate::readiness::poll_readable;

/// Reads the child's `struct clonefd_info`, blocking until it exited, also
/// when the descriptor is nonblocking (CLONEFD_NONBLOCK, as another
/// program may have created a descriptor given to `Child::from_clonefd`,
/// or O_NONBLOCK set by an event loop it is registered with): EAGAIN is
/// followed by poll(2) and another read. The kernel returns it once: a
/// later read (through any duplicate of the open file description) gets
/// end of file, which is reported as an error.
pub(crate) fn read_info(fd: BorrowedFd<'_>) -> io::Result<ExitInfo> {
    let mut info = ClonefdInfo::default();
    let len = loop {
        // SAFETY: `info` is plain integers, writable for its size.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                ptr::from_mut(&mut info).cast(),
                size_of::<ClonefdInfo>(),
            )
        };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN) => {
                poll_readable(fd, -1)?;
            }
            _ => return Err(err),
        }
    };
    if len == 0 {
        return Err(io::Error::other(
            "the child's exit status was already read from its CLONE_FD descriptor",
        ));
    }
    ExitInfo::from_clonefd_info(&info, len)
}

/// ioctl(fd, request, 0): the third argument must be 0, and ioctl(2) is
/// variadic, so it is passed explicitly.
fn ioctl_no_arg(fd: BorrowedFd<'_>, request: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the clonefd requests take no argument and read no memory.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request, 0 as libc::c_ulong) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The child's pid in our pid namespace (0 if it has none here); ESRCH
/// once it has been reaped.
pub(crate) fn getpid(fd: BorrowedFd<'_>) -> io::Result<libc::pid_t> {
    ioctl_no_arg(fd, CLONEFD_IOC_GETPID)
}

/// A new pidfd (close-on-exec) for the child; ESRCH once it has been
/// reaped, so a signal sent through it can never reach another process.
pub(crate) fn getpidfd(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let pidfd = ioctl_no_arg(fd, CLONEFD_IOC_GETPIDFD)?;
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(pidfd) })
}
