//! CLONE_FD: a clone4() child reported through a file descriptor.
//!
//! With CLONE_FD (flag bit 37) the low byte of clone4()'s flags holds
//! `CLONEFD_*` flags instead of an exit signal, and the caller gets a file
//! descriptor for the child: as clone4()'s result when
//! `clone4_args.clonefd` is 0, or stored in the int `clonefd` points to
//! (clone4() then returns the child's pid). read() on it gives a `struct
//! clonefd_info` once the child has exited; ioctl()s give its pid and a
//! pidfd.
//!
//! - [`fork_like_fd`]: a fork-like child, its fd stored through
//!   `clonefd`: fd and pid ([`Clonefd`]).
//! - [`fork_like_returning_fd`]: a fork-like child, its fd as clone4()'s
//!   result.
//! - [`on_stack_fd`]: [`clone4::clone_on_stack`] with the fd stored
//!   through `clonefd` (threads, CLONE_VM children).
//! - [`read_info`], [`read_bytes`], [`info_from_bytes`]: what read() gives.
//! - [`getpid`], [`getpidfd`], [`ioctl`]: the ioctl()s.

use std::ffi::{c_int, c_long, c_void};
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use nix::errno::Errno;
use nix::request_code_none;
use nix::unistd::Pid;

use crate::clone4::{self, ChildFn, Clone4Args};
use crate::sys;
use crate::uapi;

pub use crate::uapi::clonefd_info as ClonefdInfo;

/// The clone flag, as the 64-bit value clone4() splits.
pub const CLONE_FD: u64 = uapi::CLONE_FD;
/// The flags in the low byte with CLONE_FD.
pub const CLOEXEC: u64 = uapi::CLONEFD_CLOEXEC as u64;
pub const NONBLOCK: u64 = uapi::CLONEFD_NONBLOCK as u64;
pub const KILL_ON_CLOSE: u64 = uapi::CLONEFD_KILL_ON_CLOSE as u64;

/// `sizeof(struct clonefd_info)` of each version.
pub const INFO_VER0: usize = uapi::CLONEFD_INFO_SIZE_VER0 as usize;
pub const INFO_VER1: usize = uapi::CLONEFD_INFO_SIZE_VER1 as usize;

/// `CLONEFD_IOC_GETPID`: `_IO(0xC4, 1)`.
pub const IOC_GETPID: libc::c_ulong = request_code_none!(uapi::CLONEFD_IOC_MAGIC, 1);
/// `CLONEFD_IOC_GETPIDFD`: `_IO(0xC4, 2)`.
pub const IOC_GETPIDFD: libc::c_ulong = request_code_none!(uapi::CLONEFD_IOC_MAGIC, 2);

/// A CLONE_FD child: its file descriptor and its pid (TID for a thread).
#[derive(Debug)]
pub struct Clonefd {
    pub fd: OwnedFd,
    pub pid: Pid,
}

/// clone4(flags, size, args) with CLONE_FD in `flags` and `clonefd` 0 (or
/// not within `size`): the child runs `child` and `_exit()`s with its
/// result; the parent gets the fd clone4() returned.
///
/// # Safety
///
/// As [`clone4::clone4_regs`]. Panics if `flags` include CLONE_VM or
/// CLONE_SETTLS.
pub unsafe fn fork_like_returning_fd(
    flags: u64,
    size: usize,
    args: *const c_void,
    child: impl FnOnce() -> i32,
) -> nix::Result<OwnedFd> {
    let (high, low) = clone4::split(flags);
    clone4::assert_fork_like(low);
    // SAFETY: the caller's contract; the flags leave the child a copy of
    // the address space and of the thread pointer, so it may run Rust code.
    match unsafe { clone4::clone4_syscall(high.into(), low.into(), size, args) }? {
        0 => sys::exit_now(child()),
        fd => Ok(returned_fd(fd)),
    }
}

