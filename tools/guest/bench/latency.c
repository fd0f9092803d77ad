// SPDX-License-Identifier: GPL-2.0
/*
 * clonefd_bench, item 4: wake-up latency.  The child sleeps long enough
 * for the parent to block in epoll_wait(), writes CLOCK_MONOTONIC to
 * shared memory as its last act and exits; the latency is from that stamp
 * to the parent's return from epoll_wait().  The methods take turns,
 * sample by sample.
 */
#include "bench.h"

#include <err.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Long enough for the parent to be in epoll_wait() under TCG. */
#define CHILD_DELAY_NS 5000000

enum { LAT_CLONEFD, LAT_PIDFD, LAT_SIGNALFD, LAT_METHODS };
static const char *const names[LAT_METHODS] = {
	"clonefd_epoll", "pidfd_epoll_waitid", "signalfd_waitpid",
};

static volatile uint64_t *stamp;
static int epfd, sigfd;

static void child(void)
{
	struct timespec d = { 0, CHILD_DELAY_NS };

	nanosleep(&d, NULL);
	*stamp = now_ns();
	_exit(EXIT_STATUS);
}

static void sigchld_mask(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(how, &set, NULL))
		err(1, "sigprocmask");
}

/* One child, one wake-up; its latency in ns. */
static double sample(int method)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct signalfd_siginfo si;
	struct clone_args args;
	int fd = -1, status;
	uint64_t woke;
	long pid = -1;

	*stamp = 0;
	switch (method) {
	case LAT_CLONEFD:
		/* The fd is never 0: 0 is the child's return. */
		fd = clone4(CLONE_FD, 0, NULL);
		if (fd == 0)
			child();
		break;
	case LAT_PIDFD:
		memset(&args, 0, sizeof(args));
		args.flags = CLONE_PIDFD;
		args.pidfd = (uintptr_t)&fd;
		args.exit_signal = SIGCHLD;
		pid = clone3(&args);
		if (pid < 0)
			err(1, "clone3");
		if (pid == 0)
			child();
		break;
	default:
		sigchld_mask(SIG_BLOCK);
		while (read(sigfd, &si, sizeof(si)) > 0)
			; /* a stale SIGCHLD would wake us at once */
		fd = sigfd;
		pid = fork();
		if (pid < 0)
			err(1, "fork");
		if (pid == 0)
			child();
	}
	if (fd < 0)
		err(1, "%s: spawning", names[method]);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		err(1, "epoll_ctl");
	if (epoll_wait(epfd, &ev, 1, 60000) != 1)
		err(1, "%s: epoll_wait", names[method]);
	woke = now_ns();
	if (!*stamp)
		errx(1, "%s: woken before the child's stamp", names[method]);
	if (method == LAT_CLONEFD) {
		check_clonefd_info(fd, names[method]);
	} else if (method == LAT_PIDFD) {
		check_waitid_pidfd(fd, names[method]);
	} else {
		if (read(sigfd, &si, sizeof(si)) != sizeof(si) ||
		    si.ssi_signo != SIGCHLD)
			err(1, "read(signalfd)");
		if (waitpid(pid, &status, 0) != pid)
			err(1, "waitpid");
		check_exit_status(status, names[method]);
		if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL))
			err(1, "epoll_ctl(DEL)");
		sigchld_mask(SIG_UNBLOCK);
		return woke - *stamp;
	}
	close(fd);
	return woke - *stamp;
}

void bench_latency(void)
{
	int n = opt.latency_samples, order[LAT_METHODS], m, s, i;
	double *lat[LAT_METHODS];
	sigset_t set;

	stamp = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stamp == MAP_FAILED)
		err(1, "mmap(MAP_SHARED)");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (epfd < 0 || sigfd < 0)
		err(1, "epoll_create1/signalfd");
	for (m = 0; m < LAT_METHODS; m++)
		if (!(lat[m] = calloc(n, sizeof(double))))
			err(1, "calloc");
	for (s = 0; s < n; s++) {
		shuffle_order(order, LAT_METHODS, s);
		for (i = 0; i < LAT_METHODS; i++)
			if (order[i] != LAT_CLONEFD || opt.clone4)
				lat[order[i]][s] = sample(order[i]);
		if (s % 100 == 99)
			progress("latency: sample %d of %d", s + 1, n);
	}
	for (m = 0; m < LAT_METHODS; m++) {
		if (m == LAT_CLONEFD && !opt.clone4) {
			skip("latency", names[m], opt.no_clone4);
			continue;
		}
		json_begin("latency");
		json_str("method", names[m]);
		json_num("samples", n);
		json_num("child_delay_ns", CHILD_DELAY_NS);
		json_quantiles("ns", lat[m], n);
		json_end();
	}
	close(sigfd);
	close(epfd);
}
