#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demonstration `make run` shows in the guest.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
echo "guest kernel: $(uname -r)"
echo
echo "the clone4(2) man page's EXAMPLES program:"
echo hello | "$root/build/man-example/clone4_example" || exit 1
echo
echo "clonefd, the crate and CLI for library authors (tools/clonefd):"
sh "$root/tools/clonefd/scripts/demo.sh" || exit 1
echo
echo "running the selftests (KTAP; --strict: a skip is a failure, as this"
echo "kernel must have everything; the test for the CONFIG_CLONEFD=n kernel"
echo "is left out):"
exec "$root/selftests/target/release/clone4-selftests" --strict \
	--except clone4_without_clonefd_einval

