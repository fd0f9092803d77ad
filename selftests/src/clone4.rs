//! clone4(): the raw syscall, and children on a stack of their own.
//!
//! `long clone4(unsigned int flags_high, unsigned int flags_low,
//! unsigned long args_size, struct clone4_args *args)`: the 64 clone flags
//! come as two 32-bit halves, the exit signal in the low byte of
//! `flags_low`.
//!
//! - [`clone4_regs`]: the syscall through `libc::syscall`; the
//!   child returns from it like a fork(2) child, on the caller's stack
//!   ([`clone4_syscall`]: its raw result, for CLONE_FD's fd).
//! - [`fork_like`], [`fork_like_regs`]: such a child, which runs a closure
//!   and `_exit()`s with its result.
//! - [`clone3_on_stack`]: the same for clone3(), with `c4_raw_clone3()`.
//! - [`clone_on_stack`]: `c4_raw_clone4()` from `csupport/raw_clone.c`,
//!   whose child runs a C function ([`c4_child_report`],
//!   [`c4_child_report_tls`], [`c4_child_wait_pipe`]) on a new stack and
//!   exits with SYS_exit: for CLONE_VM children and threads, which must
//!   not run Rust code on the caller's stack.

use std::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use std::mem::size_of;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::sys::{self, Forked};
use crate::uapi;

pub use crate::uapi::clone4_args as Clone4Args;

/// The flags with which a child must not resume in Rust code on the
/// caller's stack: it would share the caller's memory, or lose the TLS
/// that Rust and libc use.
const NOT_FORK_LIKE: u64 = (uapi::CLONE_VM | uapi::CLONE_SETTLS) as u64;

/// `flags` as clone4() takes them: (bits 32-63, bits 0-31).
pub fn split(flags: u64) -> (u32, u32) {
    ((flags >> 32) as u32, flags as u32)
}

/// clone4() with each flags register given as a full 64-bit value, so a
/// test can put garbage above the 32 bits the kernel takes. `size` and
/// `args` are passed as they are, so tests can lie about them; the
/// registers of the unused 5th and 6th arguments are 0.
///
/// # Safety
///
/// - The kernel reads `size` bytes at `args` (an unreadable range is
///   EFAULT, not undefined behaviour). Every pointer in that struct must be
///   valid for what the flags make the kernel do with it (e.g. `ptid` must
///   point to a writable `i32` when CLONE_PARENT_SETTID is set).
/// - The child resumes here, on (a copy of) the caller's stack: the flags
///   must not include CLONE_VM, CLONE_SETTLS or what requires CLONE_VM, and
///   the struct must not give the child a stack (`stack_start` and
///   `stack_size` 0). [`clone_on_stack`] is for such children.
/// - As after fork(2): if the caller has other threads, the child may only
///   call async-signal-safe functions, and should end with
///   [`sys::exit_now`].
pub unsafe fn clone4_regs(
    flags_high: u64,
    flags_low: u64,
    size: usize,
    args: *const c_void,
) -> nix::Result<Forked> {
    // SAFETY: the caller's contract, passed on.
    Ok(
        match unsafe { clone4_syscall(flags_high, flags_low, size, args) }? {
            0 => Forked::Child,
            pid => Forked::Parent(Pid::from_raw(pid as libc::pid_t)),
        },
    )
}

/// clone4() as [`clone4_regs`], returning its raw result: 0 in the child;
/// in the parent the child's pid, or with CLONE_FD (and `clonefd` 0) the
/// file descriptor.
///
/// # Safety
///
/// As [`clone4_regs`].
pub unsafe fn clone4_syscall(
    flags_high: u64,
    flags_low: u64,
    size: usize,
    args: *const c_void,
) -> nix::Result<c_long> {
    // SAFETY: the caller's contract; the kernel reads `args` and writes
    // only through the pointers in it that the flags select.
    let ret = unsafe {
        libc::syscall(
            c_long::from(uapi::__NR_clone4),
            flags_high,
            flags_low,
            size,
            args,
            0u64,
            0u64,
        )
    };
    Errno::result(ret)
}

