/**
 * Networks that change, and readiness that stays true (issue 15 items 2 and 3), with real
 * processes: the device is a test host (its own network namespace joined to ours by a veth pair in
 * 198.18.0.0/15, no route anywhere else) running `tunnel listen -o json`; the local Datum runs here
 * with its gateway on 0.0.0.0 and no relay, so the gateway reaches the device only over the
 * addresses the device publishes. The device moves to new addresses, the gateway restarts with a
 * new identity, the whole local Datum restarts on its `--dir`: each time the public URL serves
 * again with no operator action and the same agent process. When the path stays broken (the
 * Connector's new details cannot be published), the listen says so: run.json's readiness, `/readyz`
 * (503) and `ps` say degraded with the reason, `-o json` emits `tunnel_degraded`, then `tunnel_recovered`.
 * Durations are the benchmark's (bench/network-change.ts); here every wait is bounded by a deadline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, runCli } from "../helpers/cli.ts";
import { addFault, runJsonUnder, until, viaPublic } from "../helpers/faults.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { startTestHost, testHostUnavailable, type TestHost } from "../helpers/test-host.ts";

const unavailable = testHostUnavailable();
if (unavailable) console.log(`skip: network-change tests: ${unavailable}`);

const DATUM_ARGS = ["--gateway-bind", "0.0.0.0:0", "--no-relay"];
const root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "network-change-"));
let datum: LocalDatum;
let host: TestHost;
let listen: ListenProcess;
let env: Record<string, string>;
const stateDir = join(root, "device-state");
/** The listen's health server, on the test host's own loopback (its namespace is ours alone). */
const HEALTH_PORT = 9464;

