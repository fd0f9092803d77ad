// SPDX-License-Identifier: GPL-2.0
/* clonefd_bench: syscalls, the clone trampoline, limits and checks. */
#include "bench.h"

#include <err.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long clone4(uint64_t flags, unsigned long size, struct clone4_args *args)
{
	return syscall(__NR_clone4, (unsigned int)(flags >> 32),
		       (unsigned int)flags, size, args);
}

long clone3(struct clone_args *args)
{
	return syscall(__NR_clone3, args, sizeof(*args));
}

/*
 * syscall(nr, a1..a4); in the child (return value 0), run `prog` in
 * registers only: it neither touches the stack nor returns, so it may
 * share our memory (CLONE_VM), and need not be on a stack of its own.
 */
long clone_raw(long nr, long a1, long a2, long a3, long a4,
	       const struct child_prog *prog)
{
	register long rax asm("rax") = nr;
	register long rdi asm("rdi") = a1;
	register long rsi asm("rsi") = a2;
	register long rdx asm("rdx") = a3;
	register long r10 asm("r10") = a4;
	register const struct child_prog *r12 asm("r12") = prog;

	asm volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 9f\n\t"
		/* The child. */
		"cmpq $0, %c[mode](%%r12)\n\t"
		"jne 2f\n\t"
		"mov $59, %%eax\n\t"			/* execve */
		"mov %c[path](%%r12), %%rdi\n\t"
		"mov %c[argv](%%r12), %%rsi\n\t"
		"mov %c[envp](%%r12), %%rdx\n\t"
		"syscall\n\t"
		"mov $127, %%edi\n\t"
		"jmp 4f\n"
		"2:\n\t"
		"mov %c[ready](%%r12), %%rdi\n\t"
		"lock incl (%%rdi)\n\t"
		"mov %c[release](%%r12), %%rdi\n"
		"3:\n\t"
		"cmpl $0, (%%rdi)\n\t"
		"jne 5f\n\t"
		"mov $202, %%eax\n\t"			/* futex */
		"xor %%esi, %%esi\n\t"			/* FUTEX_WAIT */
		"xor %%edx, %%edx\n\t"			/* while 0 */
		"xor %%r10d, %%r10d\n\t"		/* no timeout */
		"syscall\n\t"
		"jmp 3b\n"
		"5:\n\t"
		"mov %c[status](%%r12), %%rdi\n"
		"4:\n\t"
		"mov $60, %%eax\n\t"			/* exit */
		"syscall\n\t"
		"ud2\n"
		"9:\n\t"
		: "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10)
		: "r"(r12),
		  [mode] "i"(offsetof(struct child_prog, mode)),
		  [path] "i"(offsetof(struct child_prog, path)),
		  [argv] "i"(offsetof(struct child_prog, argv)),
		  [envp] "i"(offsetof(struct child_prog, envp)),
		  [release] "i"(offsetof(struct child_prog, release)),
		  [ready] "i"(offsetof(struct child_prog, ready)),
		  [status] "i"(offsetof(struct child_prog, status))
		: "rcx", "r11", "memory");
	return rax;
}

void *child_stack(void)
{
	static void *stack;

	if (!stack) {
		stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (stack == MAP_FAILED)
			err(1, "mmap(child stack)");
	}
	return stack;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f || fscanf(f, "%ld", &v) != 1)
		err(1, "reading %s", path);
	fclose(f);
	return v;
}

/* Raise a sysctl to at least `need`, or fail saying which and why. */
static void sysctl_at_least(const char *path, long need)
{
	FILE *f;

	if (read_long(path) >= need)
		return;
	f = fopen(path, "w");
	if (!f || fprintf(f, "%ld\n", need) < 0 || fclose(f))
		err(1, "%s is below %ld and cannot be raised", path, need);
	if (read_long(path) < need)
		errx(1, "%s stays below %ld", path, need);
}

static void rlimit_at_least(int resource, const char *name, rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl))
		err(1, "getrlimit(%s)", name);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
			rl.rlim_max = need;
		if (setrlimit(resource, &rl))
			err(1, "%s must be at least %lu for this run, and "
			    "raising it failed (run as root)",
			    name, (unsigned long)need);
	}
}

/* Room for `children` more live children and as many fds. */
void raise_limits(long children)
{
	long need = children + 256;

	sysctl_at_least("/proc/sys/fs/nr_open", need);
	rlimit_at_least(RLIMIT_NOFILE, "RLIMIT_NOFILE", need);
	rlimit_at_least(RLIMIT_NPROC, "RLIMIT_NPROC", need + 4096);
	sysctl_at_least("/proc/sys/kernel/threads-max", need + 4096);
	sysctl_at_least("/proc/sys/kernel/pid_max", need + 4096);
}

void check_exit_status(int status, const char *what)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_STATUS)
		errx(1, "%s: child status %#x, not exit(%d)", what, status,
		     EXIT_STATUS);
}

void check_clonefd_info(int fd, const char *what)
{
	struct clonefd_info info;
	ssize_t n = read(fd, &info, sizeof(info));

	if (n != sizeof(info))
		err(1, "%s: read(clonefd) gave %zd", what, n);
	if (info.code != CLD_EXITED || info.status != EXIT_STATUS)
		errx(1, "%s: clonefd_info code %u status %u, not exit(%d)",
		     what, info.code, info.status, EXIT_STATUS);
}

void check_waitid_pidfd(int pidfd, const char *what)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, pidfd, &si, WEXITED))
		err(1, "%s: waitid(P_PIDFD)", what);
	if (si.si_code != CLD_EXITED || si.si_status != EXIT_STATUS)
		errx(1, "%s: waitid code %d status %d, not exit(%d)", what,
		     si.si_code, si.si_status, EXIT_STATUS);
}

/* A raw syscall's result (-errno on failure), or exit saying what failed. */
long raw_checked(long ret, const char *what)
{
	if (ret < 0) {
		errno = -ret;
		err(1, "%s", what);
	}
	return ret;
}
