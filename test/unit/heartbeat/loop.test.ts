/**
 * The heartbeat loop (docs/wire-facts.md#heartbeat) against the real in-process local control plane: a
 * Connector made by `TunnelService.create` (so the operator emulation gives it a Lease), a real
 * `ControlPlaneClient`, and a fake clock whose `sleep` returns at once, records the delay and ends
 * the run after N sleeps. What went over the wire is read from the local Datum's request log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlaneClient, type TokenProvider } from "../../../src/controlplane/client.ts";
import type { Connector } from "../../../src/controlplane/schemas.ts";
import type { LoggedRequest } from "../../../src/devcloud/request-log.ts";
import { startControlPlane, type ControlPlane } from "../../../src/devcloud/server.ts";
import type { AbortableClock } from "../../../src/retry/sleep.ts";
import {
  connectionDetails,
  type EndpointDetails,
  type HeartbeatEvent,
  HeartbeatLoop,
  type HeartbeatOptions,
} from "../../../src/heartbeat/loop.ts";
import { microTime } from "../../../src/heartbeat/schedule.ts";
import { TunnelService } from "../../../src/tunnel/service.ts";
import { until } from "../../helpers/wait.ts";

const RELAY = "https://iroh-relay.us-east-1.datumconnect.net./";

type HeartbeatClient = HeartbeatOptions["client"];

// ---------- connectionDetails (pure) ----------

describe("connectionDetails", () => {
  const base = (addresses: EndpointDetails["addresses"]): EndpointDetails => ({ endpointId: "e".repeat(64), addresses, homeRelay: RELAY });

  test.each<[string, EndpointDetails["addresses"], { address: string; port: number }[]]>([
    ["plain IPv4 and IPv6 kept", [{ address: "192.168.1.20", port: 53211 }, { address: "2001:db8::1", port: 53212 }], [
      { address: "192.168.1.20", port: 53211 },
      { address: "2001:db8::1", port: 53212 },
    ]],
    ["IPv6 zones skipped", [{ address: "fe80::1%eth0", port: 1 }, { address: "fe80::1", port: 2 }], [{ address: "fe80::1", port: 2 }]],
    ["IPv4-mapped IPv6 skipped", [{ address: "::ffff:10.0.0.1", port: 1 }], []],
    ["non-IPs skipped", [{ address: "localhost", port: 1 }, { address: "", port: 2 }, { address: "10.0.0.1:3", port: 3 }], []],
    ["ports outside 1–65535 skipped", [{ address: "10.0.0.1", port: 0 }, { address: "10.0.0.2", port: 65536 }, { address: "10.0.0.3", port: 65535 }], [
      { address: "10.0.0.3", port: 65535 },
    ]],
    ["none", [], []],
    [
      "capped at 16, keeping order",
      Array.from({ length: 20 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 1000 + i })),
      Array.from({ length: 16 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 1000 + i })),
    ],
    [
      "the cap counts only valid addresses",
      [{ address: "fe80::1%eth0", port: 1 }, ...Array.from({ length: 16 }, (_, i) => ({ address: `10.0.1.${i + 1}`, port: 2000 + i }))],
      Array.from({ length: 16 }, (_, i) => ({ address: `10.0.1.${i + 1}`, port: 2000 + i })),
    ],
    ["extra fields dropped", [{ address: "10.0.0.1", port: 1, family: "v4" } as { address: string; port: number }], [{ address: "10.0.0.1", port: 1 }]],
  ])("%s", (_name, addresses, expected) => {
    expect(connectionDetails(base(addresses), RELAY)).toEqual({
      type: "PublicKey",
      publicKey: { id: "e".repeat(64), discoveryMode: "DNS", homeRelay: RELAY, addresses: expected },
    });
  });

  test.each([undefined, ""])("no relay (%p) → undefined", (relay) => {
    expect(connectionDetails(base([{ address: "10.0.0.1", port: 1 }]), relay)).toBeUndefined();
  });
});

// ---------- HeartbeatLoop against the local Datum ----------

let cp: ControlPlane;
let dir: string;

beforeAll(async () => {
  cp = await startControlPlane({ port: 0, config: { leaseExpiryJitter: 0 } });
  dir = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "heartbeat-"));
});

afterAll(async () => {
  await cp.stop();
});

const tokens: TokenProvider = {
  token: async () => "fixed-token",
  invalidate: async () => "fixed-token",
};

let projectCounter = 0;

function newProject() {
  const project = `p-hb-${++projectCounter}-${Math.random().toString(36).slice(2, 7)}`;
  const client = new ControlPlaneClient({
    apiBase: cp.url,
    project,
    tokens,
    attemptTimeoutMs: 5_000,
    sleep: async () => undefined,
    notice: () => undefined,
  });
  const endpointId = randomBytes(32).toString("hex");
  const details: EndpointDetails = { endpointId, addresses: [{ address: "127.0.0.1", port: 53211 }], homeRelay: RELAY };
  return { project, client, endpointId, details };
}

type Project = ReturnType<typeof newProject>;

function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<unknown> {
  return until(check, timeoutMs, "condition", { everyMs: 5 });
}

/** A tunnel (so a Connector with connection details) and the Lease the operator gives it. */
async function withTunnel(p: Project): Promise<{ connector: string; lease: string }> {
  const service = new TunnelService({
    client: p.client,
    endpointId: p.endpointId,
    allowListPath: join(dir, `${p.project}.state.yml`),
    deviceAnnotations: { "datum.net/device-name": "test-box" },
    env: {},
    log: { warn: () => undefined, debug: () => undefined },
  });
  const created = await service.create({ label: "web", endpoint: "127.0.0.1:3000", details: { homeRelay: RELAY, addresses: p.details.addresses } });
  const connector = created.connectorName;
  if (!connector) throw new Error("no connector");
  let lease: string | undefined;
  await eventually(async () => {
    lease = (await p.client.get("Connector", connector))?.status?.leaseRef?.name;
    return lease !== undefined && (await p.client.get("Lease", lease)) !== undefined;
  });
  return { connector, lease: lease as string };
}

