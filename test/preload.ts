/**
 * Test isolation: before any `src/` import, point every state and config
 * directory at a per-process temp dir and drop inherited Datum/datumctl variables, so no test can
 * read or write the developer's real `~/.datumctl` or tunnel state.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "bun:test";

/** Set by scripts/ outside the tests: the netns marker and where the relay build is (test/helpers/relay.ts). */
const KEEP = new Set([
  "DATUM_CONNECT_IN_NETNS",
  "DATUM_CONNECT_TEST_IROH_RELAY",
  "DATUM_CONNECT_TEST_IROH_RELAY_MISSING",
  // The interop peer's build (test/helpers/interop-peer.ts).
  "DATUM_CONNECT_TEST_INTEROP_PEER",
  "DATUM_CONNECT_TEST_INTEROP_PEER_MISSING",
]);
const root = mkdtempSync(join(tmpdir(), "datumctl-connect-test-"));
for (const key of Object.keys(process.env)) {
  if ((key.startsWith("DATUM_") || key.startsWith("DATUMCTL_")) && !KEEP.has(key)) {
    delete process.env[key];
  }
}
process.env.HOME = join(root, "home");
process.env.XDG_DATA_HOME = join(root, "data");
// A caller's proxy settings must not route the tests' loopback traffic (test/e2e/proxy.test.ts sets its own).
for (const key of ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"]) delete process.env[key];
process.env.XDG_CONFIG_HOME = join(root, "config");
process.env.XDG_STATE_HOME = join(root, "state");
process.env.XDG_CACHE_HOME = join(root, "cache");
process.env.DATUM_CONNECT_DIR = join(root, "connect");
process.env.NO_COLOR = "1";
process.env.DATUM_CONNECT_TEST_ROOT = root;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
