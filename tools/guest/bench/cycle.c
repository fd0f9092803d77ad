// SPDX-License-Identifier: GPL-2.0
/*
 * clonefd_bench, items 1 and 2: spawn a child, let it exit, learn its
 * status, one way per method; in two shapes: "exit" (a fork-like child
 * that exits at once) and "vfork_exec" (CLONE_VM | CLONE_VFORK onto a
 * stack of its own, then exec of a program that exits: what posix_spawn
 * does).  Rounds of `cycles` children per method, the methods in a new
 * order each round; a method's figure is its per-round time per child,
 * and its ratios to the other methods of its shape are per-round ratios.
 */
#include "bench.h"

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Time spent in close() of the child's fd in the current batch. */
static uint64_t close_ns;

static void timed_close(int fd)
{
	uint64_t t = now_ns();

	if (close(fd))
		err(1, "close");
	close_ns += now_ns() - t;
}

static void poll_in(int fd, const char *what)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, -1) != 1 || !(pfd.revents & POLLIN))
		err(1, "%s: poll", what);
}

static void waitpid_check(pid_t pid, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		err(1, "%s: waitpid", what);
	check_exit_status(status, what);
}

static long checked(long ret, const char *what)
{
	if (ret < 0)
		err(1, "%s", what);
	return ret;
}

/* "exit" shape: the child exits at once. */

static void exit_fork_waitpid(void)
{
	pid_t pid = checked(fork(), "fork");

	if (pid == 0)
		_exit(EXIT_STATUS);
	waitpid_check(pid, "fork");
}

static void exit_clone3_pidfd(void)
{
	struct clone_args args;
	int pidfd = -1;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	if (checked(clone3(&args), "clone3") == 0)
		_exit(EXIT_STATUS);
	poll_in(pidfd, "clone3");
	check_waitid_pidfd(pidfd, "clone3");
	timed_close(pidfd);
}

static void exit_clone4_waitpid(void)
{
	long pid = checked(clone4(SIGCHLD, 0, NULL), "clone4");

	if (pid == 0)
		_exit(EXIT_STATUS);
	waitpid_check(pid, "clone4");
}

static void exit_clone4_fd_read(void)
{
	long fd = checked(clone4(CLONE_FD, 0, NULL), "clone4(CLONE_FD)");

	if (fd == 0)
		_exit(EXIT_STATUS);
	check_clonefd_info(fd, "clone4(CLONE_FD)");
	timed_close(fd);
}

static void exit_clone4_fd_stored_read(void)
{
	struct clone4_args args;
	int fd = -1;

	memset(&args, 0, sizeof(args));
	args.clonefd = (uintptr_t)&fd;
	if (checked(clone4(CLONE_FD, sizeof(args), &args), "clone4") == 0)
		_exit(EXIT_STATUS);
	check_clonefd_info(fd, "clone4(CLONE_FD, stored)");
	timed_close(fd);
}

static void exit_clone4_fd_poll_read(void)
{
	long fd = checked(clone4(CLONE_FD, 0, NULL), "clone4(CLONE_FD)");

	if (fd == 0)
		_exit(EXIT_STATUS);
	poll_in(fd, "clone4(CLONE_FD)");
	check_clonefd_info(fd, "clone4(CLONE_FD)+poll");
	timed_close(fd);
}

/* "vfork_exec" shape: the child execs opt.exec_path, which exits. */

static char *exec_argv[2];
static char *exec_envp[1];
static struct child_prog exec_prog = { .mode = PROG_EXEC };

static void vfork_waitpid(void)
{
	pid_t pid = checked(vfork(), "vfork");

	if (pid == 0) {
		execve(opt.exec_path, exec_argv, exec_envp);
		_exit(127);
	}
	waitpid_check(pid, "vfork+exec");
}

static void vfork_posix_spawn(void)
{
	pid_t pid;
	int e = posix_spawn(&pid, opt.exec_path, NULL, NULL, exec_argv,
			    exec_envp);

	if (e)
		errx(1, "posix_spawn: %s", strerror(e));
	waitpid_check(pid, "posix_spawn");
}

static long clone3_vfork(struct clone_args *args)
{
	args->flags |= CLONE_VM | CLONE_VFORK;
	args->stack = (uintptr_t)child_stack();
	args->stack_size = CHILD_STACK_SIZE;
	return clone_raw(__NR_clone3, (long)args, sizeof(*args), 0, 0,
			 &exec_prog);
}

static long clone4_vfork(uint64_t flags, struct clone4_args *args)
{
	flags |= CLONE_VM | CLONE_VFORK;
	args->stack_start = (uintptr_t)child_stack();
	args->stack_size = CHILD_STACK_SIZE;
	return clone_raw(__NR_clone4, (unsigned int)(flags >> 32),
			 (unsigned int)flags, sizeof(*args), (long)args,
			 &exec_prog);
}

static void vfork_clone3_pidfd(void)
{
	struct clone_args args;
	int pidfd = -1;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	raw_checked(clone3_vfork(&args), "clone3(CLONE_VM|CLONE_VFORK)");
	poll_in(pidfd, "clone3 vfork");
	check_waitid_pidfd(pidfd, "clone3 vfork");
	timed_close(pidfd);
}

static void vfork_clone4_waitpid(void)
{
	struct clone4_args args;
	long pid;

	memset(&args, 0, sizeof(args));
	pid = raw_checked(clone4_vfork(SIGCHLD, &args), "clone4 vfork");
	waitpid_check(pid, "clone4 vfork");
}

