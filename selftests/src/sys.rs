//! Thin wrappers over raw syscalls, numbered by the bindgen UAPI constants.

use std::ffi::c_void;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;

use crate::uapi;

/// Which side of a successful clone3() the caller is on.
pub enum Forked {
    Child,
    Parent(Pid),
}

/// `clone_args` followed by one more word, to see how clone3() treats
/// bytes beyond the struct it knows.
#[repr(C)]
#[derive(Default)]
pub struct CloneArgsWithTail {
    pub args: uapi::clone_args,
    pub tail: u64,
}

/// The `siginfo_t` fields of a child's state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    pub code: i32,
    pub pid: Pid,
    pub status: i32,
}

/// clone3(args, size). `size` is passed as is, so tests can lie about it.
///
/// # Safety
///
/// - Every pointer in `args` must be valid for what the flags make the
///   kernel do with it (e.g. `pidfd` must point to a writable `c_int` when
///   `CLONE_PIDFD` is set).
/// - As after fork(2): if the caller has other threads, the child may only
///   call async-signal-safe functions, and should end with [`exit_now`].
///
/// Panics if `size` exceeds `args`, which would let the kernel read past it.
pub unsafe fn clone3<T>(args: &mut T, size: usize) -> nix::Result<Forked> {
    assert!(size <= size_of::<T>(), "clone3 size {size} > buffer");
    // SAFETY: `args` is readable for `size` bytes (checked above); the
    // pointers inside it are the caller's contract.
    let ret = unsafe {
        libc::syscall(
            libc::c_long::from(uapi::__NR_clone3),
            ptr::from_mut(args),
            size,
        )
    };
    Ok(match Errno::result(ret)? {
        0 => Forked::Child,
        pid => Forked::Parent(Pid::from_raw(pid as libc::pid_t)),
    })
}

/// clone3() without flags, whose child, if one is created, exits with 0 at
/// once. Returns the child's pid, not yet reaped.
///
/// Safe: without flags the kernel writes through no pointer in `args`.
/// Panics if flags or a stack are set.
pub fn clone3_plain(args: &mut CloneArgsWithTail, size: usize) -> nix::Result<Pid> {
    assert!(args.args.flags == 0 && args.args.stack == 0);
    // SAFETY: no flags, no stack: the kernel only reads `args`; the child
    // only calls _exit().
    match unsafe { clone3(args, size) }? {
        Forked::Child => exit_now(0),
        Forked::Parent(pid) => Ok(pid),
    }
}

/// _exit(2): ends the process at once, without running any exit handler.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit() is async-signal-safe and takes no pointer.
    unsafe { libc::_exit(code) }
}

/// SYS_exit: ends the calling thread only (the process goes on while it
/// has other threads), with `code` as the thread's exit code.
pub fn exit_thread(code: i32) -> ! {
    // SAFETY: SYS_exit takes no pointer and does not return. The thread's
    // stack and TLS stay mapped: nothing of it is used any more.
    unsafe { libc::syscall(libc::SYS_exit, code) };
    unreachable!("SYS_exit returned")
}

/// A new file descriptor the kernel returned as a syscall result.
fn new_fd(ret: libc::c_long) -> nix::Result<OwnedFd> {
    let fd = RawFd::try_from(Errno::result(ret)?).map_err(|_| Errno::EOVERFLOW)?;
    // SAFETY: the syscall succeeded, so `fd` is a new open file descriptor
    // that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_open(pid, 0).
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: no memory is passed.
    new_fd(unsafe {
        libc::syscall(
            libc::c_long::from(uapi::__NR_pidfd_open),
            pid.as_raw(),
            0u32,
        )
    })
}

/// pidfd_getfd(pidfd, targetfd, 0): a copy of another process's fd.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, targetfd: RawFd) -> nix::Result<OwnedFd> {
    // SAFETY: no memory is passed.
    new_fd(unsafe {
        libc::syscall(
            libc::c_long::from(uapi::__NR_pidfd_getfd),
            pidfd.as_raw_fd(),
            targetfd,
            0u32,
        )
    })
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The capability numbers of CAP_KILL and CAP_SYS_ADMIN
/// (linux/capability.h).
pub const CAP_KILL: u32 = 5;
pub const CAP_SYS_ADMIN: u32 = 21;

/// `_LINUX_CAPABILITY_VERSION_3`: two `CapData`, capabilities 0-63.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The calling thread's capability sets (capget).
fn capget() -> nix::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 reads the header and writes two CapData.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capget,
            ptr::from_mut(&mut header),
            data.as_mut_ptr(),
        )
    };
    Errno::result(ret).map(|_| data)
}

/// Whether the capability `cap` (e.g. [`CAP_SYS_ADMIN`]) is in the
/// calling thread's effective set.
pub fn has_effective_cap(cap: u32) -> nix::Result<bool> {
    let data = capget()?;
    Ok(data[(cap / 32) as usize].effective & (1 << (cap % 32)) != 0)
}

