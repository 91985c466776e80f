#!/bin/sh
# Build the interop test peer (test/interop/peer: n0's iroh-proxy-utils gateway side, see
# test/interop/README.md) with its committed Cargo.lock. Cached outside the clone, never committed:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/datumctl-connect/interop-peer/<source hash>/interop-peer
# The hash covers Cargo.toml, Cargo.lock and src/, so an edit builds anew; the cargo target dir
# (…/interop-peer/target) is kept so such a rebuild compiles only the peer itself.
# A second run finds the binary and returns at once. Prints the binary's path on stdout (last line).
# Exit 0 built or cached; exit 69 no Rust toolchain (the reason on stderr); other non-zero: the build failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/cargo-build.sh"
src=$(cd "$here/../test/interop/peer" && pwd)
root=${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/datumctl-connect/interop-peer
hash=$(cd "$src" && cat Cargo.toml Cargo.lock $(find src -type f | LC_ALL=C sort) | sha256sum | cut -c1-16)
bin=$root/$hash/interop-peer

cached_or_continue "$bin" "$@"
find_cargo build-interop-peer "the interop peer"
one_build_at_a_time "$root" "$bin" "$0" "$@"
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
