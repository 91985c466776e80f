/**
 * The real iroh relay around the data plane (docs/relays.md): the local Datum runs the upstream
 * `iroh-relay` server on loopback (scripts/build-relay.sh), devices and the gateway are given its
 * URL, and iroh reports it as the home relay the Connector publishes.
 *
 * Relay-only paths: a second machine (test/helpers/test-host.ts) whose namespace drops all
 * non-loopback UDP (nftables inside that namespace only), so the gateway can reach the device only
 * through the relay, which the machine reaches over TCP on a forwarded loopback port. The tunnel
 * becomes ready and serves, `status` says the path is relayed; a relay restart in the middle of a
 * transfer does not break it; a relay that is down when the listen starts makes it wait, say so,
 * and become ready once the relay is up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MiB, pattern, sha256 } from "../helpers/bytes.ts";
import { runCli } from "../helpers/cli.ts";
import { lastSeq, requests, until, viaPublic, type Logged } from "../helpers/faults.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { blockDirectUdp, droppedUdp, nftUnavailable, relayBinaryForTests } from "../helpers/relay.ts";
import { startTestHost, testHostUnavailable, type TestHost } from "../helpers/test-host.ts";

const relayBin = relayBinaryForTests();
if (relayBin.skip) console.log(`skip: relay tests: ${relayBin.skip}`);
const hostUnavailable = testHostUnavailable() ?? nftUnavailable();
if (!relayBin.skip && hostUnavailable) console.log(`skip: relay-only tests: ${hostUnavailable}`);

const BULK = pattern(8 * MiB, 11);
const BULK_SHA = sha256(BULK);

let datum: LocalDatum | undefined;
let origin: ReturnType<typeof Bun.serve>;
let relayUrl: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (relayBin.skip) return;
  // The gateway reaches the second machine over its veth pair, not only loopback.
  datum = await startLocalDatum(["--gateway-bind", "0.0.0.0:0", "--relay-bin", relayBin.path as string]);
  relayUrl = datum.env.DATUM_DEV_CLOUD_RELAY as string;
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/bulk") return new Response(BULK);
      if (path === "/slow") {
        // 2 MiB in 32 chunks, 150 ms apart: about 5 s on the wire, long enough to restart the relay under it.
        let i = 0;
        return new Response(
          new ReadableStream({
            async pull(c) {
              if (i === 32) return c.close();
              if (i > 0) await Bun.sleep(150);
              c.enqueue(BULK.subarray(i * 65_536, (i + 1) * 65_536));
              i++;
            },
          }),
        );
      }
      return new Response(`R ${path}`);
    },
  });
});

afterAll(async () => {
  await killAllListens();
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  origin?.stop(true);
  await datum?.stop();
});

function d(): LocalDatum {
  return datum as LocalDatum;
}

/** A fresh state root and HOME: another machine's local state. */
function machineEnv(): Record<string, string> {
  const root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "machine-"));
  return { ...d().env, DATUM_CONNECT_DIR: join(root, "state"), HOME: join(root, "home") };
}

const port = (url: string): number => Number(new URL(url).port);
const relaysIn = (r: Logged): string[] => [...((r as Logged & { body?: string }).body ?? "").matchAll(/"homeRelay":"([^"]+)"/g)].map((m) => m[1] as string);

async function relayAdmin(action: "stop" | "start" | "restart"): Promise<void> {
  const res = await d().admin("relay-server", { body: { action } });
  if (!res.ok) throw new Error(`relay ${action}: HTTP ${res.status} ${await res.text()}`);
}

/** A named tunnel's run.json under a machine's state root. */
function runState(env: Record<string, string>, name: string): { homeRelay: string | null; counters: { paths?: { direct: number; relay: number; none: number } } } | undefined {
  try {
    const dir = join(env.DATUM_CONNECT_DIR as string, "tunnels", name);
    return JSON.parse(readFileSync(join(dir, "run.json"), "utf8"));
  } catch {
    return undefined;
  }
}

async function fetchBytes(url: string, timeoutMs = 60_000): Promise<{ status: number; bytes: Uint8Array }> {
  const res = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) };
}

