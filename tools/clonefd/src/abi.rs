//! The kernel ABI this crate speaks: syscall numbers, flags and structures
//! of clone4(2) with CLONE_FD (the patch series' `<linux/sched.h>` and
//! `<linux/clonefd.h>`), and of the clone3(2) + pidfd fallback.
//!
//! x86_64 only: the syscall numbers and the clone trampoline
//! (`raw_syscall.rs`) are that architecture's.

use std::mem::size_of;

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("the clonefd crate supports Linux on x86_64 only");

/// clone4(flags_high, flags_low, size, args): 463 in the series. Mainline
/// gave 463 to setxattrat(2), so it is called only after
/// [`crate::Backend::detect`] recognised the patched kernel.
pub(crate) const SYS_CLONE4: i64 = 463;
pub(crate) const SYS_CLONE3: i64 = libc::SYS_clone3;

pub(crate) const CLONE_VM: u64 = 0x100;
pub(crate) const CLONE_VFORK: u64 = 0x4000;
pub(crate) const CLONE_PIDFD: u64 = 0x1000;
/// Reset every handled signal to SIG_DFL in the child (ignored ones stay
/// ignored): the child shares our memory, it must never run our handlers.
pub(crate) const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
/// Bit 37: report the child through a file descriptor.
pub(crate) const CLONE_FD: u64 = 0x20_0000_0000;

/// With CLONE_FD, the low byte of the flags holds these.
pub(crate) const CLONEFD_CLOEXEC: u64 = 0x01;
pub(crate) const CLONEFD_KILL_ON_CLOSE: u64 = 0x04;

/// `_IO(0xC4, 1)`: the child's pid in the caller's pid namespace.
pub(crate) const CLONEFD_IOC_GETPID: libc::c_ulong = 0xC401;
/// `_IO(0xC4, 2)`: a new pidfd (O_CLOEXEC) for the child.
pub(crate) const CLONEFD_IOC_GETPIDFD: libc::c_ulong = 0xC402;

/// `P_PIDFD` for waitid(2) (Linux 5.4).
pub(crate) const P_PIDFD: libc::idtype_t = 3;

/// `struct clone4_args` (CLONE4_ARGS_SIZE_VER1: 48 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Clone4Args {
    pub ptid: u64,
    pub ctid: u64,
    /// Lowest byte of the child's stack (with a nonzero `stack_size`).
    pub stack_start: u64,
    pub stack_size: u64,
    pub tls: u64,
    /// Address of the `int` that receives the CLONE_FD descriptor.
    pub clonefd: u64,
}

/// `struct clone_args` up to `tls` (CLONE_ARGS_SIZE_VER0: 64 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CloneArgs {
    pub flags: u64,
    /// Address of the `int` that receives the CLONE_PIDFD descriptor.
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    /// 0: the child sends no signal when it exits (a "clone" child).
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
}

/// `struct clonefd_info`, what read(2) on the CLONE_FD descriptor returns
/// once the child has exited (CLONEFD_INFO_SIZE_VER1: 80 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClonefdInfo {
    /// CLD_EXITED, CLD_KILLED or CLD_DUMPED.
    pub code: u32,
    /// Exit status, or the number of the signal.
    pub status: u32,
    /// CPU times in clock ticks (with waited-for grandchildren).
    pub utime: u64,
    pub stime: u64,
    // End of CLONEFD_INFO_SIZE_VER0.
    pub utime_ns: u64,
    pub stime_ns: u64,
    /// KiB.
    pub maxrss: u64,
    pub minflt: u64,
    pub majflt: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
}

pub(crate) const CLONEFD_INFO_SIZE_VER0: usize = 24;
pub(crate) const CLONEFD_INFO_SIZE_VER1: usize = 80;

const _: () = assert!(size_of::<Clone4Args>() == 48);
const _: () = assert!(size_of::<CloneArgs>() == 64);
const _: () = assert!(size_of::<ClonefdInfo>() == CLONEFD_INFO_SIZE_VER1);

/// Splits 64 clone flags into clone4()'s (flags_high, flags_low).
pub(crate) fn split_flags(flags: u64) -> (u32, u32) {
    ((flags >> 32) as u32, flags as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_fd_is_bit_5_of_flags_high() {
        assert_eq!(split_flags(CLONE_FD), (1 << 5, 0));
        assert_eq!(CLONE_FD, 1 << 37);
    }

    #[test]
    fn clear_sighand_is_bit_0_of_flags_high() {
        let flags = CLONE_CLEAR_SIGHAND | CLONE_VM | CLONE_VFORK | CLONEFD_CLOEXEC;
        assert_eq!(split_flags(flags), (1, 0x4101));
    }

    #[test]
    fn ioctl_numbers_are_io_c4() {
        // _IO(type, nr) = (type << 8) | nr, no direction, no size.
        assert_eq!(CLONEFD_IOC_GETPID, (0xC4 << 8) | 1);
        assert_eq!(CLONEFD_IOC_GETPIDFD, (0xC4 << 8) | 2);
    }
}