static void vfork_clone4_fd_read(void)
{
	struct clone4_args args;
	long fd;

	memset(&args, 0, sizeof(args));
	fd = raw_checked(clone4_vfork(CLONE_FD | CLONEFD_CLOEXEC, &args),
			 "clone4(CLONE_FD) vfork");
	check_clonefd_info(fd, "clone4(CLONE_FD) vfork");
	timed_close(fd);
}

static void vfork_clone4_fd_stored_read(void)
{
	struct clone4_args args;
	int fd = -1;

	memset(&args, 0, sizeof(args));
	args.clonefd = (uintptr_t)&fd;
	raw_checked(clone4_vfork(CLONE_FD | CLONEFD_CLOEXEC, &args),
		    "clone4(CLONE_FD, stored) vfork");
	check_clonefd_info(fd, "clone4(CLONE_FD, stored) vfork");
	timed_close(fd);
}

static const struct cycle_method {
	const char *shape, *id, *label;
	int needs_clone4;
	void (*cycle)(void);
} methods[] = {
	{ "exit", "fork_waitpid", "fork + waitpid", 0, exit_fork_waitpid },
	{ "exit", "clone3_pidfd", "clone3(CLONE_PIDFD) + poll + waitid(P_PIDFD)",
	  0, exit_clone3_pidfd },
	{ "exit", "clone4_waitpid", "clone4 (no CLONE_FD) + waitpid", 1,
	  exit_clone4_waitpid },
	{ "exit", "clone4_fd_read", "clone4(CLONE_FD) + read, fd returned", 1,
	  exit_clone4_fd_read },
	{ "exit", "clone4_fd_stored_read", "clone4(CLONE_FD) + read, fd stored",
	  1, exit_clone4_fd_stored_read },
	{ "exit", "clone4_fd_poll_read", "clone4(CLONE_FD) + poll + read", 1,
	  exit_clone4_fd_poll_read },
	{ "vfork_exec", "vfork_waitpid", "vfork + exec + waitpid", 0,
	  vfork_waitpid },
	{ "vfork_exec", "posix_spawn", "posix_spawn + waitpid (glibc)", 0,
	  vfork_posix_spawn },
	{ "vfork_exec", "clone3_pidfd", "clone3(CLONE_PIDFD) + poll + waitid(P_PIDFD)",
	  0, vfork_clone3_pidfd },
	{ "vfork_exec", "clone4_waitpid", "clone4 (no CLONE_FD) + waitpid", 1,
	  vfork_clone4_waitpid },
	{ "vfork_exec", "clone4_fd_read", "clone4(CLONE_FD) + read, fd returned",
	  1, vfork_clone4_fd_read },
	{ "vfork_exec", "clone4_fd_stored_read",
	  "clone4(CLONE_FD) + read, fd stored", 1, vfork_clone4_fd_stored_read },
};
#define NMETHODS ((int)(sizeof(methods) / sizeof(methods[0])))

static int runs(const struct cycle_method *m)
{
	return opt.clone4 || !m->needs_clone4;
}

static void report(int m, double *per[], double *closes[], double *ratio)
{
	int b, r;

	json_begin("cycle");
	json_str("shape", methods[m].shape);
	json_str("method", methods[m].id);
	json_str("label", methods[m].label);
	json_num("rounds", opt.rounds);
	json_num("cycles", opt.cycles);
	json_quantiles("ns", per[m], opt.rounds);
	json_quantiles("close_ns", closes[m], opt.rounds);
	for (b = 0; b < NMETHODS; b++) {
		char key[96];

		if (!runs(&methods[b]) ||
		    strcmp(methods[b].shape, methods[m].shape))
			continue;
		for (r = 0; r < opt.rounds; r++)
			ratio[r] = per[m][r] / per[b][r];
		snprintf(key, sizeof(key), "ratio_vs_%s", methods[b].id);
		json_quantiles(key, ratio, opt.rounds);
	}
	json_end();
}

void bench_cycles(void)
{
	double *per[NMETHODS], *closes[NMETHODS], *ratio;
	int order[NMETHODS], m, r, i, k;

	exec_argv[0] = (char *)opt.exec_path;
	exec_prog.path = opt.exec_path;
	exec_prog.argv = exec_argv;
	exec_prog.envp = exec_envp;
	if (access(opt.exec_path, X_OK))
		err(1, "exec target %s", opt.exec_path);
	ratio = calloc(opt.rounds, sizeof(double));
	for (m = 0; m < NMETHODS; m++) {
		per[m] = calloc(opt.rounds, sizeof(double));
		closes[m] = calloc(opt.rounds, sizeof(double));
		if (!per[m] || !closes[m] || !ratio)
			err(1, "calloc");
		if (!runs(&methods[m])) {
			char name[96];

			snprintf(name, sizeof(name), "%s/%s", methods[m].shape,
				 methods[m].id);
			skip("cycle", name, opt.no_clone4);
		}
	}
	/* Round -1 warms up (page cache, slabs) and is not counted. */
	for (r = -1; r < opt.rounds; r++) {
		shuffle_order(order, NMETHODS, r + 1);
		for (i = 0; i < NMETHODS; i++) {
			const struct cycle_method *cm = &methods[order[i]];
			uint64_t t0;

			if (!runs(cm))
				continue;
			close_ns = 0;
			t0 = now_ns();
			for (k = 0; k < opt.cycles; k++)
				cm->cycle();
			if (r >= 0) {
				per[order[i]][r] =
					(double)(now_ns() - t0) / opt.cycles;
				closes[order[i]][r] =
					(double)close_ns / opt.cycles;
			}
		}
		if (r % 10 == 9)
			progress("cycles: round %d of %d", r + 1, opt.rounds);
	}
	for (m = 0; m < NMETHODS; m++)
		if (runs(&methods[m]))
			report(m, per, closes, ratio);
}