/** `/readyz` as the test host's own loopback sees it. */
async function readyz(): Promise<{ status: number; body: string }> {
  const script = `const r = await fetch("http://127.0.0.1:${HEALTH_PORT}/readyz"); console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const child = Bun.spawn([...host.wrap, BUN, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(child.stdout).text();
  await child.exited;
  return JSON.parse(out) as { status: number; body: string };
}

interface RunJson {
  pid: number;
  addresses: { address: string; port: number }[];
  readiness: { ready: boolean; state?: string; reason: string };
  workers: { name: string; restarts: number }[];
}

function runJson(): RunJson | undefined {
  return runJsonUnder<RunJson>(stateDir);
}

function events(): { type: string; reason?: string }[] {
  return listen
    .stdout()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { type: string; reason?: string }];
      } catch {
        return [];
      }
    });
}

const port = (url: string): number => Number(new URL(url).port);

/** Served from the device: polled until it answers 200 with the device's body, then five more in a row. */
async function servesAgain(what: string): Promise<void> {
  await until(async () => (await viaPublic(`${listen.url}/n`, 5_000)).body === "device /n", 60_000, `${what}: the public URL serves again`, 250);
  for (let i = 0; i < 5; i++) expect(await viaPublic(`${listen.url}/n`)).toEqual({ status: 200, body: "device /n" });
}

/** The agent ran through it: the same process, alive, its workers never restarted. */
function sameAgent(): void {
  expect(listen.exitCode()).toBeNull();
  expect(runJson()?.pid).toBe(listen.pid);
  expect(runJson()?.workers.map((w) => w.restarts)).toEqual([0, 0]);
}

beforeAll(async () => {
  if (unavailable) return;
  datum = await startLocalDatum(DATUM_ARGS, { dir: join(root, "datum") });
  host = await startTestHost(`moving-${process.pid}`, [port(datum.apiUrl), port(datum.env.DATUM_DEV_CLOUD_EDGE as string)]);
  const originPort = 20_000 + (process.pid % 20_000);
  await host.spawnReady([BUN, join(import.meta.dir, "..", "helpers", "fixtures", "origin.ts"), String(originPort), "device"]);
  env = { ...datum.env, DATUM_CONNECT_DIR: stateDir, HOME: join(root, "device-home") };
  listen = await startListen(["--endpoint", `127.0.0.1:${originPort}`, "-o", "json", "--health", `127.0.0.1:${HEALTH_PORT}`], { env, wrap: host.wrap, readyTimeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  if (unavailable) return;
  await listen?.stop("SIGINT").catch(() => undefined);
  await killAllListens();
  await host?.stop();
  await datum?.stop();
});

describe.skipIf(unavailable !== undefined)("a device whose network changes", () => {
  test("moved to a new address three times: the Connector publishes it and the public URL serves again", async () => {
    await servesAgain("at the start");
    for (const n of [5, 6, 7]) {
      const address = host.moveTo(n);
      await until(() => runJson()?.addresses.some((a) => a.address === address) === true, 30_000, `run.json lists ${address}`);
      await until(
        async () => {
          const state = (await (await datum.admin("state")).json()) as { projects: Record<string, { connectors?: { status?: { connectionDetails?: { publicKey?: { addresses?: { address: string }[] } } } }[] }> };
          return (state.projects["local-project"]?.connectors ?? []).some((c) => c.status?.connectionDetails?.publicKey?.addresses?.some((a) => a.address === address));
        },
        30_000,
        `the Connector publishes ${address}`,
      );
      await servesAgain(`after the move to ${address}`);
    }
    sameAgent();
  }, 180_000);

  test("a move whose new details cannot be published: degraded with the reason, then recovered", async () => {
    const before = events().length;
    // The Connector's status cannot be patched: the gateway keeps dialling the old address.
    const [rule] = await addFault(datum, { match: { method: "PATCH", resource: "connectors", pathIncludes: "/status" }, status: 503 });
    let faulted = true;
    try {
      const address = host.moveTo(9);
      await until(() => events().slice(before).some((e) => e.type === "tunnel_degraded"), 60_000, "a tunnel_degraded event");
      const degraded = events().slice(before).find((e) => e.type === "tunnel_degraded");
      expect(degraded?.reason).toStartWith("the public URL fails after the addresses changed");
      // The event and the file come from one recorded verdict; the file is written right after.
      await until(() => runJson()?.readiness.state === "degraded", 5_000, "run.json says degraded");
      expect(runJson()?.readiness.reason).toStartWith("the public URL fails after the addresses changed");
      const health = await readyz();
      expect(health.status).toBe(503);
      expect(health.body).toContain("the public URL fails after the addresses changed");
      const ps = await runCli(["tunnel", "ps", "-o", "json"], { env, wrap: host.wrap });
      expect(ps.stdout).toContain("degraded");
      expect(ps.stdout).toContain("the public URL fails after the addresses changed");

      expect((await datum.admin(`faults/${rule}`, { method: "DELETE" })).status).toBe(204);
      faulted = false;
      await until(() => events().slice(before).some((e) => e.type === "tunnel_recovered"), 60_000, "a tunnel_recovered event");
      await until(() => runJson()?.readiness.state === "ready", 5_000, "run.json says ready");
      expect((await readyz()).status).toBe(200);
      expect(runJson()?.addresses.map((a) => a.address)).toContain(address);
    } finally {
      if (faulted) await datum.admin(`faults/${rule}`, { method: "DELETE" });
    }
    await servesAgain("after the details were published");
    sameAgent();
  }, 180_000);

  test("the local Datum's gateway restarts with a new identity: served again, the agent untouched", async () => {
    const before = ((await (await datum.admin("gateway")).json()) as { endpointId: string }).endpointId;
    const res = await datum.admin("gateway", { body: { action: "restart" } });
    expect(res.status).toBe(200);
    const after = ((await res.json()) as { endpointId: string }).endpointId;
    expect(after).not.toBe(before);
    await servesAgain("after the gateway restart");
    sameAgent();
  }, 120_000);

  test("the whole local Datum restarts on the same --dir: served again, the agent untouched", async () => {
    await datum.stop();
    expect((await viaPublic(`${listen.url}/n`, 2_000)).status).toBeNull();
    datum = await startLocalDatum(DATUM_ARGS, { dir: join(root, "datum") });
    await servesAgain("after the local Datum restart");
    sameAgent();
  }, 120_000);
});
