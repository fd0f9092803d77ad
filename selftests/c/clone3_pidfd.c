// SPDX-License-Identifier: GPL-2.0
/*
 * clone3(CLONE_PIDFD) checks written against kselftest_harness.h.
 *
 * The child blocks on a pipe until the test releases it, so the test can
 * observe the pidfd both while the child is alive and after it has exited.
 * The child also exits on EOF, so it never outlives a test that bailed out.
 *
 * Seen failing when broken on purpose: expecting a readable pidfd before
 * the release, or exit code 43, turns the test into "not ok"; under a
 * seccomp filter making clone3() return ENOSYS, both tests SKIP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHILD_EXIT_CODE 42

struct blocked_child {
	pid_t pid;
	int pidfd;
	int release_fd;
};

static pid_t sys_clone3(struct clone_args *args, size_t size)
{
	fflush(stdout);
	fflush(stderr);
	return syscall(__NR_clone3, args, size);
}

/* Returns 0, or -errno of the failing call (-ENOSYS: no clone3). */
static int spawn_blocked_child(struct blocked_child *child)
{
	struct clone_args args = {};
	int pipefd[2];
	char byte;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;

	args.flags = CLONE_PIDFD;
	args.pidfd = (uintptr_t)&child->pidfd;
	args.exit_signal = SIGCHLD;

	pid = sys_clone3(&args, sizeof(args));
	if (pid < 0) {
		int err = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		return -err;
	}
	if (pid == 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &byte, 1) != 1)
			_exit(EXIT_FAILURE);
		_exit(CHILD_EXIT_CODE);
	}

	close(pipefd[0]);
	child->pid = pid;
	child->release_fd = pipefd[1];
	return 0;
}

static int release_child(struct blocked_child *child)
{
	return write(child->release_fd, "x", 1) == 1 ? 0 : -errno;
}

#define SPAWN_OR_SKIP(child) do { \
	int __ret = spawn_blocked_child(child); \
	if (__ret == -ENOSYS) \
		SKIP(return, "clone3() is not supported"); \
	ASSERT_EQ(0, __ret) TH_LOG("clone3: %s", strerror(-__ret)); \
	ASSERT_GE((child)->pidfd, 0); \
} while (0)

TEST(pidfd_pollin_only_after_exit)
{
	struct blocked_child child;
	struct pollfd pfd;

	SPAWN_OR_SKIP(&child);

	pfd.fd = child.pidfd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	EXPECT_EQ(0, poll(&pfd, 1, 100))
		TH_LOG("pidfd readable while the child is still blocked");

	ASSERT_EQ(0, release_child(&child));
	ASSERT_EQ(1, poll(&pfd, 1, 5000))
		TH_LOG("pidfd not readable after the child exited");
	EXPECT_TRUE(pfd.revents & POLLIN);

	ASSERT_EQ(0, waitid(P_PIDFD, child.pidfd, NULL, WEXITED));
}

TEST(waitid_pidfd_reports_exit_status)
{
	struct blocked_child child;
	siginfo_t info;

	SPAWN_OR_SKIP(&child);
	ASSERT_EQ(0, release_child(&child));

	memset(&info, 0, sizeof(info));
	ASSERT_EQ(0, waitid(P_PIDFD, child.pidfd, &info, WEXITED))
		TH_LOG("waitid(P_PIDFD): %s", strerror(errno));
	EXPECT_EQ(child.pid, info.si_pid);
	EXPECT_EQ(SIGCHLD, info.si_signo);
	EXPECT_EQ(CLD_EXITED, info.si_code);
	EXPECT_EQ(CHILD_EXIT_CODE, info.si_status);
}

TEST_HARNESS_MAIN
