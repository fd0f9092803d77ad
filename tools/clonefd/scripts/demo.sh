#!/bin/sh
# What a user of clonefd gets, for make run's demonstration (ci/demo.sh
# can call this script once the CLI is built, scripts/build-tests.sh or
# cargo build --release): which kernel interface the crate found, one
# command reported like GNU time -v, four copies collected through one
# epoll loop and reported as JSON, and a command killed by a signal.
# Exits 1 if clonefd's exit status is not the one each command calls for.
set -u
cd "$(dirname "$0")/.."
clonefd=target/release/clonefd
[ -x "$clonefd" ] || { echo "demo.sh: no $clonefd: build it first" >&2; exit 1; }
status=0

# demo EXPECTED_STATUS CLONEFD_ARGS...: runs clonefd, reports on stdout.
demo() {
	expected=$1
	shift
	line='$ clonefd'
	for arg; do
		case $arg in
		*[\ \$\;]*) line="$line '$arg'" ;;
		*) line="$line $arg" ;;
		esac
	done
	printf '\n%s\n' "$line"
	"$clonefd" "$@" 2>&1
	rc=$?
	echo "(clonefd exited $rc)"
	[ $rc -eq "$expected" ] || { echo "!! expected $expected"; status=1; }
}

echo "\$ clonefd backend"
"$clonefd" backend || status=1
demo 3 run -- sh -c 'echo "hello from pid $$"; exit 3'
demo 0 run --json -j 4 -- sh -c 'i=0; while [ $i -lt 3000 ]; do i=$((i + 1)); done'
demo 137 run -- sh -c 'kill -KILL $$'
exit $status
