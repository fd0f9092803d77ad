// SPDX-License-Identifier: GPL-2.0
/*
 * clonefd_bench: a herd of n live children, blocked on a futex until
 * released together, then collected through an event loop.  They are
 * CLONE_VM | CLONE_FILES children running clone_raw()'s register-only
 * program, so that n of them cost neither n copies of our memory nor n
 * copies of an fd table holding up to n fds (whose closing at their exit
 * would be timed, and grow with n).
 */
#include "bench.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *const collector_name[] = {
	[BY_CLONEFD] = "clonefd_epoll",
	[BY_PIDFD] = "pidfd_epoll_waitid",
	[BY_SIGNALFD] = "signalfd_waitpid",
	[BY_SELFPIPE] = "sigchld_selfpipe",
	[BY_WAITPID] = "waitpid",
};

#define HERD_FLAGS (CLONE_VM | CLONE_FILES)
#define READY_TIMEOUT_MS 300000

static long spawn_one(struct herd *h, int i, int use_clone4)
{
	struct clone4_args a4;
	struct clone_args a3;
	uint64_t f4 = HERD_FLAGS;

	memset(&a4, 0, sizeof(a4));
	memset(&a3, 0, sizeof(a3));
	a4.stack_start = a3.stack = (uintptr_t)child_stack();
	a4.stack_size = a3.stack_size = CHILD_STACK_SIZE;
	a3.flags = HERD_FLAGS;
	a3.exit_signal = SIGCHLD;
	switch (h->how) {
	case BY_CLONEFD:
		f4 |= CLONE_FD | CLONEFD_CLOEXEC;
		break;
	case BY_PIDFD:
		a3.flags |= CLONE_PIDFD;
		a3.pidfd = (uintptr_t)&h->fds[i];
		use_clone4 = 0;
		break;
	default:
		f4 |= SIGCHLD;
	}
	if (!use_clone4)
		return clone_raw(__NR_clone3, (long)&a3, sizeof(a3), 0, 0,
				 &h->prog);
	return clone_raw(__NR_clone4, (unsigned int)(f4 >> 32),
			 (unsigned int)f4, sizeof(a4), (long)&a4, &h->prog);
}

void herd_spawn(struct herd *h, enum collector how, int n, int use_clone4)
{
	int i, waited = 0;

	memset(h, 0, sizeof(*h));
	h->how = how;
	h->n = n;
	h->epfd = h->sigfd = h->pipefd[0] = h->pipefd[1] = -1;
	h->prog.mode = PROG_WAIT_EXIT;
	h->prog.release = &h->release;
	h->prog.ready = &h->ready;
	h->prog.status = EXIT_STATUS;
	use_clone4 |= how == BY_CLONEFD;
	h->spawned_with = how == BY_PIDFD ? "clone3(CLONE_PIDFD)" :
			  how == BY_CLONEFD ? "clone4(CLONE_FD)" :
			  use_clone4 ? "clone4" : "clone3";
	h->fds = calloc(n, sizeof(int));
	if (!h->fds)
		err(1, "calloc");
	for (i = 0; i < n; i++) {
		long ret = raw_checked(spawn_one(h, i, use_clone4),
				       h->spawned_with);

		if (how == BY_CLONEFD)
			h->fds[i] = ret;
	}
	while (__atomic_load_n(&h->ready, __ATOMIC_ACQUIRE) < n) {
		if (waited++ > READY_TIMEOUT_MS)
			errx(1, "herd: %d of %d children ready after %d s",
			     h->ready, n, READY_TIMEOUT_MS / 1000);
		usleep(1000);
	}
}

static int selfpipe_w = -1;

static void on_sigchld(int sig)
{
	int saved = errno;

	(void)sig;
	if (write(selfpipe_w, "", 1) < 0 && errno != EAGAIN)
		abort();
	errno = saved;
}

static void watch_fd(struct herd *h, int fd, uint32_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = data };

	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev))
		err(1, "epoll_ctl");
}

static void sigchld_blocked(int block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL))
		err(1, "sigprocmask");
}

