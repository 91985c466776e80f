# Sourced by the scripts that build a Rust counterpart for the tests (build-relay.sh,
# build-interop-peer.sh): cached outside the clone, one build at a time, exit 69 without cargo.
# Each function takes the script's own name first, for its messages.

# `--path`, or a binary already built: print its path and exit 0.
cached_or_continue() { # bin "$@"
  bin=$1
  shift
  if [ "${1:-}" = "--path" ] || [ -x "$bin" ]; then
    echo "$bin"
    exit 0
  fi
}

# Set $cargo, or exit 69 saying why (rustup's default place counts when it is not on PATH).
find_cargo() { # name what
  cargo=$(command -v cargo || true)
  if [ -z "$cargo" ] && [ -x "${CARGO_HOME:-${HOME:-/nonexistent}/.cargo}/bin/cargo" ]; then
    cargo=${CARGO_HOME:-$HOME/.cargo}/bin/cargo
  fi
  if [ -z "$cargo" ]; then
    echo "$1: no Rust toolchain (cargo not on PATH nor in ~/.cargo/bin): cannot build $2" >&2
    exit 69
  fi
}

# Run the rest of the script under `flock DIR/.lock` (several test runs may start together; a
# waiter then finds the binary built), then print the binary if that build made it.
one_build_at_a_time() { # dir bin script "$@"
  dir=$1
  bin=$2
  script=$3
  shift 3
  mkdir -p "$dir"
  if [ -z "${CARGO_BUILD_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
    CARGO_BUILD_LOCKED=1 exec flock "$dir/.lock" sh "$script" "$@"
  fi
  if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
  fi
}
