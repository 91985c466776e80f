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
pass=$(grep -Eo '^ *[0-9]+ pass$' "$out" | tail -n 1 | tr -dc 0-9)
fail=$(grep -Eo '^ *[0-9]+ fail$' "$out" | tail -n 1 | tr -dc 0-9)
skip=$(grep -Eo '^ *[0-9]+ skip$' "$out" | tail -n 1 | tr -dc 0-9)
[ -n "$pass" ] || pass=0
[ -n "$fail" ] || fail=0
echo "${pass} passed, ${fail} failed, ${skip:-0} skipped"
if [ "$fail" -ne 0 ] || ! grep -Eq '^Ran [0-9]+ tests' "$out"; then
  exit 1
fi
exit 0
