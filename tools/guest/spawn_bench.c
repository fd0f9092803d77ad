// SPDX-License-Identifier: GPL-2.0
/*
 * spawn_bench: the cost of starting a child that exits at once and
 * learning that it exited, for each way of doing it, side by side in one
 * boot.  Run by `c4 bench` in the guest; prints one line per method:
 *
 *   <method> <microseconds per child> <ratio to fork+waitpid>
 *
 * Under TCG the absolute figures mean little; the ratios are the result.
 */
#define _GNU_SOURCE
#include <err.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/sched.h>

#ifndef __NR_clone4
#define __NR_clone4 463
#endif

static long clone4(uint64_t flags, unsigned long size, void *args)
{
	return syscall(__NR_clone4, (unsigned int)(flags >> 32),
		       (unsigned int)flags, size, args);
}

static void fork_waitpid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid)
		err(1, "fork+waitpid");
}

static int clonefd_child(void)
{
	long fd = clone4(CLONE_FD, 0, NULL);

	if (fd == 0)
		_exit(0);
	if (fd < 0)
		err(1, "clone4(CLONE_FD)");
	return fd;
}

static void clonefd_read(void)
{
	struct clonefd_info info;
	int fd = clonefd_child();

	if (read(fd, &info, sizeof(info)) != sizeof(info))
		err(1, "read");
	close(fd);
}

static void clonefd_poll_read(void)
{
	struct clonefd_info info;
	struct pollfd pfd = { .fd = clonefd_child(), .events = POLLIN };

	if (poll(&pfd, 1, -1) != 1)
		err(1, "poll");
	if (read(pfd.fd, &info, sizeof(info)) != sizeof(info))
		err(1, "read");
	close(pfd.fd);
}

static void clone3_pidfd_poll_waitid(void)
{
	struct clone_args args;
	struct pollfd pfd = { .events = POLLIN };
	siginfo_t info;
	int pidfd = -1;
	long pid;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	pid = syscall(__NR_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		err(1, "clone3");
	pfd.fd = pidfd;
	if (poll(&pfd, 1, -1) != 1)
		err(1, "poll");
	if (waitid(P_PIDFD, pidfd, &info, WEXITED))
		err(1, "waitid");
	close(pidfd);
}

static const struct method {
	const char *name;
	void (*spawn_and_reap)(void);
} methods[] = {
	{ "fork+waitpid", fork_waitpid },
	{ "clone3(CLONE_PIDFD)+poll+waitid", clone3_pidfd_poll_waitid },
	{ "clone4(CLONE_FD)+read", clonefd_read },
	{ "clone4(CLONE_FD)+poll+read", clonefd_poll_read },
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char *argv[])
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	double per_child[sizeof(methods) / sizeof(methods[0])] = { 0 };
	size_t m;
	int r, i;

	/* Interleave the methods, so that drift hits them all alike. */
	for (r = 0; r < 5; r++) {
		for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			double start = now_us();

			for (i = 0; i < rounds / 5; i++)
				methods[m].spawn_and_reap();
			per_child[m] += (now_us() - start) / rounds;
		}
	}
	for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
		printf("%-34s %10.1f %6.2f\n", methods[m].name, per_child[m],
		       per_child[m] / per_child[0]);
	return 0;
}