/// clone4(flags, VER1 args with `clonefd` pointing to an int), CLONE_FD
/// in `flags`: the child runs `child` and `_exit()`s with its result; the
/// parent gets the fd stored there and the pid clone4() returned.
///
/// # Safety
///
/// As [`clone4::clone4_regs`] (the struct is this function's). Panics if
/// `flags` include CLONE_VM or CLONE_SETTLS, or if clone4() succeeded
/// without storing an fd.
pub unsafe fn fork_like_fd(flags: u64, child: impl FnOnce() -> i32) -> nix::Result<Clonefd> {
    let mut fd: c_int = -1;
    let args = Clone4Args {
        clonefd: ptr::from_mut(&mut fd) as u64,
        ..Default::default()
    };
    // SAFETY: CLONE_FD stores an int at `clonefd`, which points to `fd`,
    // alive across the call; the rest is the caller's contract.
    let pid = unsafe {
        clone4::fork_like(
            flags,
            size_of::<Clone4Args>(),
            ptr::from_ref(&args).cast(),
            child,
        )
    }?;
    Ok(Clonefd {
        fd: stored_fd(fd),
        pid,
    })
}

/// [`clone4::clone_on_stack`] with `args.clonefd` pointing to an int:
/// the child runs `child(arg)` on its own stack; returns the fd stored
/// there and the child's PID (TID for CLONE_THREAD).
///
/// # Safety
///
/// As [`clone4::clone_on_stack`] (whose `args` are `args` with `clonefd`
/// replaced). Panics if clone4() succeeded without storing an fd.
pub unsafe fn on_stack_fd(
    flags: u64,
    args: &Clone4Args,
    child: ChildFn,
    arg: *mut c_void,
) -> nix::Result<Clonefd> {
    let mut fd: c_int = -1;
    let args = Clone4Args {
        clonefd: ptr::from_mut(&mut fd) as u64,
        ..*args
    };
    // SAFETY: CLONE_FD stores an int at `clonefd`, which points to `fd`,
    // alive across the call; the rest is the caller's contract.
    let pid = unsafe { clone4::clone_on_stack(flags, &args, child, arg) }?;
    Ok(Clonefd {
        fd: stored_fd(fd),
        pid,
    })
}

/// The fd clone4() returned (a positive result, in the parent).
fn returned_fd(ret: c_long) -> OwnedFd {
    let fd = RawFd::try_from(ret).expect("clone4() returned no fd");
    // SAFETY: clone4() with CLONE_FD returned a new fd nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The fd clone4() stored through `clonefd`.
fn stored_fd(fd: c_int) -> OwnedFd {
    assert!(fd >= 0, "clone4() succeeded but stored no fd at clonefd");
    // SAFETY: clone4() with CLONE_FD stored a new fd nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// read(fd, buf, len): the bytes read.
pub fn read_bytes(fd: BorrowedFd<'_>, len: usize) -> nix::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let n = nix::unistd::read(fd, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// A `clonefd_info` from the bytes read, zeros past them.
pub fn info_from_bytes(bytes: &[u8]) -> ClonefdInfo {
    let mut info = ClonefdInfo::default();
    let len = bytes.len().min(size_of::<ClonefdInfo>());
    // SAFETY: the struct is plain integers (any bytes are a valid value)
    // and `len` bytes fit in both.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), ptr::from_mut(&mut info).cast::<u8>(), len);
    }
    info
}

/// read(fd, &info, sizeof(info)): the length read and the info.
pub fn read_info(fd: BorrowedFd<'_>) -> nix::Result<(usize, ClonefdInfo)> {
    let bytes = read_bytes(fd, size_of::<ClonefdInfo>())?;
    Ok((bytes.len(), info_from_bytes(&bytes)))
}

/// ioctl(fd, request) for a request without an argument.
pub fn ioctl(fd: BorrowedFd<'_>, request: libc::c_ulong) -> nix::Result<c_int> {
    ioctl_arg(fd, request, 0)
}

/// ioctl(fd, request, arg) with `arg` an integer, not a pointer: for the
/// fd's `_IO()` requests, which must reject a non-zero one.
pub fn ioctl_arg(fd: BorrowedFd<'_>, request: libc::c_ulong, arg: usize) -> nix::Result<c_int> {
    // SAFETY: the fd's requests take no argument and read no memory; a
    // request that did would find an invalid address and fail with EFAULT
    // (or 0, which it rejects), never touch our memory.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) })
}

/// CLONEFD_IOC_GETPID: the child's pid in the caller's pid namespace.
pub fn getpid(fd: BorrowedFd<'_>) -> nix::Result<Pid> {
    ioctl(fd, IOC_GETPID).map(Pid::from_raw)
}

/// CLONEFD_IOC_GETPIDFD: a new pidfd for the child.
pub fn getpidfd(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let pidfd = ioctl(fd, IOC_GETPIDFD)?;
    // SAFETY: the ioctl succeeded, so `pidfd` is a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(pidfd) })
}
