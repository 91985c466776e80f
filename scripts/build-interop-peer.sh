#!/bin/sh
# Build the interop test peer (test/interop/peer: n0's iroh-proxy-utils gateway side, see
# test/interop/README.md) with its committed Cargo.lock. Cached outside the clone, never committed:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/datumctl-connect/interop-peer/<source hash>/interop-peer
# The hash covers Cargo.toml, Cargo.lock and src/, so an edit builds anew; the cargo target dir
# (…/interop-peer/target) is kept so such a rebuild compiles only the peer itself.
# A second run finds the binary and returns at once. Prints the binary's path on stdout (last line).
# Exit 0 built or cached; exit 69 no Rust toolchain (the reason on stderr); other non-zero: the build failed.
set -eu
src=$(cd "$(dirname "$0")/../test/interop/peer" && pwd)
root=${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/datumctl-connect/interop-peer
hash=$(cd "$src" && cat Cargo.toml Cargo.lock $(find src -type f | LC_ALL=C sort) | sha256sum | cut -c1-16)
bin=$root/$hash/interop-peer

if [ "${1:-}" = "--path" ]; then
  echo "$bin"
  exit 0
fi
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "${CARGO_HOME:-${HOME:-/nonexistent}/.cargo}/bin/cargo" ]; then
  cargo=${CARGO_HOME:-$HOME/.cargo}/bin/cargo
fi
if [ -z "$cargo" ]; then
  echo "build-interop-peer: no Rust toolchain (cargo not on PATH nor in ~/.cargo/bin): cannot build the interop peer" >&2
  exit 69
fi

mkdir -p "$root"
# One build at a time (several test runs may start together); a waiter finds the binary after.
if [ -z "${BUILD_INTEROP_PEER_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
  BUILD_INTEROP_PEER_LOCKED=1 exec flock "$root/.lock" sh "$0" "$@"
fi
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
echo "build-interop-peer: building test/interop/peer (iroh-proxy-utils) into $root (first time only; minutes on 2 cores)" >&2
start=$(date +%s)
CARGO_TARGET_DIR=$root/target "$cargo" build --release --locked --quiet \
  --manifest-path "$src/Cargo.toml" >&2
# Older builds' binaries are stale: keep only this one (and the shared target dir).
for old in "$root"/*/; do
  case $old in "$root/target/" | "$root/$hash/") ;; *) rm -rf "$old" ;; esac
done
mkdir -p "$root/$hash"
cp "$root/target/release/datumctl-connect-interop-peer" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "build-interop-peer: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
