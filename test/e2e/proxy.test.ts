/**
 * HTTP(S)_PROXY and NO_PROXY (docs/proxies.md) against a real forward proxy on loopback
 * (tinyproxy, started here). With the proxy set and NO_PROXY unset, the control-plane requests —
 * the main thread's and the heartbeat worker's — and the public-URL verification go through it,
 * the origin probe does not (the data plane dials the origin directly), and the proxy's credentials
 * are nowhere in the output, the logs or the state. With NO_PROXY naming loopback, nothing does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { until } from "../helpers/faults.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { startTinyproxy, tinyproxyPath, type Tinyproxy } from "../helpers/tinyproxy.ts";

const SECRET = "pr0xy-s3cret";
const missing = tinyproxyPath() === null;
if (missing) console.warn("skipping test/e2e/proxy.test.ts: tinyproxy is not installed (apt-get install tinyproxy)");

let datum: LocalDatum;
let proxy: Tinyproxy;
let origin: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  if (missing) return;
  datum = await startLocalDatum();
  const edge = new URL(datum.env.DATUM_CONNECT_PUBLIC_URL!.replace("{hostname}", "edge.localhost"));
  // `*.localhost` resolves nowhere a proxy can look it up: the proxy hands those to the local edge.
  proxy = await startTinyproxy({ upstreams: [[`127.0.0.1:${edge.port}`, ".localhost"]] });
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("origin ok") });
});

afterAll(async () => {
  if (missing) return;
  for (const name of ["viaproxy", "direct"]) await runCli(["tunnel", "stop", "--name", name], { env: datum.env }).catch(() => undefined);
  origin.stop(true);
  await proxy.stop();
  await datum.stop();
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile() && st.size < 20_000_000) out.push(path);
  }
  return out;
}

const apiPort = (): string => new URL(datum.apiUrl).port;

test.skipIf(missing)("with HTTP(S)_PROXY set, control-plane and verification traffic go through the proxy; the origin probe does not", async () => {
  const proxyUrl = `http://user:${SECRET}@127.0.0.1:${proxy.port}`;
  const env = { ...datum.env, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: undefined, no_proxy: undefined, http_proxy: undefined, https_proxy: undefined };
  const before = proxy.requests().length;
  const started = await runCli(["tunnel", "listen", "--detach", "--name", "viaproxy", "--endpoint", `127.0.0.1:${origin.port}`], { env, timeoutMs: 60_000 });
  expect(started.code, started.stderr).toBe(0);
  const url = started.stdout.trim().split("\n").at(-1) as string;
  const publicHost = new URL(url).host;

  // The heartbeat worker's status patch and lease renewal use the proxy too.
  await until(() => proxy.requests().slice(before).some((r) => /^PATCH .*\/leases\//.test(r)), 30_000, "a lease renewal through the proxy");
  const seen = proxy.requests().slice(before);
  const api = `http://127.0.0.1:${apiPort()}/apis/`;
  expect(seen.some((r) => r.startsWith(`GET ${api}`))).toBe(true);
  expect(seen.some((r) => r.startsWith(`POST ${api}`) && r.endsWith("/httpproxies"))).toBe(true);
  expect(seen.some((r) => /^PATCH .*\/connectors\/[^/]+\/status$/.test(r))).toBe(true);
  // The public-URL verification.
  expect(seen.some((r) => r.startsWith(`GET http://${publicHost}/`))).toBe(true);
  // The origin probe goes directly, as the data plane dials the origin.
  expect(seen.some((r) => r.includes(`127.0.0.1:${origin.port}`))).toBe(false);

  const list = await runCli(["tunnel", "list", "-o", "json"], { env });
  expect(list.code).toBe(0);
  expect(proxy.requests().length).toBeGreaterThan(seen.length + before);

  // The proxy's credentials are nowhere: output, logs, state.
  const logs = await runCli(["tunnel", "logs", "--name", "viaproxy"], { env: datum.env });
  for (const text of [started.stdout, started.stderr, list.stdout, list.stderr, logs.stdout]) expect(text).not.toContain(SECRET);
  for (const file of filesUnder(datum.env.DATUM_CONNECT_DIR!)) expect(readFileSync(file, "latin1"), file).not.toContain(SECRET);

  expect((await runCli(["tunnel", "stop", "--name", "viaproxy"], { env: datum.env })).code).toBe(0);
}, 120_000);

test.skipIf(missing)("doctor's requests go through the proxy too, and its relay lines say iroh does not", async () => {
  // A relay stand-in that answers /ping, as iroh relays do.
  const relay = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(new URL(req.url).pathname === "/ping" ? "pong" : "", { status: new URL(req.url).pathname === "/ping" ? 200 : 404 }) });
  try {
    const proxyUrl = `http://user:${SECRET}@127.0.0.1:${proxy.port}`;
    const relayUrl = `http://127.0.0.1:${relay.port}/`;
    const env = { ...datum.env, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: undefined, DATUM_CONNECT_RELAY_URLS: relayUrl, DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: undefined };
    const before = proxy.requests().length;
    const r = await runCli(["tunnel", "doctor", "-o", "json"], { env, timeoutMs: 60_000 });
    expect(r.code, r.stdout).toBe(0);
    const report = JSON.parse(r.stdout) as { hops: { id: string; status: string; seen: string }[] };
    const seen = proxy.requests().slice(before);
    expect(seen.some((l) => l.startsWith(`GET http://127.0.0.1:${apiPort()}/apis/`))).toBe(true);
    expect(seen).toContain(`GET ${relayUrl}ping`);
    expect(report.hops.find((h) => h.id === "api.proxy")?.seen).toBe(`through http://***@127.0.0.1:${proxy.port} (HTTP_PROXY)`);
    expect(report.hops.find((h) => h.id === "dataplane.relay")?.seen).toContain("iroh does not use HTTP proxies");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  } finally {
    relay.stop(true);
  }
}, 60_000);

test.skipIf(missing)("NO_PROXY=127.0.0.1,localhost,.localhost keeps every request direct", async () => {
  const proxyUrl = `http://127.0.0.1:${proxy.port}`;
  const env = { ...datum.env, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: "127.0.0.1,localhost,.localhost", no_proxy: undefined, http_proxy: undefined, https_proxy: undefined };
  const before = proxy.requests().length;
  const started = await runCli(["tunnel", "listen", "--detach", "--name", "direct", "--endpoint", `127.0.0.1:${origin.port}`], { env, timeoutMs: 60_000 });
  expect(started.code, started.stderr).toBe(0);
  const list = await runCli(["tunnel", "list"], { env });
  expect(list.code).toBe(0);
  expect((await runCli(["tunnel", "stop", "--name", "direct"], { env: datum.env })).code).toBe(0);
  expect(proxy.requests().slice(before)).toEqual([]);
}, 120_000);
