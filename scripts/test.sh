#!/bin/sh
# Run the whole bun:test suite inside the loopback-only namespace (scripts/netns.sh), then print
# the closing line CI reads ("N passed, N failed"), keeping bun's exit code.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bun=$(command -v bun || echo "$here/node_modules/.bin/bun")
# The real iroh relay the relay tests run (docs/relays.md): built once into the user's cache, outside
# the loopback-only namespace because cargo fetches crates. Without cargo the tests that need it say
# why they skip.
DATUM_CONNECT_TEST_IROH_RELAY=$(sh "$here/scripts/build-relay.sh")
case $? in
  0) export DATUM_CONNECT_TEST_IROH_RELAY ;;
  69) export DATUM_CONNECT_TEST_IROH_RELAY_MISSING="no Rust toolchain (cargo) to build iroh-relay with" ;;
  *) export DATUM_CONNECT_TEST_IROH_RELAY_MISSING="the iroh-relay build failed (scripts/build-relay.sh; its output is above the test output)" ;;
esac
# The interop peer (test/interop/README.md: n0's iroh-proxy-utils gateway side), built the same way
# and after the relay, never alongside it (the machines have 2 cores).
DATUM_CONNECT_TEST_INTEROP_PEER=$(sh "$here/scripts/build-interop-peer.sh")
case $? in
  0) export DATUM_CONNECT_TEST_INTEROP_PEER ;;
  69) export DATUM_CONNECT_TEST_INTEROP_PEER_MISSING="no Rust toolchain (cargo) to build the iroh-proxy-utils interop peer with" ;;
  *) export DATUM_CONNECT_TEST_INTEROP_PEER_MISSING="the interop peer build failed (scripts/build-interop-peer.sh; its output is above the test output)" ;;
esac
# The Wine smoke test (test/e2e/windows-wine.test.ts) cross-compiles the Windows executable with
# Bun's Windows runtime, fetched from npm once, outside the namespace; only where Wine is installed.
if command -v wine64 >/dev/null 2>&1 || [ -x /usr/lib/wine/wine64 ]; then
  "$bun" "$here/scripts/release/windows-binary.ts" >/dev/null || echo "windows runtime: not fetched; the Wine smoke test says why it skips"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
sh "$here/scripts/netns.sh" "$bun" test --timeout 60000 "$@" 2>&1 | tee "$out"
code=$?
# POSIX sh has no PIPESTATUS: recover bun's verdict from its own summary lines.
. "$here/scripts/lib/closing-line.sh"
closing_line "$out" some || exit 1
exit "$code"
