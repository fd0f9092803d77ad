// SPDX-License-Identifier: GPL-2.0
/*
 * What the i386 builds of the C kselftests (NAME_i386) need from the
 * guest kernel besides clone4(): i386 programs at all
 * (CONFIG_IA32_EMULATION), and the 32-bit time syscalls that i386 glibc's
 * nanosleep(), clock_nanosleep(), select() and sigtimedwait() fall back to
 * (CONFIG_COMPAT_32BIT_TIME).  Without the latter, the other i386 tests
 * fail with ENOSYS from their timeouts; this test names the cause.
 *
 * Built for i386 only (build.rs: files named ia32_*).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "kselftest_harness.h"

#ifndef __i386__
#error "ia32_env.c is built for i386 only"
#endif

static const struct timespec one_ms = { .tv_sec = 0, .tv_nsec = 1000000 };

#define EXPECT_TIME_SYSCALL(call)					\
	do {								\
		int _ret = (call);					\
		int _err = errno;					\
		if (_ret != 0 && _err == ENOSYS)			\
			TH_LOG("%s: ENOSYS: the guest kernel lacks "	\
			       "CONFIG_COMPAT_32BIT_TIME", #call);	\
		ASSERT_EQ(0, _ret) TH_LOG("%s: %s", #call, strerror(_err)); \
	} while (0)

TEST(nanosleep_works)
{
	EXPECT_TIME_SYSCALL(nanosleep(&one_ms, NULL));
}

TEST(clock_nanosleep_works)
{
	/* clock_nanosleep() returns the error instead of setting errno. */
	int ret = clock_nanosleep(CLOCK_MONOTONIC, 0, &one_ms, NULL);

	if (ret == ENOSYS)
		TH_LOG("ENOSYS: the guest kernel lacks CONFIG_COMPAT_32BIT_TIME");
	ASSERT_EQ(0, ret) TH_LOG("clock_nanosleep: %s", strerror(ret));
}

TEST(select_timeout_works)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 1000 };

	EXPECT_TIME_SYSCALL(select(0, NULL, NULL, NULL, &tv));
}

TEST(sigtimedwait_timeout_works)
{
	sigset_t set;
	int ret, err;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &set, NULL));
	ret = sigtimedwait(&set, NULL, &one_ms);
	err = errno;
	if (ret < 0 && err == ENOSYS)
		TH_LOG("ENOSYS: the guest kernel lacks CONFIG_COMPAT_32BIT_TIME");
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(EAGAIN, err) TH_LOG("sigtimedwait: %s", strerror(err));
}

TEST_HARNESS_MAIN
