//! Thin wrappers over raw syscalls, numbered by the bindgen UAPI constants.

use std::ffi::c_void;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd};
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
