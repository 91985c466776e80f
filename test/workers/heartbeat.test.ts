/**
 * The real heartbeat worker (workers/heartbeat.ts) under the real WorkerSupervisor, against an
 * in-process local Datum control plane with a 3 s lease: renewals keep the Connector Ready; a
 * killed worker is respawned and, given its start message again, keeps it Ready; a 401 is reported
 * exactly once per rejected token and renewals resume once a fresh token arrives. No iroh here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlaneClient } from "../../src/controlplane/client.ts";
import { tokenFingerprint } from "../../src/devcloud/request-log.ts";
import { startControlPlane, type ControlPlane } from "../../src/devcloud/server.ts";
import { WorkerSupervisor } from "../../src/supervise/worker.ts";
import { TunnelService } from "../../src/tunnel/service.ts";
import { FromHeartbeat, type ToHeartbeat } from "../../workers/messages.ts";
import { until as waitUntil } from "../helpers/wait.ts";

const PROJECT = "heartbeat-project";
const LEASE_S = 3;
const ADDRESSES = [{ address: "127.0.0.1", port: 45_999 }];

let cp: ControlPlane;
let dir: string;
let api: ControlPlaneClient;
let supervisor: WorkerSupervisor<ToHeartbeat, FromHeartbeat>;
let connectorName: string;
let relay: string;
const endpointId = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
/** What main would hand the worker: the current token and its sequence number. */
let current = { token: "heartbeat-token-0", seq: 0 };
const events: Array<{ msg: FromHeartbeat; at: number }> = [];
const logs: string[] = [];

const since = (at: number, type: FromHeartbeat["type"]) => events.filter((e) => e.at >= at && e.msg.type === type);

function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<unknown> {
  return waitUntil(check, timeoutMs, what, { detail: () => `events: ${events.map((e) => e.msg.type).join(",")}\nlogs:\n${logs.join("\n")}` });
}

async function connectorReady(): Promise<string | undefined> {
  const c = await api.get("Connector", connectorName);
  return c?.status?.conditions?.find((x) => x.type === "Ready")?.status;
}

function startMessage(): ToHeartbeat {
  return {
    type: "start",
    apiBase: cp.url,
    project: PROJECT,
    userAgent: "datumctl-connect-test/heartbeat",
    endpointId,
    addresses: ADDRESSES,
    homeRelay: null,
    placeholderRelay: relay,
    token: current.token,
    seq: current.seq,
  };
}

beforeAll(async () => {
  cp = await startControlPlane({ config: { leaseDurationSeconds: LEASE_S, leaseExpiryJitter: 0 } });
  relay = `${cp.url}/_dev/relay/`;
  dir = mkdtempSync(join(tmpdir(), "heartbeat-worker-"));
  // The test's own identity: never the token the worker uses, so denying that one leaves us alone.
  api = new ControlPlaneClient({
    apiBase: cp.url,
    project: PROJECT,
    tokens: { token: async () => "heartbeat-test-admin", invalidate: async () => "heartbeat-test-admin" },
  });
  const service = new TunnelService({ client: api, endpointId, allowListPath: join(dir, "state.yml") });
  const tunnel = await service.create({ label: "hb", endpoint: "127.0.0.1:3999", details: { homeRelay: relay, addresses: ADDRESSES } });
  connectorName = tunnel.connectorName as string;
  expect(connectorName).toMatch(/^datum-connect-/);

  supervisor = new WorkerSupervisor<ToHeartbeat, FromHeartbeat>({
    name: "heartbeat",
    schema: FromHeartbeat,
    log: (level, msg, fields) => logs.push(`${level} ${msg}${fields ? ` ${JSON.stringify(fields)}` : ""}`),
    onMessage: (msg) => events.push({ msg, at: performance.now() }),
    // What ListenSession does: a respawned worker gets its start message (with the current token) again.
    onRespawn: () => {
      supervisor.post(startMessage());
    },
  });
  await supervisor.start();
  expect(supervisor.post(startMessage())).toBe(true);
  supervisor.markRunning();
});

