#!/bin/sh
# Runs the test binaries that scripts/build-tests.sh built and listed,
# without cargo: on the host, or in the guest booted on the patched kernel
# (where every test runs on both backends, clone4(CLONE_FD) and the pidfd
# fallback). Then runs the spawn_many example: $CLONEFD_SPAWN_MANY children
# (default 1000) from tokio.
# Ends with "N passed, N failed"; exits 1 if anything failed.
set -u
cd "$(dirname "$0")/.."
list=target/release/test-binaries.txt
[ -s "$list" ] || { echo "run-tests.sh: no $list: run scripts/build-tests.sh first" >&2; exit 1; }
echo "kernel: $(uname -r); backend: $(target/release/clonefd backend)"
passed=0 failed=0
out=$(mktemp 2>/dev/null || echo /tmp/clonefd-run-tests.$$)
while read -r bin; do
	echo "== ${bin##*/}"
	extra=
	# Their figures: foreign_sigchld's counts, the two rusage sources.
	case ${bin##*/} in foreign_sigchld-* | spawn_and_wait-*) extra=--nocapture ;; esac
	"$bin" --test-threads=2 $extra >"$out" 2>&1
	rc=$?
	grep -E '^(test |test result|failures:|---- |foreign_sigchld on)|clonefd_info:|waitid:|panicked' "$out"
	[ $rc -eq 0 ] || { echo "!! ${bin##*/} exited $rc"; tail -40 "$out"; }
	p=$(sed -n 's/^test result: .*[^0-9]\([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\1/p' "$out")
	f=$(sed -n 's/^test result: .*[^0-9]\([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\2/p' "$out")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	[ $rc -eq 0 ] || [ "${f:-0}" -gt 0 ] || failed=$((failed + 1))
done <"$list"
echo "== spawn_many"
if target/release/examples/spawn_many "${CLONEFD_SPAWN_MANY:-1000}"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
rm -f "$out"
echo "clonefd: $passed passed, $failed failed"
[ $failed -eq 0 ]