/** `sleep` returns at once, moving time; after `stopAfter` sleeps the run is aborted. */
class LoopClock implements AbortableClock {
  readonly sleeps: number[] = [];
  constructor(
    public t: number,
    private readonly stopAfter: number,
    private readonly controller: AbortController,
    private readonly onSleep: (n: number, clock: LoopClock) => void | Promise<void>,
  ) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new Error("aborted");
    this.sleeps.push(ms);
    this.t += ms;
    await this.onSleep(this.sleeps.length, this);
    if (this.sleeps.length >= this.stopAfter) this.controller.abort();
  }
}

async function runLoop(
  p: Project,
  opts: {
    stopAfter: number;
    details?: () => EndpointDetails | undefined;
    onSleep?: (n: number, clock: LoopClock) => void | Promise<void>;
    client?: HeartbeatClient;
  },
) {
  const controller = new AbortController();
  const t0 = Date.now();
  const clock = new LoopClock(t0, opts.stopAfter, controller, opts.onSleep ?? (() => undefined));
  const events: HeartbeatEvent[] = [];
  const logs: string[] = [];
  const mark = cp.cloud.requests.entries().at(-1)?.seq ?? 0;
  const loop = new HeartbeatLoop({
    client: opts.client ?? p.client,
    details: opts.details ?? (() => p.details),
    clock,
    random: () => 0,
    onEvent: (e) => events.push(e),
    log: (level, msg) => logs.push(`${level}: ${msg}`),
  });
  await loop.run(controller.signal);
  const sent = cp.cloud.requests.entries().filter((r) => r.project === p.project && r.seq > mark);
  return { t0, clock, events, logs, sent };
}

const patchesTo = (sent: LoggedRequest[], suffix: string) => sent.filter((r) => r.method === "PATCH" && r.path.endsWith(suffix));

