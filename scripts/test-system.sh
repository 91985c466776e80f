#!/bin/sh
# The real-systemd tests (test/system/): they boot a Debian with systemd-nspawn, so they run as
# real root and outside the loopback-only user namespace of scripts/netns.sh (the machine has a
# private network of its own). Prints the closing line CI reads ("N passed, N failed"), keeping
# bun's exit code. Where they cannot run (not root, no systemd-nspawn) each test says why and skips.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bun=$(command -v bun || echo "$here/node_modules/.bin/bun")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cd "$here" || exit 1
if [ "$#" -eq 0 ]; then set -- test/system/; fi
"$bun" test --timeout 600000 "$@" 2>&1 | tee "$out"
. "$here/scripts/lib/closing-line.sh"
# Skipping everything (not root here) is a pass: each test printed why.
closing_line "$out" all