describe.skipIf(relayBin.skip !== undefined)("the local Datum's real relay", () => {
  test("dev cloud runs iroh-relay on loopback and hands its URL to devices instead of the placeholder", async () => {
    expect(relayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(d().env.DATUM_CONNECT_RELAY_URLS).toBe(relayUrl);
    expect(d().env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY).toBeUndefined();
    expect((await fetch(`${relayUrl}healthz`)).status).toBe(200);
    expect(d().stderr()).toContain(`relay: iroh-relay 1.0.2 serving ${relayUrl}`);
    const state = (await (await d().admin("relay-server")).json()) as { url: string; running: boolean };
    expect(state).toMatchObject({ url: relayUrl, running: true });
  });

  test("the Connector's published home relay is the local relay, reached by iroh", async () => {
    const since = await lastSeq(d());
    const env = machineEnv();
    const listen = await startListen(["--name", "here", "--endpoint", `127.0.0.1:${origin.port}`], { env });
    // No placeholder declared: the listen waited for iroh's relay and did not warn about it.
    expect(listen.stderr()).not.toContain("no relay reached");
    const published = (await requests(d(), since)).filter((r) => r.method === "PATCH" || r.method === "POST").flatMap(relaysIn);
    expect(published.length).toBeGreaterThan(0);
    expect(new Set(published)).toEqual(new Set([relayUrl]));
    expect((await viaPublic(`${listen.url}/x`)).body).toBe("R /x");
    // Same machine, UDP open: the gateway's connection goes direct even though both know the relay.
    await until(() => (runState(env, "here")?.counters.paths?.direct ?? 0) >= 1, 20_000, "run.json counting a direct connection");
    const status = await runCli(["tunnel", "status", "--name", "here"], { env });
    expect(/home relay:\s+(\S+)/.exec(status.stdout)?.[1]).toBe(relayUrl);
    expect(status.stdout).toMatch(/path:\s+direct \(1 connection\)/);
    expect((await listen.stop("SIGINT")).code).toBe(0);
  }, 60_000);
});

describe.skipIf(relayBin.skip !== undefined)("--no-relay", () => {
  test("runs no relay although one is there: the placeholder, and the reason on the relay: line", async () => {
    const plain = await startLocalDatum(["--relay-bin", relayBin.path as string, "--no-relay"]);
    try {
      expect(plain.stderr()).toContain("relay: none runs here (--no-relay); devices publish the placeholder");
      expect(plain.env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY).toBe(`${plain.apiUrl}/_dev/relay/`);
      expect(plain.env.DATUM_DEV_CLOUD_RELAY).toBeUndefined();
    } finally {
      await plain.stop();
    }
  });
});

describe.skipIf(relayBin.skip !== undefined || hostUnavailable !== undefined)("relay-only: no direct UDP between the device and the gateway", () => {
  let host: TestHost;
  let n = 0;

  beforeAll(async () => {
    if (relayBin.skip || hostUnavailable) return;
    const edgePort = port((d().env.DATUM_CONNECT_PUBLIC_URL as string).replace("{hostname}", "edge"));
    host = await startTestHost(`relay-only-${process.pid}`, [port(d().apiUrl), edgePort, port(relayUrl), origin.port as number]);
    cleanups.push(() => host.stop());
    blockDirectUdp(host);
  });

  /** A named tunnel (so `tunnel status --name` reads it) served from the relay-only machine. */
  async function listenOnHost(opts: { waitForReady?: boolean } = {}): Promise<{ listen: ListenProcess; env: Record<string, string>; name: string }> {
    const env = machineEnv();
    const name = `relayed${++n}`;
    const listen = await startListen(["--name", name, "--endpoint", `127.0.0.1:${origin.port}`], { env, wrap: host.wrap, readyTimeoutMs: 60_000, ...opts });
    return { listen, env, name };
  }

  test("the nftables rule really blocks UDP from the host", () => {
    const listed = Bun.spawnSync([...host.wrap, "nft", "list", "ruleset"], { stdout: "pipe" }).stdout.toString();
    expect(listed).toMatch(/oifname != "lo" meta l4proto udp counter packets \d+ bytes \d+ drop/);
    expect(listed).toMatch(/iifname != "lo" meta l4proto udp counter packets \d+ bytes \d+ drop/);
    // The test's own namespace has no such rule.
    const own = Bun.spawnSync(["nft", "list", "ruleset"], { stdout: "pipe" }).stdout.toString();
    expect(own).not.toContain("relay_only");
  });

  test("the tunnel becomes ready through the relay, serves, and status says the path is relayed", async () => {
    const { listen, env, name } = await listenOnHost();
    expect((await viaPublic(`${listen.url}/who`)).body).toBe("R /who");
    const got = await fetchBytes(`${listen.url}/bulk`);
    expect(got.status).toBe(200);
    expect(sha256(got.bytes)).toBe(BULK_SHA);
    // run.json folds the data plane's figures in every few seconds.
    await until(() => (runState(env, name)?.counters.paths?.relay ?? 0) >= 1, 20_000, "run.json counting a relayed connection");
    expect(runState(env, name)?.counters.paths).toMatchObject({ direct: 0 });
    expect(runState(env, name)?.homeRelay).toBe(relayUrl);
    // iroh did try the direct way: its datagrams are what the host's rules dropped.
    expect(droppedUdp(host)).toBeGreaterThan(0);
    const status = await runCli(["tunnel", "status", "--name", name], { env });
    expect(status.stdout).toMatch(/path:\s+relayed \(1 connection through the relay\)/);
    expect((await listen.stop("SIGINT")).code).toBe(0);
  }, 90_000);

  test("a relay restarted in the middle of a transfer: the transfer completes intact and the tunnel keeps serving", async () => {
    const { listen } = await listenOnHost();
    expect((await viaPublic(`${listen.url}/warm`)).body).toBe("R /warm");
    const res = await fetch(`${listen.url}/slow`, { keepalive: false, signal: AbortSignal.timeout(60_000) });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    let received = 0;
    let restarted = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      if (!restarted && received >= 256 * 1024) {
        restarted = true;
        await relayAdmin("restart");
      }
    }
    expect(restarted).toBe(true);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(BULK.subarray(0, 2 * MiB)));
    expect((await viaPublic(`${listen.url}/after`, 30_000)).body).toBe("R /after");
    expect((await listen.stop("SIGINT")).code).toBe(0);
  }, 120_000);

  test("the relay down at start: the listen waits, says so, and becomes ready once the relay is up", async () => {
    await relayAdmin("stop");
    try {
      const { listen } = await listenOnHost({ waitForReady: false });
      await listen.waitFor(() => listen.stderr().includes("no relay reached within 10s"), 30_000, "the no-relay warning");
      expect(listen.stdout()).not.toMatch(/Tunnel ready/);
      await relayAdmin("start");
      await listen.waitFor(() => /Tunnel ready after \d+ sec: /.test(listen.stdout()), 90_000, "ready once the relay is up");
      const url = /Tunnel ready after \d+ sec: (\S+)/.exec(listen.stdout())?.[1] as string;
      expect((await viaPublic(`${url}/late`)).body).toBe("R /late");
      expect((await listen.stop("SIGINT")).code).toBe(0);
    } finally {
      await relayAdmin("start");
    }
  }, 150_000);
});

