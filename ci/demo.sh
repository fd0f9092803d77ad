#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demonstration `make run` shows in the guest.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
echo "guest kernel: $(uname -r)"
echo "running the selftests (KTAP):"
exec "$root/selftests/target/release/clone4-selftests"
