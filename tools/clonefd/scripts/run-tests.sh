#!/bin/sh
# Runs the test binaries that scripts/build-tests.sh built and listed,
# without cargo: on the host, or in the guest booted on the patched kernel
# (where every test runs on both backends, clone4(CLONE_FD) and the pidfd
# fallback). Among them tokio_thousand_children: $CLONEFD_SPAWN_MANY
# children (default 1000) spawned and awaited from tokio.
#
# The tests of what only CLONE_FD has are #[ignore]d, so that a kernel
# without it reports them as ignored, not passed; they run here
# (--include-ignored) when the crate detects CLONE_FD.
# CLONEFD_EXPECT_BACKEND=clonefd|pidfd makes a different detection a
# failure (the guest on the patched kernel must not quietly test the
# fallback only).
# Ends with "clonefd: N passed, N failed" (ignored tests counted in
# neither; their number is printed before); exits 1 if anything failed.
set -u
cd "$(dirname "$0")/.."
list=target/release/test-binaries.txt
[ -s "$list" ] || { echo "run-tests.sh: no $list: run scripts/build-tests.sh first" >&2; exit 1; }
backend=$(target/release/clonefd backend)
echo "kernel: $(uname -r); backend: $backend"
passed=0 failed=0 ignored=0
if [ -n "${CLONEFD_EXPECT_BACKEND:-}" ] && [ "${backend%% *}" != "$CLONEFD_EXPECT_BACKEND" ]; then
	echo "!! expected the $CLONEFD_EXPECT_BACKEND backend, the crate detected $backend"
	failed=1
fi
include_ignored=
[ "${backend%% *}" = clonefd ] && include_ignored=--include-ignored
out=$(mktemp 2>/dev/null || echo /tmp/clonefd-run-tests.$$)
while read -r bin; do
	echo "== ${bin##*/}"
	extra=
	# Their figures: foreign_sigchld's counts, the two rusage sources,
	# the thousand children's time.
	case ${bin##*/} in foreign_sigchld-* | spawn_and_wait-* | tokio_thousand_children-*) extra=--nocapture ;; esac
	"$bin" --test-threads=2 $include_ignored $extra >"$out" 2>&1
	rc=$?
	grep -E '^(test |test result|failures:|---- |foreign_sigchld on)|clonefd_info:|waitid:|children on|panicked' "$out"
	[ $rc -eq 0 ] || { echo "!! ${bin##*/} exited $rc"; tail -40 "$out"; }
	result='^test result: .*[^0-9]\([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed; \([0-9][0-9]*\) ignored.*'
	p=$(sed -n "s/$result/\1/p" "$out")
	f=$(sed -n "s/$result/\2/p" "$out")
	i=$(sed -n "s/$result/\3/p" "$out")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	ignored=$((ignored + ${i:-0}))
	[ $rc -eq 0 ] || [ "${f:-0}" -gt 0 ] || failed=$((failed + 1))
done <"$list"
rm -f "$out"
echo "ignored (they need CLONE_FD, which this kernel lacks): $ignored"
echo "clonefd: $passed passed, $failed failed"
[ $failed -eq 0 ]
