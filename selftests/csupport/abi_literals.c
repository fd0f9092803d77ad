// SPDX-License-Identifier: GPL-2.0
/*
 * The clone4() ABI as literal numbers, checked against the UAPI headers
 * under test at compile time (build.rs compiles this file with
 * -fsyntax-only: it produces no code).
 *
 * The numbers come from the man page (man/man2/clone4.2), not from a
 * header, so that a header and a kernel that drift together fail the
 * build. src/abi_literals.rs checks the same numbers on the Rust side,
 * where bindgen's output is used; this file covers what bindgen does not
 * evaluate (the _IO() ioctl numbers) and the C compiler's own view of the
 * structures.
 *
 * Shown failing: with 0xC403 for CLONEFD_IOC_GETPIDFD, cargo build stops
 * with "static assertion failed: CLONEFD_IOC_GETPIDFD is _IO(0xC4, 2)".
 */
#include <stddef.h>
#include <linux/types.h>
#include <linux/sched.h>
#include <linux/clonefd.h>
#include <asm/unistd.h>

#define LITERAL(cond, what) _Static_assert(cond, what)

LITERAL(__NR_clone4 == 463, "__NR_clone4 is 463");

LITERAL(CLONE_FD == 0x2000000000ULL, "CLONE_FD is bit 37");
LITERAL(CLONE_CLEAR_SIGHAND == 0x100000000ULL, "CLONE_CLEAR_SIGHAND is bit 32");
LITERAL(CLONE_INTO_CGROUP == 0x200000000ULL, "CLONE_INTO_CGROUP is bit 33");
LITERAL(CLONEFD_CLOEXEC == 0x01, "CLONEFD_CLOEXEC is 0x01");
LITERAL(CLONEFD_NONBLOCK == 0x02, "CLONEFD_NONBLOCK is 0x02");
LITERAL(CLONEFD_KILL_ON_CLOSE == 0x04, "CLONEFD_KILL_ON_CLOSE is 0x04");

LITERAL(CLONEFD_IOC_MAGIC == 0xC4, "CLONEFD_IOC_MAGIC is 0xC4");
LITERAL(CLONEFD_IOC_GETPID == 0xC401, "CLONEFD_IOC_GETPID is _IO(0xC4, 1)");
LITERAL(CLONEFD_IOC_GETPIDFD == 0xC402, "CLONEFD_IOC_GETPIDFD is _IO(0xC4, 2)");

LITERAL(CLONE4_ARGS_SIZE_VER0 == 40, "CLONE4_ARGS_SIZE_VER0 is 40");
LITERAL(CLONE4_ARGS_SIZE_VER1 == 48, "CLONE4_ARGS_SIZE_VER1 is 48");
LITERAL(sizeof(struct clone4_args) == 48, "sizeof(struct clone4_args) is 48");
LITERAL(_Alignof(struct clone4_args) == 8, "struct clone4_args is 8-byte aligned");
LITERAL(offsetof(struct clone4_args, ptid) == 0, "ptid is at 0");
LITERAL(offsetof(struct clone4_args, ctid) == 8, "ctid is at 8");
LITERAL(offsetof(struct clone4_args, stack_start) == 16, "stack_start is at 16");
LITERAL(offsetof(struct clone4_args, stack_size) == 24, "stack_size is at 24");
LITERAL(offsetof(struct clone4_args, tls) == 32, "tls is at 32");
LITERAL(offsetof(struct clone4_args, clonefd) == 40, "clonefd is at 40");

LITERAL(CLONEFD_INFO_SIZE_VER0 == 24, "CLONEFD_INFO_SIZE_VER0 is 24");
LITERAL(CLONEFD_INFO_SIZE_VER1 == 80, "CLONEFD_INFO_SIZE_VER1 is 80");
LITERAL(sizeof(struct clonefd_info) == 80, "sizeof(struct clonefd_info) is 80");
LITERAL(offsetof(struct clonefd_info, code) == 0, "code is at 0");
LITERAL(offsetof(struct clonefd_info, status) == 4, "status is at 4");
LITERAL(offsetof(struct clonefd_info, utime) == 8, "utime is at 8");
LITERAL(offsetof(struct clonefd_info, stime) == 16, "stime is at 16");
LITERAL(offsetof(struct clonefd_info, utime_ns) == 24, "utime_ns is at 24");
LITERAL(offsetof(struct clonefd_info, stime_ns) == 32, "stime_ns is at 32");
LITERAL(offsetof(struct clonefd_info, maxrss) == 40, "maxrss is at 40");
LITERAL(offsetof(struct clonefd_info, minflt) == 48, "minflt is at 48");
LITERAL(offsetof(struct clonefd_info, majflt) == 56, "majflt is at 56");
LITERAL(offsetof(struct clonefd_info, nvcsw) == 64, "nvcsw is at 64");
LITERAL(offsetof(struct clonefd_info, nivcsw) == 72, "nivcsw is at 72");
LITERAL(sizeof(((struct clonefd_info *)0)->code) == 4, "code is a __u32");
LITERAL(sizeof(((struct clonefd_info *)0)->status) == 4, "status is a __u32");
LITERAL(sizeof(((struct clonefd_info *)0)->nivcsw) == 8, "nivcsw is a __u64");