/// clone4(flags, size, args) as fork(2): the child runs `child` and
/// `_exit()`s with what it returns. Returns the child's pid, not reaped.
///
/// # Safety
///
/// As [`clone4_regs`]. Panics if `flags` include CLONE_VM or CLONE_SETTLS.
pub unsafe fn fork_like(
    flags: u64,
    size: usize,
    args: *const c_void,
    child: impl FnOnce() -> i32,
) -> nix::Result<Pid> {
    let (high, low) = split(flags);
    // SAFETY: the caller's contract, passed on.
    unsafe { fork_like_regs(high.into(), low.into(), size, args, child) }
}

/// [`fork_like`] with each flags register given as a full 64-bit value.
///
/// # Safety
///
/// As [`clone4_regs`]. Panics if the flags, as the kernel reads them (32
/// bits of each register), include CLONE_VM or CLONE_SETTLS.
pub unsafe fn fork_like_regs(
    flags_high: u64,
    flags_low: u64,
    size: usize,
    args: *const c_void,
    child: impl FnOnce() -> i32,
) -> nix::Result<Pid> {
    assert_fork_like(flags_low as u32);
    // SAFETY: the caller's contract; the flags leave the child a copy of
    // the address space and of the thread pointer, so it may run Rust code.
    let forked = unsafe { clone4_regs(flags_high, flags_low, size, args) }?;
    Ok(run_child(forked, child))
}

pub(crate) fn assert_fork_like(flags_low: u32) {
    assert!(
        u64::from(flags_low) & NOT_FORK_LIKE == 0,
        "fork_like: flags {flags_low:#x} would share memory or TLS with the child"
    );
}

/// In the child, runs `child` and exits; in the parent, the child's pid.
fn run_child(forked: Forked, child: impl FnOnce() -> i32) -> Pid {
    match forked {
        Forked::Child => sys::exit_now(child()),
        Forked::Parent(pid) => pid,
    }
}

/// `struct c4_child_report` (csupport/raw_clone.c): what a
/// [`c4_child_report`] or [`c4_child_report_tls`] child saw.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChildReport {
    /// The address of a local variable of the child: inside its stack.
    pub stack_addr: c_ulong,
    /// The word at `%fs:0` (only [`c4_child_report_tls`] sets it).
    pub tls: c_ulong,
    /// gettid() in the child.
    pub tid: c_long,
    /// 1 once the child ran.
    pub ran: c_uint,
}

/// A C child body for [`clone_on_stack`]: gets the `arg` given there, runs
/// on the child's new stack, and its result is the child's exit code.
pub type ChildFn = unsafe extern "C" fn(arg: *mut c_void) -> c_int;

extern "C" {
    /// clone4(flags_high, flags_low, args_size, args); the child calls
    /// `child(arg)` on its new stack and exits with SYS_exit. Returns the
    /// child's PID/TID, or -errno.
    fn c4_raw_clone4(
        flags_high: c_uint,
        flags_low: c_uint,
        args_size: c_ulong,
        args: *const Clone4Args,
        child: ChildFn,
        arg: *mut c_void,
    ) -> c_long;

    /// clone3(args, size); the child calls `child(arg)` on the stack args
    /// gives it and exits with SYS_exit. Returns the child's PID/TID, or
    /// -errno.
    fn c4_raw_clone3(
        args: *const uapi::clone_args,
        size: c_ulong,
        child: ChildFn,
        arg: *mut c_void,
    ) -> c_long;

    /// Child body: fills the [`ChildReport`] at `arg` (not `tls`); exits 0.
    pub fn c4_child_report(arg: *mut c_void) -> c_int;

    /// Child body: as [`c4_child_report`], and `tls` too (the child must
    /// have a TLS block: CLONE_SETTLS, or the caller's); exits 0.
    pub fn c4_child_report_tls(arg: *mut c_void) -> c_int;

    /// Child body: waits for a byte on the [`PipeGate`] at `arg`, then
    /// exits with its `code` (1 if the pipe reached EOF instead).
    pub fn c4_child_wait_pipe(arg: *mut c_void) -> c_int;

    /// Child body: waits for a byte on the pipe of the [`ExecGate`] at
    /// `arg`, then execve()s its program (exits 1 on EOF, 2 if execve()
    /// failed).
    pub fn c4_child_wait_exec(arg: *mut c_void) -> c_int;
}

