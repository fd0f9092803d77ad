// SPDX-License-Identifier: GPL-2.0
/*
 * Raw clone4() (and clone3()) for children that run on a stack of their
 * own.
 *
 * After a clone on a new stack the child cannot return into the caller's
 * frames, so the syscall and the child's first steps are assembly: the
 * child calls fn(arg) on its new stack and exits with fn's return value
 * through SYS_exit, touching neither libc nor the thread pointer (the test
 * may have given it a TLS block of its own).
 */
#include <errno.h>

#ifndef __x86_64__
#error "raw_clone.c: only x86_64 is implemented"
#endif

#define NR_READ 0
#define NR_CLONE4 463
#define NR_CLONE3 435
#define NR_EXIT 60
#define NR_EXECVE 59
#define NR_GETTID 186
#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * long c4_raw_clone4(unsigned int flags_high, unsigned int flags_low,
 *                    unsigned long args_size, void *args,
 *                    int (*fn)(void *), void *arg);
 *
 * Returns clone4()'s result in the parent (-errno on failure).
 * fn and arg travel to the child in r12/r13, which the kernel copies.
 *
 * long c4_raw_clone3(struct clone_args *args, unsigned long size,
 *                    int (*fn)(void *), void *arg);
 *
 * The same for clone3(), whose child runs on the stack that args gives it.
 *
 * Both go on at c4_raw_clone_syscall with the syscall's number in eax, its
 * arguments in place, and fn and arg in r12/r13 (saved on the stack).
 */
__asm__(
	".text\n"
	".globl c4_raw_clone4\n"
	".type c4_raw_clone4, @function\n"
	"c4_raw_clone4:\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	movq %r8, %r12\n"
	"	movq %r9, %r13\n"
	"	movq %rcx, %r10\n"
	"	movl $" STR(NR_CLONE4) ", %eax\n"
	"	jmp c4_raw_clone_syscall\n"
	".size c4_raw_clone4, .-c4_raw_clone4\n"
	".globl c4_raw_clone3\n"
	".type c4_raw_clone3, @function\n"
	"c4_raw_clone3:\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	movq %rdx, %r12\n"
	"	movq %rcx, %r13\n"
	"	movl $" STR(NR_CLONE3) ", %eax\n"
	"	jmp c4_raw_clone_syscall\n"
	".size c4_raw_clone3, .-c4_raw_clone3\n"
	".type c4_raw_clone_syscall, @function\n"
	"c4_raw_clone_syscall:\n"
	"	syscall\n"
	"	testq %rax, %rax\n"
	"	jz 1f\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	ret\n"
	"1:\n"
	"	xorl %ebp, %ebp\n"
	"	andq $-16, %rsp\n"
	"	movq %r13, %rdi\n"
	"	call *%r12\n"
	"	movl %eax, %edi\n"
	"	movl $" STR(NR_EXIT) ", %eax\n"
	"	syscall\n"
	"	hlt\n"
	".size c4_raw_clone_syscall, .-c4_raw_clone_syscall\n");

/* What a child saw, written to memory it shares with the parent. */
struct c4_child_report {
	unsigned long stack_addr;	/* address of a local of the child */
	unsigned long tls;		/* the word at %fs:0 */
	long tid;			/* gettid() in the child */
	unsigned int ran;		/* 1 once the child ran */
};

static inline long raw_syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long raw_gettid(void)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"((long)NR_GETTID) : "rcx", "r11", "memory");
	return ret;
}

/*
 * A child body for c4_raw_clone4(): reports where its stack is, its TID,
 * and, when with_tls, the first word of its TLS block (by the x86_64 ABI,
 * %fs:0 holds the block's self pointer).  No libc, no stack protector.
 */
static int report(struct c4_child_report *r, int with_tls)
{
	volatile int local = 0;

	r->stack_addr = (unsigned long)&local;
	r->tid = raw_gettid();
	if (with_tls)
		__asm__ volatile("movq %%fs:0, %0" : "=r"(r->tls));
	__atomic_store_n(&r->ran, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int c4_child_report(void *arg)
{
	return report(arg, 0);
}

int c4_child_report_tls(void *arg)
{
	return report(arg, 1);
}

/* The argument of c4_child_wait_pipe(). */
struct c4_pipe_gate {
	int fd;		/* the read end of a pipe */
	int code;	/* the exit code once a byte came */
};

/* Waits for one byte on @fd: whether it came (not EOF or an error). */
static int wait_byte(int fd)
{
	char byte;
	long ret;

	do
		ret = raw_syscall3(NR_READ, fd, (long)&byte, 1);
	while (ret == -EINTR);
	return ret == 1;
}

/*
 * A child body for c4_raw_clone4(): waits for one byte on gate->fd, then
 * returns gate->code (1 if the pipe reached EOF or failed).  No libc.
 */
int c4_child_wait_pipe(void *arg)
{
	struct c4_pipe_gate *gate = arg;

	return wait_byte(gate->fd) ? gate->code : 1;
}

/* The argument of c4_child_wait_exec(). */
struct c4_exec_gate {
	int fd;			/* the read end of a pipe */
	const char *path;	/* what to execve() once a byte came */
	char *const *argv;
	char *const *envp;
};

/*
 * A child body for c4_raw_clone4(): waits for one byte on gate->fd, then
 * execve()s gate->path.  Returns 1 if the pipe reached EOF or failed, 2 if
 * execve() failed.  No libc.
 */
int c4_child_wait_exec(void *arg)
{
	struct c4_exec_gate *gate = arg;

	if (!wait_byte(gate->fd))
		return 1;
	raw_syscall3(NR_EXECVE, (long)gate->path, (long)gate->argv,
		     (long)gate->envp);
	return 2;
}