afterAll(async () => {
  await supervisor?.stop();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("heartbeat worker", () => {
  test("resolves the Connector, patches its details, renews the Lease; the Connector turns Ready", async () => {
    await until(() => since(0, "renewed").length >= 2, 8_000, "two renewals");
    const resolved = events.find((e) => e.msg.type === "resolved")?.msg;
    expect(resolved).toEqual({ type: "resolved", connector: connectorName, lease: connectorName });
    expect(since(0, "patched").length).toBeGreaterThanOrEqual(1);
    expect(since(0, "renewed").every((e) => e.msg.type === "renewed" && e.msg.leaseDurationS === LEASE_S)).toBe(true);
    // Renewals 1–2 s apart for a 3 s lease (⌊d/2⌋ + jitter).
    const [a, b] = since(0, "renewed").slice(-2).map((e) => e.at);
    expect((b as number) - (a as number)).toBeGreaterThan(800);
    expect((b as number) - (a as number)).toBeLessThan(2_600);
    await until(async () => (await connectorReady()) === "True", 3_000, "Connector Ready");
    const lease = await api.get("Lease", connectorName);
    expect(lease?.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Only its own writes: the status subresource and the Lease's renewTime.
    const writes = cp.cloud.requests.entries().filter((r) => r.method !== "GET" && r.headers.authorization === `Bearer ${tokenFingerprint(current.token)}`);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.every((r) => r.path.endsWith(`/connectors/${connectorName}/status`) || r.path.endsWith(`/leases/${connectorName}`))).toBe(true);
  }, 15_000);

  test("killed, it is restarted; given its start again, it keeps the Connector Ready", async () => {
    // Kill right after a renewal: the restart must renew again before the 3 s lease runs out.
    const mark = performance.now();
    await until(() => since(mark, "renewed").length >= 1, 4_000, "a renewal");
    const killedAt = performance.now();
    supervisor.fail("test");

    const readiness: Array<string | undefined> = [];
    await until(
      async () => {
        readiness.push(await connectorReady());
        return supervisor.status().restarts >= 1 && since(killedAt, "renewed").length >= 2;
      },
      8_000,
      "restart and two renewals",
    );
    const status = supervisor.status();
    expect(status.restarts).toBeGreaterThanOrEqual(1);
    expect(status.lastDeath).toMatchObject({ reason: "test", beforeReady: false });
    expect(["ready", "running"]).toContain(status.state);
    // The new worker started from scratch: it looked the Connector up again.
    expect(since(killedAt, "resolved").length).toBe(1);
    expect(readiness.length).toBeGreaterThan(0);
    expect(readiness.filter((r) => r !== "True")).toEqual([]);
    expect(await connectorReady()).toBe("True");
  }, 15_000);

  test("a 401: exactly one `unauthorized` for the rejected token; a fresh token and renewals resume", async () => {
    const mark = performance.now();
    const rejected = current;
    cp.cloud.deniedTokens.add(rejected.token);

    await until(() => since(mark, "unauthorized").length >= 1, 5_000, "unauthorized");
    expect(since(mark, "unauthorized")[0]?.msg).toEqual({ type: "unauthorized", seq: rejected.seq });
    // While main has not answered, the worker waits for the token: no storm of reports or requests.
    await Bun.sleep(2_000);
    expect(since(mark, "unauthorized")).toHaveLength(1);
    const fingerprint = `Bearer ${tokenFingerprint(rejected.token)}`;
    const rejectedCount = () => cp.cloud.requests.entries().filter((r) => r.headers.authorization === fingerprint && r.status === 401).length;
    expect(rejectedCount()).toBe(1);

    current = { token: "heartbeat-token-1", seq: rejected.seq + 1 };
    const handedOver = performance.now();
    expect(supervisor.post({ type: "token", token: current.token, seq: current.seq })).toBe(true);
    await until(() => since(handedOver, "renewed").length >= 2, 6_000, "renewals with the fresh token");
    expect(since(mark, "unauthorized")).toHaveLength(1);
    expect(rejectedCount()).toBe(1);
    const fresh = cp.cloud.requests.entries().filter((r) => r.headers.authorization === `Bearer ${tokenFingerprint(current.token)}`);
    expect(fresh.filter((r) => r.method === "PATCH" && r.status === 200).length).toBeGreaterThanOrEqual(2);
    await until(async () => (await connectorReady()) === "True", 4_000, "Connector Ready again");
  }, 20_000);
});
