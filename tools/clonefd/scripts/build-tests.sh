#!/bin/sh
# Builds, on the host, everything the tests run (release profile, all
# features): the unit and integration test binaries, the clonefd CLI and
# the spawn_many example; and lists the test binaries, one path a line, in
# target/release/test-binaries.txt for scripts/run-tests.sh, which runs
# them without cargo (e.g. in the guest, which sees the host's root
# filesystem read-only).
set -eu
cd "$(dirname "$0")/.."
cargo build --release --all-features --bins --examples
list=target/release/test-binaries.txt
# cargo names each test binary on stderr: "Executable <what> (<path>)".
cargo test --release --all-features --no-run 2>&1 \
	| sed -n 's/^ *Executable .*(\(.*\))$/\1/p' \
	| sed "s|^|$(pwd)/|" >"$list"
[ -s "$list" ] || { echo "build-tests.sh: no test binary found" >&2; exit 1; }
echo "build-tests.sh: $(wc -l <"$list") test binaries in $list" >&2