void herd_watch(struct herd *h)
{
	struct sigaction sa;
	sigset_t set;
	int i;

	if (h->how == BY_WAITPID)
		return;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0)
		err(1, "epoll_create1");
	switch (h->how) {
	case BY_CLONEFD:
	case BY_PIDFD:
		for (i = 0; i < h->n; i++)
			watch_fd(h, h->fds[i], i);
		break;
	case BY_SIGNALFD:
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		sigchld_blocked(1);
		h->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (h->sigfd < 0)
			err(1, "signalfd");
		watch_fd(h, h->sigfd, 0);
		break;
	case BY_SELFPIPE:
		if (pipe2(h->pipefd, O_NONBLOCK | O_CLOEXEC))
			err(1, "pipe2");
		selfpipe_w = h->pipefd[1];
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigchld;
		sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
		if (sigaction(SIGCHLD, &sa, NULL))
			err(1, "sigaction");
		watch_fd(h, h->pipefd[0], 0);
		break;
	default:
		break;
	}
}

void herd_release(struct herd *h)
{
	__atomic_store_n(&h->release, 1, __ATOMIC_RELEASE);
	if (syscall(SYS_futex, &h->release, FUTEX_WAKE, INT_MAX, NULL, NULL,
		    0) < 0)
		err(1, "futex(FUTEX_WAKE)");
}

/* waitpid(-1, WNOHANG) until nothing is left to reap now; the count. */
static int reap_ready(void)
{
	int status, n = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		check_exit_status(status, "herd waitpid");
		n++;
	}
	if (pid < 0 && errno != ECHILD)
		err(1, "waitpid");
	return n;
}

static void drain(int fd, size_t size)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf) / size * size) > 0)
		;
	if (errno != EAGAIN)
		err(1, "draining");
}

/* Handle one readiness event; the count of exits it collected. */
static int collect_event(struct herd *h, uint32_t i)
{
	switch (h->how) {
	case BY_CLONEFD:
		check_clonefd_info(h->fds[i], "herd clonefd");
		break;
	case BY_PIDFD:
		check_waitid_pidfd(h->fds[i], "herd pidfd");
		break;
	case BY_SIGNALFD:
		drain(h->sigfd, sizeof(struct signalfd_siginfo));
		return reap_ready();
	default:
		drain(h->pipefd[0], 1);
		return reap_ready();
	}
	if (close(h->fds[i]))
		err(1, "close");
	h->fds[i] = -1;
	return 1;
}

static void unwatch(struct herd *h)
{
	struct sigaction sa;

	if (h->epfd >= 0)
		close(h->epfd);
	if (h->how == BY_SIGNALFD) {
		close(h->sigfd);
		sigchld_blocked(0);
	}
	if (h->how == BY_SELFPIPE) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		if (sigaction(SIGCHLD, &sa, NULL))
			err(1, "sigaction");
		close(h->pipefd[0]);
		close(h->pipefd[1]);
		selfpipe_w = -1;
	}
	free(h->fds);
	h->fds = NULL;
}

void herd_collect(struct herd *h)
{
	struct epoll_event ev[256];
	int left = h->n, k, i, status;

	while (left > 0) {
		if (h->how == BY_WAITPID) {
			if (waitpid(-1, &status, 0) < 0)
				err(1, "waitpid");
			check_exit_status(status, "herd waitpid");
			left--;
			continue;
		}
		k = epoll_wait(h->epfd, ev, 256, 120000);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			err(1, "herd %s: epoll_wait gave %d with %d of %d "
			    "exits to collect", collector_name[h->how], k,
			    left, h->n);
		for (i = 0; i < k; i++)
			left -= collect_event(h, ev[i].data.u32);
	}
	if (left < 0)
		errx(1, "herd %s: %d exits more than children",
		     collector_name[h->how], -left);
}

void herd_done(struct herd *h)
{
	int status;

	if (waitpid(-1, &status, WNOHANG | __WALL) != -1 || errno != ECHILD)
		errx(1, "herd %s: a child is left", collector_name[h->how]);
	unwatch(h);
}
