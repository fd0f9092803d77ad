//! Syscalls without libc, for the child between clone and execve, and the
//! clone trampoline that starts that child on a stack of its own.
//!
//! The child shares our memory (CLONE_VM) and our thread pointer, and runs
//! while the parent thread is suspended (CLONE_VFORK). It must not touch
//! libc state, not even `errno`: these functions return `-errno` instead.

use std::arch::asm;
use std::ffi::{c_long, c_void};

use crate::child_setup::child_main;

/// A syscall result: the value, or `-errno` (-4095..=-1).
pub(crate) type RawResult = isize;

/// syscall(nr, a1).
///
/// # Safety
///
/// Whatever syscall `nr` does with its arguments.
#[inline(always)]
pub(crate) unsafe fn syscall1(nr: c_long, a1: usize) -> RawResult {
    let ret: isize;
    // SAFETY: the caller's contract; `syscall` clobbers rcx and r11 only.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// syscall(nr, a1, a2).
///
/// # Safety
///
/// Whatever syscall `nr` does with its arguments.
#[inline(always)]
pub(crate) unsafe fn syscall2(nr: c_long, a1: usize, a2: usize) -> RawResult {
    let ret: isize;
    // SAFETY: as syscall1.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// syscall(nr, a1, a2, a3).
///
/// # Safety
///
/// Whatever syscall `nr` does with its arguments.
#[inline(always)]
pub(crate) unsafe fn syscall3(nr: c_long, a1: usize, a2: usize, a3: usize) -> RawResult {
    let ret: isize;
    // SAFETY: as syscall1.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// syscall(nr, a1, a2, a3, a4).
///
/// # Safety
///
/// Whatever syscall `nr` does with its arguments.
#[inline(always)]
pub(crate) unsafe fn syscall4(nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> RawResult {
    let ret: isize;
    // SAFETY: as syscall1.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// exit(code) of the calling thread (the vfork child is a thread group
/// of its own): no atexit handlers, no stdio flush, no libc.
pub(crate) fn exit_now(code: i32) -> ! {
    loop {
        // SAFETY: exit() takes no pointer and does not return.
        unsafe { syscall1(libc::SYS_exit, code as usize) };
    }
}

/// `syscall(nr, a1, a2, a3, a4)` for clone3 or clone4, whose child starts
/// on the stack the arguments give it and runs [`child_main`]`(setup)`,
/// which never returns. Returns the syscall's result in the parent
/// (`-errno` on failure).
///
/// The child gets `setup` in r12, which the kernel copies with the other
/// registers, and aligns its new stack pointer before the call.
///
/// # Safety
///
/// The arguments must give the child a stack in memory that stays mapped
/// until it has exec'ed or exited (CLONE_VM|CLONE_VFORK: until this
/// returns), and `setup` must point to a `ChildSetup` that stays valid as
/// long, as [`child_main`] requires.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn clone_on_stack(
    nr: c_long,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    setup: *const c_void,
) -> RawResult {
    std::arch::naked_asm!(
        "push r12",
        "mov r12, r9",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "mov rdx, rcx",
        "mov r10, r8",
        "syscall",
        "test rax, rax",
        "jz 2f",
        "pop r12",
        "ret",
        "2:",
        "xor ebp, ebp",
        "and rsp, -16",
        "mov rdi, r12",
        "call {child}",
        "ud2",
        child = sym child_main,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_syscalls_return_minus_errno() {
        // SAFETY: close() of an fd that cannot be open.
        assert_eq!(
            unsafe { syscall1(libc::SYS_close, 1 << 30) },
            -(libc::EBADF as isize)
        );
        // SAFETY: getpid() takes no argument.
        let pid = unsafe { syscall1(libc::SYS_getpid, 0) };
        assert_eq!(pid, std::process::id() as isize);
    }
}
