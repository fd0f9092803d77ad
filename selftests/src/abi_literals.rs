//! The clone4() ABI as literal numbers, checked at compile time.
//!
//! Everything else in the crate takes the ABI from the UAPI headers under
//! test (bindgen, `src/uapi.rs`), so a header and a kernel that drift
//! together would still pass every test. The numbers here are copied from
//! the man page (`man/man2/clone4.2`: VERSIONS for the syscall number,
//! Flags and DESCRIPTION for the flags, the structures' listings and size
//! tables), never from a header: a build against headers that say
//! otherwise stops with the assertion that broke.
//!
//! The header's ioctl numbers (`CLONEFD_IOC_GETPID` and
//! `CLONEFD_IOC_GETPIDFD`, function-like `_IO()` macros that bindgen does
//! not evaluate) are checked against the same literals by
//! `csupport/abi_literals.c`, which build.rs compiles against the headers.
//!
//! Shown failing: with the literal 464 for `__NR_clone4`, `cargo build`
//! stops with `error[E0080]: evaluation panicked: __NR_clone4 is not 463`.

use std::mem::{align_of, offset_of, size_of};

use crate::clone4::Clone4Args;
use crate::clonefd::{self, ClonefdInfo};
use crate::uapi;

/// Fails the build, with `what` as the message, unless `ok`.
macro_rules! literal {
    ($ok:expr, $what:literal) => {
        const _: () = assert!($ok, $what);
    };
}

// VERSIONS: "system call 463 on x86_64 and i386".
literal!(uapi::__NR_clone4 == 463, "__NR_clone4 is not 463");
// Mainline numbers the tests use with it.
literal!(uapi::__NR_clone3 == 435, "__NR_clone3 is not 435");
literal!(uapi::__NR_pidfd_open == 434, "__NR_pidfd_open is not 434");
literal!(uapi::__NR_pidfd_getfd == 438, "__NR_pidfd_getfd is not 438");
literal!(
    uapi::__NR_pidfd_send_signal == 424,
    "__NR_pidfd_send_signal is not 424"
);

// Flags: "CLONE_FD (bit 37, bit 5 of flags_high)".
literal!(uapi::CLONE_FD == 1 << 37, "CLONE_FD is not bit 37");
literal!(
    uapi::CLONE_FD == 0x20_0000_0000,
    "CLONE_FD is not 0x2000000000"
);
literal!(
    clonefd::CLONE_FD == 1 << 37,
    "clonefd::CLONE_FD is not bit 37"
);
// "CLONE_CLEAR_SIGHAND (bit 32)"; CLONE_INTO_CGROUP (bit 33), CLONE_PIDFD
// and CLONE_DETACHED are rejected; CLONE_NEWTIME's bit is 0x80.
literal!(
    uapi::CLONE_CLEAR_SIGHAND == 1 << 32,
    "CLONE_CLEAR_SIGHAND is not bit 32"
);
literal!(
    uapi::CLONE_INTO_CGROUP == 1 << 33,
    "CLONE_INTO_CGROUP is not bit 33"
);
literal!(uapi::CLONE_PIDFD == 0x1000, "CLONE_PIDFD is not 0x1000");
literal!(
    uapi::CLONE_DETACHED == 0x0040_0000,
    "CLONE_DETACHED is not 0x400000"
);
literal!(uapi::CLONE_NEWTIME == 0x80, "CLONE_NEWTIME is not 0x80");
literal!(uapi::CLONE_PARENT == 0x8000, "CLONE_PARENT is not 0x8000");
literal!(
    uapi::CLONE_THREAD == 0x1_0000,
    "CLONE_THREAD is not 0x10000"
);

// The low byte with CLONE_FD: CLOEXEC 0x01, NONBLOCK 0x02, KILL_ON_CLOSE 0x04.
literal!(uapi::CLONEFD_CLOEXEC == 0x01, "CLONEFD_CLOEXEC is not 0x01");
literal!(
    uapi::CLONEFD_NONBLOCK == 0x02,
    "CLONEFD_NONBLOCK is not 0x02"
);
literal!(
    uapi::CLONEFD_KILL_ON_CLOSE == 0x04,
    "CLONEFD_KILL_ON_CLOSE is not 0x04"
);
literal!(clonefd::CLOEXEC == 0x01, "clonefd::CLOEXEC is not 0x01");
literal!(clonefd::NONBLOCK == 0x02, "clonefd::NONBLOCK is not 0x02");
literal!(
    clonefd::KILL_ON_CLOSE == 0x04,
    "clonefd::KILL_ON_CLOSE is not 0x04"
);