/// Sets the calling thread's capability sets (capset).
fn capset(data: &[CapData; 2]) -> nix::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: version 3 reads the header and two CapData.
    let ret = unsafe { libc::syscall(libc::SYS_capset, ptr::from_mut(&mut header), data.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// Removes `cap` from the calling thread's effective set (capset); the
/// permitted set keeps it.
pub fn drop_effective_cap(cap: u32) -> nix::Result<()> {
    let mut data = capget()?;
    data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
    capset(&data)
}

/// Makes `caps` (capability numbers, each below 64) the calling thread's
/// effective and permitted sets, and empties its inheritable set: every
/// other capability is gone for good.
pub fn keep_only_caps(caps: &[u32]) -> nix::Result<()> {
    let mut data = [CapData::default(); 2];
    for &cap in caps {
        let set = &mut data[(cap / 32) as usize];
        set.effective |= 1 << (cap % 32);
        set.permitted |= 1 << (cap % 32);
    }
    capset(&data)
}

/// pidfd_send_signal(pidfd, signal, NULL, 0).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: Signal) -> nix::Result<()> {
    // SAFETY: a NULL siginfo is allowed, no other memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::c_long::from(uapi::__NR_pidfd_send_signal),
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    Errno::result(ret).map(drop)
}

/// waitid(P_PIDFD, pidfd, &info, flags).
pub fn waitid_pidfd(pidfd: BorrowedFd<'_>, flags: WaitPidFlag) -> nix::Result<SigInfo> {
    let mut info = empty_siginfo();
    // SAFETY: `info` is a writable siginfo_t.
    let ret = unsafe {
        libc::waitid(
            uapi::P_PIDFD as libc::idtype_t,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            flags.bits(),
        )
    };
    Errno::result(ret)?;
    Ok(child_siginfo(&info))
}

/// sigtimedwait(set, &info, timeout); EAGAIN once `timeout` has passed.
pub fn sigtimedwait(set: &SigSet, timeout: Duration) -> nix::Result<SigInfo> {
    let timeout = timespec(timeout);
    let mut info = empty_siginfo();
    // SAFETY: all three pointers are valid for the call.
    let ret = unsafe { libc::sigtimedwait(set.as_ref(), &mut info, &timeout) };
    Errno::result(ret)?;
    Ok(child_siginfo(&info))
}

/// futex(word, FUTEX_WAIT, expected, timeout): sleeps while `*word` is
/// `expected`, for at most `timeout` (relative). EAGAIN if `*word` was not
/// `expected`, ETIMEDOUT, EINTR: the caller loops on the word's value.
///
/// A shared futex (no FUTEX_PRIVATE_FLAG): the wake-up that
/// CLONE_CHILD_CLEARTID does when a child exits is a shared one, and a
/// private waiter would not match it.
pub fn futex_wait(word: &AtomicI32, expected: i32, timeout: Duration) -> nix::Result<()> {
    let timeout = timespec(timeout);
    // SAFETY: `word` is a live, aligned 32-bit word; `timeout` is a valid
    // timespec; FUTEX_WAIT reads neither uaddr2 nor val3.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ptr::from_ref(&timeout),
            ptr::null::<u32>(),
            0u32,
        )
    };
    Errno::result(ret).map(drop)
}

fn timespec(duration: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: duration.as_secs().try_into().unwrap_or(libc::time_t::MAX),
        tv_nsec: duration.subsec_nanos().into(),
    }
}

/// An anonymous private mapping, unmapped when dropped.
pub struct Mapping {
    addr: NonNull<c_void>,
    size: usize,
}

impl Mapping {
    /// mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags).
    pub fn new(size: usize, prot: libc::c_int, extra_flags: libc::c_int) -> nix::Result<Self> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags;
        // SAFETY: a new anonymous mapping at an address the kernel picks
        // replaces nothing.
        let addr = unsafe { libc::mmap(ptr::null_mut(), size, prot, flags, -1, 0) };
        if addr == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let addr = NonNull::new(addr).ok_or(Errno::EINVAL)?;
        Ok(Mapping { addr, size })
    }

    /// A readable and writable mapping for a child's stack.
    pub fn stack(size: usize) -> nix::Result<Self> {
        Self::new(size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_STACK)
    }

    pub fn as_ptr(&self) -> *mut c_void {
        self.addr.as_ptr()
    }

    /// The lowest address.
    pub fn addr(&self) -> usize {
        self.addr.as_ptr() as usize
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// One past the highest address.
    pub fn end(&self) -> usize {
        self.addr() + self.size
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing borrows it any more (no
        // reference into it outlives `self`).
        unsafe { libc::munmap(self.addr.as_ptr(), self.size) };
    }
}

fn empty_siginfo() -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain data; all-zero bytes are a valid value.
    unsafe { zeroed() }
}

/// Reads `info` as a child state change (the SIGCHLD layout).
fn child_siginfo(info: &libc::siginfo_t) -> SigInfo {
    // SAFETY: `info` is initialized (zeroed, then filled by the kernel), so
    // reading the pid/status union members is defined whatever the layout.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    SigInfo {
        signo: info.si_signo,
        code: info.si_code,
        pid: Pid::from_raw(pid),
        status,
    }
}