describe("HeartbeatLoop", () => {
  test("first iteration: finds the Connector, patches its details, then renews the Lease; the Connector turns Ready", async () => {
    const p = newProject();
    const { connector, lease } = await withTunnel(p);
    expect((await p.client.get("Lease", lease))?.spec?.renewTime ?? undefined).toBeUndefined();
    const readyBefore = (await p.client.get("Connector", connector))?.status?.conditions?.find((c) => c.type === "Ready");
    expect(readyBefore?.status).toBe("False");

    const r = await runLoop(p, { stopAfter: 1 });

    expect(r.events.map((e) => e.type)).toEqual(["resolved", "patched", "renewed"]);
    expect(r.events[0]).toEqual({ type: "resolved", connector, lease });
    expect(r.events[2]).toEqual({ type: "renewed", at: r.t0, leaseDurationS: 30 });
    expect(r.clock.sleeps).toEqual([15_000]);

    const lookup = r.sent.find((s) => s.method === "GET" && s.path.endsWith("/connectors"));
    expect(lookup?.query.fieldSelector).toBe(`status.connectionDetails.publicKey.id=${p.endpointId}`);
    const writes = r.sent.filter((s) => s.method !== "GET");
    expect(writes.map((w) => w.method)).toEqual(["PATCH", "PATCH"]);
    expect(writes[0]?.path).toEndWith(`/connectors/${connector}/status`);
    expect(writes[1]?.path).toEndWith(`/leases/${lease}`);
    expect(writes[0]?.json).toEqual({ status: { connectionDetails: connectionDetails(p.details, RELAY) } } as never);
    expect(writes[1]?.json).toEqual({ spec: { renewTime: microTime(r.t0) } });
    expect(writes[0]?.headers["content-type"]).toBe("application/merge-patch+json");

    const renewed = await p.client.get("Lease", lease);
    expect(renewed?.spec?.renewTime).toBe(microTime(r.t0));
    expect(renewed?.spec?.leaseDurationSeconds).toBe(30);
    await eventually(async () => {
      const ready = (await p.client.get("Connector", connector))?.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "True";
    });
    expect(r.logs).toEqual([]);
  });

  test("unchanged details are not patched again; the Lease is renewed every time", async () => {
    const p = newProject();
    const { connector, lease } = await withTunnel(p);
    const r = await runLoop(p, { stopAfter: 3 });
    expect(r.events.map((e) => e.type)).toEqual(["resolved", "patched", "renewed", "renewed", "renewed"]);
    expect(patchesTo(r.sent, `/connectors/${connector}/status`)).toHaveLength(1);
    const renewals = patchesTo(r.sent, `/leases/${lease}`);
    expect(renewals.map((w) => w.json)).toEqual([
      { spec: { renewTime: microTime(r.t0) } },
      { spec: { renewTime: microTime(r.t0 + 15_000) } },
      { spec: { renewTime: microTime(r.t0 + 30_000) } },
    ]);
    // Resolved once: no second lookup, and the Lease's duration is read once.
    expect(r.sent.filter((s) => s.method === "GET" && s.path.endsWith("/connectors"))).toHaveLength(1);
    expect(r.sent.filter((s) => s.method === "GET" && s.path.endsWith(`/leases/${lease}`))).toHaveLength(1);
    expect(r.clock.sleeps).toEqual([15_000, 15_000, 15_000]);
  });

  test("changed addresses cause exactly one new status patch; a change the CRD would drop causes none", async () => {
    const p = newProject();
    const { connector } = await withTunnel(p);
    let current: EndpointDetails = p.details;
    const moved: EndpointDetails = { ...p.details, addresses: [...p.details.addresses, { address: "192.168.1.20", port: 53211 }] };
    const r = await runLoop(p, {
      stopAfter: 3,
      details: () => current,
      onSleep: (n) => {
        if (n === 1) current = moved;
        // Only an IPv6 zone added: what would be published is unchanged.
        if (n === 2) current = { ...moved, addresses: [...moved.addresses, { address: "fe80::1%eth0", port: 53211 }] };
      },
    });
    const statusPatches = patchesTo(r.sent, `/connectors/${connector}/status`);
    expect(statusPatches.map((w) => w.json)).toEqual([
      { status: { connectionDetails: connectionDetails(p.details, RELAY) } },
      { status: { connectionDetails: connectionDetails(moved, RELAY) } },
    ] as never);
    expect(r.events.map((e) => e.type)).toEqual(["resolved", "patched", "renewed", "patched", "renewed", "renewed"]);
    const stored = await p.client.get("Connector", connector);
    expect(stored?.status?.connectionDetails?.publicKey?.addresses).toEqual([
      { address: "127.0.0.1", port: 53211 },
      { address: "192.168.1.20", port: 53211 },
    ]);
  });

  test("iroh reports no relay: nothing is published, not even the relay already in the Connector's status", async () => {
    const p = newProject();
    const { connector } = await withTunnel(p);
    expect((await p.client.get("Connector", connector))?.status?.connectionDetails?.publicKey?.homeRelay).toBe(RELAY);
    const r = await runLoop(p, { stopAfter: 1, details: () => ({ ...p.details, homeRelay: null }) });
    expect(patchesTo(r.sent, `/connectors/${connector}/status`)).toEqual([]);
    expect(r.events.map((e) => e.type)).toEqual(["resolved", "failed"]);
    expect(r.events[1]).toMatchObject({ type: "failed", step: "details", message: "missing home relay" });
  });

  test("iroh reports no relay but the local Datum declared a placeholder: the placeholder is published", async () => {
    const p = newProject();
    const { connector } = await withTunnel(p);
    const placeholder = "http://127.0.0.1:9/_dev/relay/";
    const controller = new AbortController();
    const clock = new LoopClock(Date.now(), 1, controller, () => undefined);
    const mark = cp.cloud.requests.entries().at(-1)?.seq ?? 0;
    await new HeartbeatLoop({
      client: p.client,
      details: () => ({ ...p.details, homeRelay: null }),
      placeholderRelay: placeholder,
      clock,
      random: () => 0,
      onEvent: () => undefined,
      log: () => undefined,
    }).run(controller.signal);
    const sent = cp.cloud.requests.entries().filter((r) => r.project === p.project && r.seq > mark);
    const [patch] = patchesTo(sent, `/connectors/${connector}/status`);
    expect(patch?.json).toEqual({ status: { connectionDetails: connectionDetails(p.details, placeholder) } } as never);
  });

  test("resync re-patches unchanged details at once and cuts the wait short", async () => {
    const p = newProject();
    const { connector } = await withTunnel(p);
    const controller = new AbortController();
    let loop: HeartbeatLoop | undefined;
    const sleeps: number[] = [];
    // A clock whose first sleep only ends when resync wakes it.
    const clock: AbortableClock = {
      now: () => Date.now(),
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          sleeps.push(ms);
          if (sleeps.length >= 2) {
            controller.abort();
            return resolve();
          }
          signal.addEventListener("abort", () => reject(new Error("woken")), { once: true });
          queueMicrotask(() => loop?.resync());
        }),
    };
    const mark = cp.cloud.requests.entries().at(-1)?.seq ?? 0;
    loop = new HeartbeatLoop({ client: p.client, details: () => p.details, clock, random: () => 0, onEvent: () => undefined, log: () => undefined });
    await loop.run(controller.signal);
    const sent = cp.cloud.requests.entries().filter((r) => r.project === p.project && r.seq > mark);
    // Same details twice: without the resync the second pass would skip the patch.
    expect(patchesTo(sent, `/connectors/${connector}/status`)).toHaveLength(2);
    expect(sleeps).toHaveLength(2);
  });

  test("a deleted Lease drops the cache; the next round resolves the Connector again", async () => {
    const p = newProject();
    const { connector, lease } = await withTunnel(p);
    const r = await runLoop(p, {
      stopAfter: 3,
      onSleep: async (n) => {
        if (n === 1) expect(await p.client.delete("Lease", lease)).toBe(true);
        // The operator's part: a Lease again under the name the Connector refers to.
        if (n === 2) await p.client.create("Lease", { metadata: { name: lease }, spec: { leaseDurationSeconds: 20 } });
      },
    });
    expect(r.events.map((e) => e.type)).toEqual(["resolved", "patched", "renewed", "failed", "resolved", "patched", "renewed"]);
    expect(r.events[3]).toMatchObject({ type: "failed", step: "heartbeat", message: `lease ${lease} not found`, attempt: 0, retryInMs: 2_000 });
    expect(r.events[4]).toEqual({ type: "resolved", connector, lease });
    expect(r.events[6]).toMatchObject({ type: "renewed", leaseDurationS: 20 });
    // Re-resolving means a second lookup and a fresh read of the Lease duration.
    expect(r.sent.filter((s) => s.method === "GET" && s.path.endsWith("/connectors"))).toHaveLength(2);
    expect(r.clock.sleeps).toEqual([15_000, 2_000, 10_000]);
    expect((await p.client.get("Lease", lease))?.spec?.renewTime).toBe(microTime(r.t0 + 17_000));
    expect(r.logs).toEqual([`warn: heartbeat: heartbeat failed (attempt 1, retrying in 2s): lease ${lease} not found`]);
  });

  test("no Connector yet: backs off 2 s, 4 s, 8 s, 16 s, 30 s, 30 s", async () => {
    const p = newProject();
    const r = await runLoop(p, { stopAfter: 6 });
    expect(r.clock.sleeps).toEqual([2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(r.events.map((e) => (e.type === "failed" ? [e.step, e.message, e.attempt, e.retryInMs] : e.type))).toEqual([
      ["connector lookup", "no connector yet", 0, 2_000],
      ["connector lookup", "no connector yet", 1, 4_000],
      ["connector lookup", "no connector yet", 2, 8_000],
      ["connector lookup", "no connector yet", 3, 16_000],
      ["connector lookup", "no connector yet", 4, 30_000],
      ["connector lookup", "no connector yet", 5, 30_000],
    ]);
    // Debug, not warn: before setup creates the Connector this is the normal state.
    expect(r.logs[0]).toBe("debug: heartbeat: connector lookup failed (attempt 1, retrying in 2s): no connector yet");
    expect(r.sent.filter((s) => s.method !== "GET")).toEqual([]);
  });

  test("the backoff resets once the Connector appears", async () => {
    const p = newProject();
    const r = await runLoop(p, {
      stopAfter: 5,
      onSleep: async (n) => {
        if (n === 2) await withTunnel(p);
      },
    });
    expect(r.events.map((e) => e.type)).toEqual(["failed", "failed", "resolved", "patched", "renewed", "renewed", "renewed"]);
    expect(r.clock.sleeps).toEqual([2_000, 4_000, 15_000, 15_000, 15_000]);
  });

  test("no endpoint details yet: backs off without calling the control plane", async () => {
    const p = newProject();
    const r = await runLoop(p, { stopAfter: 2, details: () => undefined });
    expect(r.events).toMatchObject([
      { type: "failed", step: "endpoint", attempt: 0 },
      { type: "failed", step: "endpoint", attempt: 1 },
    ]);
    expect(r.sent).toEqual([]);
  });

  test("lease_lapsed when the clock jumps past the lease duration between renewals", async () => {
    const p = newProject();
    const { lease } = await withTunnel(p);
    const r = await runLoop(p, {
      stopAfter: 3,
      onSleep: (n, clock) => {
        // The machine slept: 31 s more than the 15 s the loop asked for.
        if (n === 1) clock.t += 31_000;
      },
    });
    expect(r.events.map((e) => e.type)).toEqual(["resolved", "patched", "renewed", "lease_lapsed", "renewed", "renewed"]);
    expect(r.events[3]).toEqual({ type: "lease_lapsed", at: r.t0 + 46_000, sinceMs: 46_000 });
    expect(r.logs).toEqual(["debug: heartbeat: lease lost during sleep (46s since the last renewal); renewing"]);
    expect((await p.client.get("Lease", lease))?.spec?.renewTime).toBe(microTime(r.t0 + 46_000 + 15_000));
  });

  describe("a server that ignores the field selector never leads to another device's Connector (docs/wire-facts.md#connector-resolution)", () => {
    /**
     * The same client, except that `list` drops the field selector, as a server ignoring it would,
     * and lists the other devices' Connectors first.
     */
    function ignoringSelector(p: Project): HeartbeatClient {
      const ours = (c: unknown) => (c as Connector).status?.connectionDetails?.publicKey?.id === p.endpointId;
      return {
        list: async (kind) => {
          const all = await p.client.list(kind);
          return [...all.filter((c) => !ours(c)), ...all.filter(ours)];
        },
        get: (kind, name) => p.client.get(kind, name),
        patch: (kind, name, body, options) => p.client.patch(kind, name, body, options),
        patchStatus: (kind, name, body) => p.client.patchStatus(kind, name, body),
      };
    }

    /** Another device's tunnel and Connector in the same project, listed before ours. */
    async function otherDevice(p: Project): Promise<{ connector: string; endpointId: string }> {
      // Same client and project, another identity.
      const endpointId = randomBytes(32).toString("hex");
      const { connector } = await withTunnel({ ...p, endpointId, details: { ...p.details, endpointId } });
      return { connector, endpointId };
    }

    test("ours exists too: ours is the one patched and renewed", async () => {
      const p = newProject();
      const theirs = await otherDevice(p);
      const ours = await withTunnel(p);
      const r = await runLoop(p, { stopAfter: 1, client: ignoringSelector(p) });
      expect(r.events[0]).toEqual({ type: "resolved", connector: ours.connector, lease: ours.lease });
      expect(patchesTo(r.sent, `/connectors/${theirs.connector}/status`)).toEqual([]);
      const stored = await p.client.get("Connector", theirs.connector);
      expect(stored?.status?.connectionDetails?.publicKey?.id).toBe(theirs.endpointId);
    });

    test("ours does not exist: no connector yet", async () => {
      const p = newProject();
      const theirs = await otherDevice(p);
      const r = await runLoop(p, { stopAfter: 1, client: ignoringSelector(p) });
      expect(r.events).toMatchObject([{ type: "failed", step: "connector lookup", message: "no connector yet" }]);
      expect(r.sent.filter((s) => s.method !== "GET")).toEqual([]);
      expect((await p.client.get("Connector", theirs.connector))?.status?.connectionDetails?.publicKey?.id).toBe(theirs.endpointId);
    });
  });

  test("a renewal just inside the lease duration is not a lapse", async () => {
    const p = newProject();
    await withTunnel(p);
    const r = await runLoop(p, {
      stopAfter: 2,
      onSleep: (n, clock) => {
        if (n === 1) clock.t += 15_000; // 30 s since the renewal: exactly the duration
      },
    });
    expect(r.events.map((e) => e.type)).not.toContain("lease_lapsed");
  });
});