/// `struct c4_exec_gate` (csupport/raw_clone.c): the argument of
/// [`c4_child_wait_exec`]. Every pointer must stay valid until the child
/// has exec'ed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ExecGate {
    /// The read end of a pipe the child waits on.
    pub fd: c_int,
    /// The program to execve().
    pub path: *const std::ffi::c_char,
    /// Its NULL-terminated argument and environment vectors.
    pub argv: *const *const std::ffi::c_char,
    pub envp: *const *const std::ffi::c_char,
}

/// `struct c4_pipe_gate` (csupport/raw_clone.c): the argument of
/// [`c4_child_wait_pipe`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PipeGate {
    /// The read end of a pipe the child waits on.
    pub fd: c_int,
    /// The child's exit code once a byte came.
    pub code: c_int,
}

/// clone4(flags, sizeof(*args), args) whose child runs `child(arg)` on the
/// stack `args` gives it, then exits with SYS_exit and `child`'s result.
/// Returns the child's PID (its TID for CLONE_THREAD), not reaped.
///
/// # Safety
///
/// - `args` gives the child a stack (`stack_start`, with `stack_size` or
///   as the stack pointer) in writable memory that nothing else uses, and
///   with CLONE_VM that stays mapped until the child has exited (or its
///   ctid was cleared). Without CLONE_VM the child gets a copy, so a zero
///   `stack_start` (the caller's stack) is fine too.
/// - Every pointer in `args` is valid for what the flags make the kernel
///   do with it (`ptid`, `ctid`: writable `i32`s, `ctid` until the child
///   has exited with CLONE_CHILD_CLEARTID; `tls`: a TLS block as `child`
///   uses it).
/// - `arg` is valid for what `child` does with it, until the child is done.
pub unsafe fn clone_on_stack(
    flags: u64,
    args: &Clone4Args,
    child: ChildFn,
    arg: *mut c_void,
) -> nix::Result<Pid> {
    let (high, low) = split(flags);
    // SAFETY: `args` is readable for its size; the child runs `child` on
    // its own stack and never returns here; the rest is the caller's
    // contract.
    let ret = unsafe {
        c4_raw_clone4(
            high,
            low,
            size_of::<Clone4Args>() as c_ulong,
            args,
            child,
            arg,
        )
    };
    if ret < 0 {
        Err(Errno::from_raw(-ret as i32))
    } else {
        Ok(Pid::from_raw(ret as libc::pid_t))
    }
}

/// clone3(args, sizeof(*args)) whose child runs `child(arg)` on the stack
/// `args` gives it (`stack`, `stack_size`), then exits with SYS_exit and
/// `child`'s result. Returns the child's PID (TID for CLONE_THREAD), not
/// reaped.
///
/// # Safety
///
/// As [`clone_on_stack`], for the fields of `struct clone_args`: the stack
/// is writable memory nothing else uses, and stays mapped until the child
/// is done with CLONE_VM; every pointer is valid for what the flags make
/// the kernel do with it; `arg` is valid for what `child` does with it.
pub unsafe fn clone3_on_stack(
    args: &uapi::clone_args,
    child: ChildFn,
    arg: *mut c_void,
) -> nix::Result<Pid> {
    // SAFETY: `args` is readable for its size; the child runs `child` on
    // its own stack and never returns here; the rest is the caller's
    // contract.
    let ret = unsafe { c4_raw_clone3(args, size_of::<uapi::clone_args>() as c_ulong, child, arg) };
    if ret < 0 {
        Err(Errno::from_raw(-ret as i32))
    } else {
        Ok(Pid::from_raw(ret as libc::pid_t))
    }
}
