/* SPDX-License-Identifier: GPL-2.0 */
/*
 * clonefd_bench: what CLONE_FD costs and saves, against the other ways of
 * spawning and collecting children, in one run (one boot).  Each section
 * prints JSON lines on stdout ({"kind": ...}); progress goes to stderr as
 * "# " lines.  Any failed check exits 1.
 */
#ifndef CLONEFD_BENCH_H
#define CLONEFD_BENCH_H

#define _GNU_SOURCE
#include <stdint.h>
#include <sys/types.h>

#include <linux/sched.h>

#ifndef __NR_clone4
#define __NR_clone4 463
#endif

/* What every child exits with; each collection checks it. */
#define EXIT_STATUS 42

struct options {
	int clone4;		/* clone4() and CLONE_FD are there to measure */
	const char *no_clone4;	/* if not, why */
	int rounds, cycles;	/* spawn cycles: rounds x cycles per method */
	const char *exec_path;	/* the exec'ed program, exits EXIT_STATUS */
	int scaling_n[8], scaling_count, scaling_rounds;
	int latency_samples;
	int memory_children, memory_rounds;
};
extern struct options opt;

/* sys.c: syscalls, the clone trampoline, limits, time. */
long clone4(uint64_t flags, unsigned long size, struct clone4_args *args);
long clone3(struct clone_args *args);
uint64_t now_ns(void);
void raise_limits(long children);
void check_exit_status(int status, const char *what);
void check_clonefd_info(int fd, const char *what);
void check_waitid_pidfd(int pidfd, const char *what);
long raw_checked(long ret, const char *what);

/*
 * What a child started by clone_raw() does, in assembly, without a stack
 * and without libc (it shares our memory): exec `path`, or count itself
 * in `*ready`, wait until `*release` is nonzero (futex), and exit with
 * `status`.
 */
struct child_prog {
	long mode;
	const char *path;
	char *const *argv;
	char *const *envp;
	int *release;
	int *ready;
	long status;
};
enum { PROG_EXEC = 0, PROG_WAIT_EXIT = 1 };
long clone_raw(long nr, long a1, long a2, long a3, long a4,
	       const struct child_prog *prog);
/* A stack for clone_raw children (they use none; the kernel wants one). */
void *child_stack(void);
#define CHILD_STACK_SIZE (64 * 1024)

/* stats.c */
double quantile(const double *v, int n, double q);
void shuffle_order(int *order, int n, unsigned int round);

/* json.c: one object per line. */
void json_begin(const char *kind);
void json_str(const char *key, const char *value);
void json_num(const char *key, double value);
void json_quantiles(const char *key, const double *v, int n);
void json_raw(const char *key, const char *value);
void json_end(void);
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void skip(const char *section, const char *method, const char *reason);

/* The sections. */
void bench_cycles(void);
void bench_scaling(void);
void bench_latency(void);
void bench_memory(void);

/*
 * herd.c: n live children (CLONE_VM | CLONE_FILES, so that neither memory
 * nor the fd table is copied n times) blocked on a futex, released
 * together, every exit collected the way `how` says and checked.
 */
enum collector {
	BY_CLONEFD,	/* epoll on the CLONE_FD fds, read() */
	BY_PIDFD,	/* epoll on pidfds, waitid(P_PIDFD) */
	BY_SIGNALFD,	/* epoll on signalfd(SIGCHLD), waitpid(WNOHANG) loop */
	BY_SELFPIPE,	/* SIGCHLD handler writing a pipe, epoll on it, ditto */
	BY_WAITPID,	/* blocking waitpid(), no event loop (memory) */
};
extern const char *const collector_name[];
struct herd {
	enum collector how;
	int n, *fds;		/* CLONE_FD fds or pidfds */
	int epfd, sigfd, pipefd[2];
	int release, ready;	/* futex words shared with the children */
	struct child_prog prog;	/* read by the children until they exit */
	const char *spawned_with;
};
/* Spawn n children (plain ones with clone4() if use_clone4, else clone3). */
void herd_spawn(struct herd *h, enum collector how, int n, int use_clone4);
/* Set up what collects (epoll, signalfd, handler): before the release. */
void herd_watch(struct herd *h);
void herd_release(struct herd *h);
/* Collect and check every exit. */
void herd_collect(struct herd *h);
/* Check that no child is left; undo herd_watch. */
void herd_done(struct herd *h);

#endif