describe("without a relay binary", () => {
  test("dev cloud falls back to the declared placeholder and says why on one relay: line", async () => {
    // The tests' XDG_CACHE_HOME is their own, empty: no cached build there.
    const plain = await startLocalDatum();
    try {
      const why = plain.stderr().split("\n").filter((l) => l.includes("relay: "));
      expect(why).toHaveLength(1);
      expect(why[0]).toContain(`no iroh-relay 1.0.2 at ${join(process.env.XDG_CACHE_HOME as string, "datumctl-connect", "iroh-relay-1.0.2", "bin", "iroh-relay")}`);
      expect(why[0]).toContain("build it with scripts/build-relay.sh");
      expect(plain.env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY).toBe(`${plain.apiUrl}/_dev/relay/`);
      expect(plain.env.DATUM_CONNECT_RELAY_URLS).toBe(`${plain.apiUrl}/_dev/relay/`);
      expect(plain.env.DATUM_DEV_CLOUD_RELAY).toBeUndefined();
      expect((await plain.admin("relay-server")).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });

  test("a --relay-bin that is not there is a usage error (exit 2), not a quiet fallback", async () => {
    const dir = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "cloud-"));
    const r = await runCli(["dev", "cloud", "--dir", dir, "--relay-bin", join(dir, "no-such-relay")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --relay-bin ${join(dir, "no-such-relay")} is not an executable file`);
    expect(r.stderr).toContain("hint: build one with scripts/build-relay.sh");
  });
});
