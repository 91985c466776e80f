/**
 * The real iroh relay for tests (docs/relays.md). `scripts/test.sh` builds it with cargo before the
 * tests enter their loopback-only namespace (cargo fetches crates) and passes its path in
 * `DATUM_CONNECT_TEST_IROH_RELAY`, or why there is none in `DATUM_CONNECT_TEST_IROH_RELAY_MISSING`.
 * Tests that need it skip with that reason, printed.
 *
 * `blockDirectUdp` makes a test host relay-only: inside that host's network namespace (never the
 * test's own), nftables drops every UDP datagram that is not on `lo`, so iroh between the host and
 * the gateway can only go through the relay, which it reaches over TCP on a forwarded loopback port.
 */
import { accessSync, constants } from "node:fs";
import type { TestHost } from "./test-host.ts";

/** The relay binary's path, or why the relay tests skip here. */
export function relayBinaryForTests(): { path: string; skip?: undefined } | { path?: undefined; skip: string } {
  const path = process.env.DATUM_CONNECT_TEST_IROH_RELAY?.trim();
  if (path) {
    try {
      accessSync(path, constants.X_OK);
      return { path };
    } catch {
      return { skip: `${path} (DATUM_CONNECT_TEST_IROH_RELAY) is not an executable file` };
    }
  }
  const missing = process.env.DATUM_CONNECT_TEST_IROH_RELAY_MISSING?.trim();
  return { skip: missing || "no iroh-relay build: run the tests through scripts/test.sh, which builds it (scripts/build-relay.sh)" };
}

/** Why UDP cannot be blocked inside a test host here, or undefined when it can. */
export function nftUnavailable(): string | undefined {
  return Bun.which("nft") ? undefined : "'nft' (nftables) is not installed";
}

/** Drop all non-loopback UDP in and out of `host` (its own namespace only). */
export function blockDirectUdp(host: TestHost): void {
  const rules = [
    "table inet relay_only {",
    "  chain in { type filter hook input priority 0; policy accept; iifname != \"lo\" meta l4proto udp counter drop; }",
    "  chain out { type filter hook output priority 0; policy accept; oifname != \"lo\" meta l4proto udp counter drop; }",
    "}",
  ].join("\n");
  const r = Bun.spawnSync([...host.wrap, "nft", "-f", "-"], { stdin: new TextEncoder().encode(rules), stdout: "pipe", stderr: "pipe" });
  if (!r.success) throw new Error(`nft in test host ${host.hostname} failed: ${r.stderr.toString().trim()}`);
}

/** UDP datagrams the host's rules dropped so far (in + out): iroh's direct attempts that never got through. */
export function droppedUdp(host: TestHost): number {
  const listed = Bun.spawnSync([...host.wrap, "nft", "list", "table", "inet", "relay_only"], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
  return [...listed.matchAll(/udp counter packets (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}
