#!/bin/sh
# Run a command inside a loopback-only network namespace.
#
# iroh endpoints probe the local router (UPnP/PCP/NAT-PMP) and @number0/iroh cannot switch that off,
# so everything that may bind an iroh endpoint (tests, demo, benchmarks) runs where only `lo` exists.
# Where user namespaces are unavailable (macOS, locked-down kernels) the command runs directly, with a note.
# DATUM_CONNECT_IN_NETNS=1 marks that we are already inside, so nesting is harmless.
if [ "${DATUM_CONNECT_IN_NETNS:-}" = "1" ]; then
  exec "$@"
fi
if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
   && unshare -rn sh -c 'ip link set lo up' >/dev/null 2>&1; then
  DATUM_CONNECT_IN_NETNS=1 exec unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
echo "note: no user network namespace here (unshare/ip unavailable); running without loopback-only isolation" >&2
exec "$@"
