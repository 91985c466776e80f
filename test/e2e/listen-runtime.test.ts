/**
 * `tunnel listen` after ready, over time, against `dev cloud` with a 3 s lease: the heartbeat
 * keeps the Connector Ready, a 401 mid-run costs exactly one token refresh, and deleting the
 * tunnel upstream ends the listen through the 10 s runtime watch. One listen process serves the
 * three scenarios in order (each ~10 s of wall time by nature). Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 60000 test/e2e/listen-runtime.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { ControlPlaneClient } from "../../src/controlplane/client.ts";
import { readCallLog } from "../../src/devcloud/datumctl-double/call-log.ts";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import { readRuntime } from "../../src/devcloud/datumctl-double/tokens.ts";
import { tokenFingerprint } from "../../src/devcloud/request-log.ts";
import type { Route } from "../../src/devcloud/routes.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { until } from "../helpers/wait.ts";

const PROJECT = "local-project";
const LEASE_S = 3;

interface Condition {
  type: string;
  status: string;
}
interface Obj {
  metadata: { name: string };
  spec?: Record<string, unknown>;
  status?: { conditions?: Condition[] };
}
interface Logged {
  seq: number;
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
}

let datum: LocalDatum;
let origin: Server<undefined>;
let main: ListenProcess;
let tunnelId: string;
let connectorName: string;

async function project(): Promise<Record<string, Obj[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, Record<string, Obj[]>> }).projects[PROJECT] ?? {};
}

async function connector(): Promise<Obj | undefined> {
  return (await project()).connectors?.find((c) => c.metadata.name === connectorName);
}

const readyStatus = (c: Obj | undefined): string | undefined => c?.status?.conditions?.find((x) => x.type === "Ready")?.status;

async function requests(since = 0): Promise<Logged[]> {
  const res = await datum.admin(`requests?since=${since}`);
  return ((await res.json()) as { items: Logged[] }).items;
}

const getTokenCalls = (): number =>
  readCallLog(datum.env.DATUMCTL_DOUBLE_LOG as string).calls.filter((c) => c.argv.includes("get-token")).length;

const isLeaseRenewal = (r: Logged): boolean => r.method === "PATCH" && /\/leases\/[^/]+$/.test(r.path);

beforeAll(async () => {
  datum = await startLocalDatum();
  // Before any Connector exists: its Lease is created with this duration.
  expect((await datum.admin("config", { body: { leaseDurationSeconds: LEASE_S } })).status).toBe(200);
  // Every helper call mints a new token, so "one refresh" is countable and a denied token stays denied.
  updateDoubleState(datum.env.DATUMCTL_DOUBLE_STATE as string, (s) => {
    const session = s.sessions[datum.env.DATUM_SESSION as string];
    if (!session) throw new Error("the double has no session for DATUM_SESSION");
    session.token = { ...session.token, mode: "always-new" };
  });
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("runtime origin") });
  main = await startListen(["--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env });
  tunnelId = /^ {2}id: (tunnel-[a-z0-9]+)$/m.exec(main.stderr())?.[1] as string;
  const routes = ((await (await datum.admin("routes")).json()) as { items: Route[] }).items;
  connectorName = routes.find((r) => r.proxyName === tunnelId)?.connectorName as string;
  expect(connectorName).toMatch(/^datum-connect-/);
});

afterAll(async () => {
  await killAllListens();
  origin?.stop(true);
  await datum?.stop();
});

describe("a running listen", () => {
  test("with a 3 s lease, the Connector stays Ready across 3 lease durations", async () => {
    const lease = (await project()).leases?.find((l) => l.metadata.name === connectorName);
    expect(lease?.spec?.leaseDurationSeconds).toBe(LEASE_S);

    const samples: Array<string | undefined> = [];
    const renewTimes = new Set<unknown>();
    const started = performance.now();
    // 20 samples, 500 ms apart: ~10 s ≥ 3 × 3 s.
    for (let i = 0; i < 20; i++) {
      const snap = await project();
      samples.push(readyStatus(snap.connectors?.find((c) => c.metadata.name === connectorName)));
      renewTimes.add(snap.leases?.find((l) => l.metadata.name === connectorName)?.spec?.renewTime);
      await Bun.sleep(500);
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(3 * LEASE_S * 1_000);
    expect(samples.filter((s) => s !== "True")).toEqual([]);
    // Renewed every 1–2 s (d/2 + jitter): a stale Lease that happens to still say Ready fails here.
    expect(renewTimes.size).toBeGreaterThanOrEqual(4);
    expect(main.exitCode()).toBeNull();
    const res = await fetch(main.url, { keepalive: false });
    expect([res.status, await res.text()]).toEqual([200, "runtime origin"]);
  }, 20_000);

  test("a 401 mid-run costs exactly one token refresh, then renewals resume with the new token", async () => {
    const statePath = datum.env.DATUMCTL_DOUBLE_STATE as string;
    const before = getTokenCalls();
    // The token in use: the one whose fingerprint the last lease renewal carried.
    const lastRenewal = (await requests()).filter(isLeaseRenewal).at(-1);
    const inUse = lastRenewal?.headers.authorization;
    expect(inUse).toStartWith("Bearer sha256:");
    const token = readRuntime(statePath).issued.find((t) => `Bearer ${tokenFingerprint(t)}` === inUse);
    if (!token) throw new Error("the token listen uses is not one the double issued");
    const mark = (await requests()).at(-1)?.seq ?? 0;

    expect((await datum.admin("deny-token", { body: { token } })).status).toBe(204);
    try {
      await until(() => getTokenCalls() > before, 10_000, "a token refresh");
      // Settle: a renewal and a runtime-watch poll (every 10 s) with the new token, both accepted.
      await until(
        async () => {
          const after = (await requests(mark)).filter((r) => r.status < 300 && r.headers.authorization !== inUse);
          return after.some(isLeaseRenewal) && after.some((r) => r.method === "GET" && r.path.includes("/httpproxies/"));
        },
        14_000,
        "renewal and watch with the new token",
      );
      expect(getTokenCalls()).toBe(before + 1);
      const seen = await requests(mark);
      expect(seen.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(1);
      expect(seen.filter((r) => r.status === 401).every((r) => r.headers.authorization === inUse)).toBe(true);
      await until(async () => readyStatus(await connector()) === "True", 5_000, "Connector Ready");
      expect(main.exitCode()).toBeNull();
      expect(main.stderr()).not.toContain("token refresh failed");
    } finally {
      await datum.admin("deny-token", { method: "DELETE" });
    }
  }, 35_000);

  test("the tunnel deleted upstream: listen stops within one watch period, exit 64", async () => {
    const api = new ControlPlaneClient({
      apiBase: datum.apiUrl,
      project: PROJECT,
      tokens: { token: async () => "runtime-e2e-admin", invalidate: async () => "runtime-e2e-admin" },
    });
    const readyLine = main.stdout();
    const t0 = performance.now();
    expect(await api.delete("HTTPProxy", tunnelId)).toBe(true);
    const exit = await Promise.race([
      main.done,
      Bun.sleep(14_000).then(() => {
        throw new Error(`listen still running 14 s after the deletion:\n${main.stderr()}`);
      }),
    ]);
    const elapsed = performance.now() - t0;
    expect(exit.code).toBe(64);
    expect(elapsed).toBeLessThan(12_500);
    expect(exit.stderr).toContain(`Tunnel ${tunnelId} no longer exists on the server. Stopping.`);
    expect(exit.stdout).toBe(readyLine);
  }, 20_000);
});
