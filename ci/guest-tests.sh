#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the guest (ci/qemu-run): our selftests, then the kernel's own
# clone3/pidfd/core/pid_namespace suites.  Each suite starts with a
# "# c4-suite: NAME" line and ends with "# c4-exit: STATUS", which tools/
# reads; the KTAP in between is the suites' own.  Exits 1 if a suite failed.
#
#   C4_SELFTESTS_BIN=PATH C4_NO_CLONEFD_FILTER=PREFIX \
#   C4_UPSTREAM_SUITES='clone3 pidfd ...' \
#   bash ci/guest-tests.sh SUITE...
#
# SUITE: selftests, upstream, man-example, clonefd-crate, kmemleak,
# no-clonefd.
# tools/ (tools/src/guest_suites.rs) is the one place that lists the suites
# a boot runs and writes these variables; the script has no defaults.
# man-example is the man page's EXAMPLES program, whose output tools/
# checks; clonefd-crate the tests of tools/clonefd, the crate for library
# authors, which must find the CLONE_FD backend (1000 children awaited
# from tokio among them); no-clonefd is for the kernel built with
# CONFIG_CLONEFD=n: the clone4 tests, expecting CLONE_FD to fail.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
status=0

run_suite() { # run_suite NAME CMD...
	local name=$1 rc
	shift
	echo "# c4-suite: $name"
	"$@"
	rc=$?
	echo "# c4-exit: $rc"
	case $rc in 0 | 4) ;; *) status=1 ;; esac
}

kmemleak_scan() {
	local f=/sys/kernel/debug/kmemleak
	mountpoint -q /sys/kernel/debug ||
		mount -t debugfs none /sys/kernel/debug || return 1
	[ -e $f ] || { echo "kmemleak: $f does not exist"; return 4; }
	echo scan >$f || return 1
	sleep 6
	echo scan >$f || return 1
	sed 's/^/kmemleak: /' $f
	echo "kmemleak: end of report"
}

echo "# guest kernel: $(uname -r)"
[ $# -gt 0 ] || { echo "guest-tests.sh: no suite given" >&2; exit 2; }
: "${C4_SELFTESTS_BIN:?set by tools/ (guest_suites.rs)}"
: "${C4_NO_CLONEFD_FILTER:?set by tools/ (guest_suites.rs)}"
: "${C4_UPSTREAM_SUITES:?set by tools/ (guest_suites.rs)}"
for suite in "$@"; do
	case $suite in
	selftests)
		run_suite selftests "$root/$C4_SELFTESTS_BIN"
		;;
	man-example)
		run_suite man-example sh -c \
			"echo hello | '$root/build/man-example/clone4_example'"
		;;
	clonefd-crate)
		run_suite clonefd-crate env CLONEFD_EXPECT_BACKEND=clonefd \
			sh "$root/tools/clonefd/scripts/run-tests.sh"
		;;
	no-clonefd)
		run_suite no-clonefd env C4_EXPECT_NO_CLONEFD=1 \
			"$root/$C4_SELFTESTS_BIN" "$C4_NO_CLONEFD_FILTER"
		;;
	kmemleak)
		# Last: a scan after every other suite.  kmemleak reports only
		# objects older than 5 s, so scan again once the last test's
		# objects are that old.  Each line of the report is printed
		# after "kmemleak: "; tools/ compares the reports with
		# ci/kmemleak-accepted.txt.
		run_suite kmemleak kmemleak_scan
		;;
	upstream)
		# The root filesystem is read-only and some tests create files
		# in their directory (close_range_test): run a copy on tmpfs.
		# TCG is slow: pidfd_test and pidfd_poll_test need more than the
		# default 45 s; pidfd_test's recycled-pid test forks until the
		# pid numbers wrap (some 32000 forks): 7m14s here, under TCG with
		# lockdep.
		#
		# That test forks until the PIDs wrap at pid_max: with pid_max
		# lowered from 32768 to 2048 for these suites, it wraps 16 times
		# sooner and tests the same thing (it allows a custom pid_max;
		# clone3_set_tid reads it).  The guest has a few dozen tasks.
		rm -rf /tmp/kselftest
		cp -a "$root/build/kselftest/install" /tmp/kselftest
		pid_max=$(cat /proc/sys/kernel/pid_max)
		echo 2048 >/proc/sys/kernel/pid_max
		collections=()
		for c in $C4_UPSTREAM_SUITES; do collections+=(-c "$c"); done
		run_suite upstream /tmp/kselftest/run_kselftest.sh \
			--override-timeout 600 "${collections[@]}"
		echo "$pid_max" >/proc/sys/kernel/pid_max
		;;
	*)
		echo "guest-tests.sh: unknown suite $suite" >&2
		status=1
		;;
	esac
done
exit $status