// The ioctl()s: _IO(0xC4, 1) and _IO(0xC4, 2), i.e. 0xC401 and 0xC402
// (_IO: no direction, no size, type << 8 | nr).
literal!(
    uapi::CLONEFD_IOC_MAGIC == 0xC4,
    "CLONEFD_IOC_MAGIC is not 0xC4"
);
literal!(
    clonefd::IOC_GETPID == 0xC401,
    "CLONEFD_IOC_GETPID is not 0xC401"
);
literal!(
    clonefd::IOC_GETPIDFD == 0xC402,
    "CLONEFD_IOC_GETPIDFD is not 0xC402"
);

// struct clone4_args: six u64 fields, 40 bytes up to tls (VER0), 48 with
// clonefd (VER1), one layout on every architecture.
literal!(
    uapi::CLONE4_ARGS_SIZE_VER0 == 40,
    "CLONE4_ARGS_SIZE_VER0 is not 40"
);
literal!(
    uapi::CLONE4_ARGS_SIZE_VER1 == 48,
    "CLONE4_ARGS_SIZE_VER1 is not 48"
);
literal!(
    size_of::<Clone4Args>() == 48,
    "sizeof(struct clone4_args) is not 48"
);
literal!(
    align_of::<Clone4Args>() == 8,
    "struct clone4_args is not 8-byte aligned"
);
literal!(offset_of!(Clone4Args, ptid) == 0, "ptid is not at 0");
literal!(offset_of!(Clone4Args, ctid) == 8, "ctid is not at 8");
literal!(
    offset_of!(Clone4Args, stack_start) == 16,
    "stack_start is not at 16"
);
literal!(
    offset_of!(Clone4Args, stack_size) == 24,
    "stack_size is not at 24"
);
literal!(offset_of!(Clone4Args, tls) == 32, "tls is not at 32");
literal!(
    offset_of!(Clone4Args, clonefd) == 40,
    "clonefd is not at 40"
);
/// Every field of `clone4_args` is a u64 (a wider or narrower one fails to
/// compile here).
const _: fn(&Clone4Args) -> [u64; 6] = |a| {
    [
        a.ptid,
        a.ctid,
        a.stack_start,
        a.stack_size,
        a.tls,
        a.clonefd,
    ]
};

// struct clonefd_info: code and status (u32), then u64s; 24 bytes up to
// stime (VER0), 80 with utime_ns to nivcsw (VER1).
literal!(
    uapi::CLONEFD_INFO_SIZE_VER0 == 24,
    "CLONEFD_INFO_SIZE_VER0 is not 24"
);
literal!(
    uapi::CLONEFD_INFO_SIZE_VER1 == 80,
    "CLONEFD_INFO_SIZE_VER1 is not 80"
);
literal!(clonefd::INFO_VER0 == 24, "clonefd::INFO_VER0 is not 24");
literal!(clonefd::INFO_VER1 == 80, "clonefd::INFO_VER1 is not 80");
literal!(
    size_of::<ClonefdInfo>() == 80,
    "sizeof(struct clonefd_info) is not 80"
);
literal!(
    align_of::<ClonefdInfo>() == 8,
    "struct clonefd_info is not 8-byte aligned"
);
literal!(offset_of!(ClonefdInfo, code) == 0, "code is not at 0");
literal!(offset_of!(ClonefdInfo, status) == 4, "status is not at 4");
literal!(offset_of!(ClonefdInfo, utime) == 8, "utime is not at 8");
literal!(offset_of!(ClonefdInfo, stime) == 16, "stime is not at 16");
literal!(
    offset_of!(ClonefdInfo, utime_ns) == 24,
    "utime_ns is not at 24"
);
literal!(
    offset_of!(ClonefdInfo, stime_ns) == 32,
    "stime_ns is not at 32"
);
literal!(offset_of!(ClonefdInfo, maxrss) == 40, "maxrss is not at 40");
literal!(offset_of!(ClonefdInfo, minflt) == 48, "minflt is not at 48");
literal!(offset_of!(ClonefdInfo, majflt) == 56, "majflt is not at 56");
literal!(offset_of!(ClonefdInfo, nvcsw) == 64, "nvcsw is not at 64");
literal!(offset_of!(ClonefdInfo, nivcsw) == 72, "nivcsw is not at 72");
/// The fields' types: two u32, nine u64.
const _: fn(&ClonefdInfo) -> ([u32; 2], [u64; 9]) = |i| {
    (
        [i.code, i.status],
        [
            i.utime, i.stime, i.utime_ns, i.stime_ns, i.maxrss, i.minflt, i.majflt, i.nvcsw,
            i.nivcsw,
        ],
    )
};
