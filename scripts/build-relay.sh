#!/bin/sh
# Build the real iroh relay server (the `iroh-relay` crate from crates.io, `server` feature) that the
# local Datum runs on loopback (docs/relays.md). Cached outside the clone, never committed:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/datumctl-connect/iroh-relay-<version>/bin/iroh-relay
# A second run finds the binary and returns at once. Prints the binary's path on stdout (last line).
# Exit 0 built or cached; exit 69 no Rust toolchain (the reason on stderr); other non-zero: the build failed.
#
# The version is the iroh-relay that @number0/iroh 1.1.0 bundles (its native module is built from
# iroh 1.0.2 / iroh-relay 1.0.2), so the relay protocol is the one the devices speak.
# `--locked` builds with the Cargo.lock the crate was published with: the same dependency tree every run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/cargo-build.sh"
version=$(cat "$here/relay/VERSION")
cache=${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/datumctl-connect/iroh-relay-$version
bin=$cache/bin/iroh-relay

cached_or_continue "$bin" "$@"
find_cargo build-relay "iroh-relay $version"
one_build_at_a_time "$cache" "$bin" "$0" "$@"
echo "build-relay: building iroh-relay $version (server feature) into $cache (first time only; minutes on 2 cores)" >&2
start=$(date +%s)
CARGO_TARGET_DIR=$cache/target "$cargo" install iroh-relay --version "=$version" --features server \
  --locked --root "$cache" --bin iroh-relay --quiet >&2
# The target dir is only needed while building; the installed binary is what runs.
rm -rf "$cache/target"
echo "build-relay: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
