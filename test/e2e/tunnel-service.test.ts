/**
 * TunnelService and ControlPlaneClient against the real local control plane over HTTP: the API
 * server and controllers of `src/devcloud/` run in-process on loopback, faults are injected through
 * its fault rules, and every assertion about the wire reads its request log. Retry pauses go through
 * an injected sleep, so no test waits out a backoff.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ControlPlaneClient, type TokenProvider } from "../../src/controlplane/client.ts";
import { CliError, Exit } from "../../src/errors.ts";
import { startControlPlane, type ControlPlane } from "../../src/devcloud/server.ts";
import type { FaultRuleInput } from "../../src/devcloud/faults.ts";
import type { LoggedRequest } from "../../src/devcloud/request-log.ts";
import { readAllowList } from "../../src/state/allowlist.ts";
import { loadOrCreateIdentity } from "../../src/state/identity.ts";
import { projectDir, slotFiles, stateRoot } from "../../src/state/paths.ts";
import { httpProxyBody } from "../../src/tunnel/objects.ts";
import { allReady } from "../../src/tunnel/progress.ts";
import { type DeviceAddress, TunnelService } from "../../src/tunnel/service.ts";
import { VERSION } from "../../src/version.ts";
import { until } from "../helpers/wait.ts";

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ port: 0 });
});

afterAll(async () => {
  await cp.stop();
});

/** Hands out `<prefix>-1`, then `<prefix>-2` after the first is rejected, and so on. */
class CountingTokens implements TokenProvider {
  invalidated: string[] = [];
  #n = 1;
  constructor(readonly prefix: string) {}
  async token() {
    return `${this.prefix}-${this.#n}`;
  }
  async invalidate(rejected: string) {
    this.invalidated.push(rejected);
    this.#n += 1;
    return `${this.prefix}-${this.#n}`;
  }
}

const DETAILS: DeviceAddress = {
  homeRelay: "https://iroh-relay.us-east-1.datumconnect.net./",
  addresses: [{ address: "127.0.0.1", port: 53211 }],
};
const DEVICE = { "datum.net/device-name": "build-box", "datum.net/device-os": "linux" };

let projectCounter = 0;

async function harness(options: { env?: Record<string, string> } = {}) {
  const project = `p-svc-${++projectCounter}-${Math.random().toString(36).slice(2, 7)}`;
  const tokens = new CountingTokens(`token-${project}`);
  const sleeps: number[] = [];
  const notices: string[] = [];
  const warnings: string[] = [];
  const client = new ControlPlaneClient({
    apiBase: cp.url,
    project,
    tokens,
    attemptTimeoutMs: 5_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    notice: (line) => notices.push(line),
  });
  const slot = projectDir(stateRoot(), project);
  const identity = await loadOrCreateIdentity(slot);
  const allowListPath = slotFiles(slot).allowList;
  const service = new TunnelService({
    client,
    endpointId: identity.endpointIdHex,
    allowListPath,
    deviceAnnotations: DEVICE,
    env: options.env ?? {},
    log: { warn: (m) => warnings.push(m), debug: () => undefined },
  });
  const since = () => {
    const mark = cp.cloud.requests.entries().at(-1)?.seq ?? 0;
    return () => requests(project).filter((r) => r.seq > mark);
  };
  const fault = (rule: FaultRuleInput) =>
    cp.cloud.faults.add({ ...rule, match: { ...rule.match, project } }, cp.cloud.now());
  return { project, client, service, tokens, sleeps, notices, warnings, identity, allowListPath, since, fault };
}

/** Another identity of the same project and device (its own endpoint id and allow-list). */
function anotherIdentity(owner: { client: ControlPlaneClient; allowListPath: string }, endpointId: string): TunnelService {
  return new TunnelService({
    client: owner.client,
    endpointId,
    allowListPath: `${owner.allowListPath}.${endpointId.slice(0, 4)}`,
    deviceAnnotations: DEVICE,
    env: {},
    log: { warn: () => undefined, debug: () => undefined },
  });
}

function requests(project: string): LoggedRequest[] {
  return cp.cloud.requests.entries().filter((r) => r.project === project);
}

function live<T extends { metadata: { deletionTimestamp?: string | null } }>(items: T[]): T[] {
  return items.filter((i) => !i.metadata.deletionTimestamp);
}

async function failureOf(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<unknown> {
  return until(check, timeoutMs, "condition", { everyMs: 20 });
}

describe("lifecycle", () => {
  test("create → list → update (no-op skipped) → disable → enable → delete", async () => {
    const h = await harness();
    const { service, client } = h;

    // create
    const created = await service.create({ label: "web", endpoint: "127.0.0.1:3000", details: DETAILS });
    expect(created.id).toMatch(/^tunnel-[a-z0-9]{5}$/);
    expect(created).toMatchObject({ label: "web", endpoint: "http://127.0.0.1:3000", enabled: true });
    const id = created.id;

    const posts = requests(h.project).filter((r) => r.method === "POST");
    expect(posts.map((r) => r.path.split("/").at(-1))).toEqual(["connectors", "httpproxies", "connectoradvertisements"]);
    const connectorName = created.connectorName!;
    expect(connectorName).toMatch(/^datum-connect-/);
    expect(posts[1]!.json).toEqual(httpProxyBody("web", "http://127.0.0.1:3000", connectorName) as never);
    expect(posts[0]!.json).toEqual({
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "Connector",
      metadata: { generateName: "datum-connect-", annotations: DEVICE },
      spec: { connectorClassName: "datum-connect", capabilities: null },
    });
    for (const r of requests(h.project)) {
      expect(r.headers["user-agent"]).toMatch(new RegExp(`^datum-connect/${VERSION} datumctl-plugin/${VERSION} \\(`));
      expect(JSON.stringify(r.headers)).not.toContain(`token-${h.project}`);
    }

    const connector = await client.get("Connector", connectorName);
    expect(connector?.status?.connectionDetails?.publicKey).toMatchObject({
      id: h.identity.endpointIdHex,
      homeRelay: DETAILS.homeRelay,
      discoveryMode: "DNS",
    });
    expect(await readAllowList(h.allowListPath)).toEqual([{ id, label: "web", host: "127.0.0.1", port: 3000, enabled: true }]);

    // list / get / findByEndpoint
    const listed = await service.list();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id, label: "web", enabled: true, connectorName, deviceName: "build-box" });
    expect((await service.get(id))?.id).toBe(id);
    expect((await service.findByEndpoint("127.0.0.1:3000")).map((t) => t.id)).toEqual([id]);
    expect(await service.findByEndpoint("localhost:3000")).toEqual([]);
    expect(await service.get("tunnel-nope")).toBeUndefined();

    // progress has the six steps; the proxy side comes up without a heartbeat
    await eventually(async () => (await service.progress(id))?.steps[0]?.status === "ready");
    const progress = (await service.progress(id))!;
    expect(progress.steps.map((s) => s.step)).toHaveLength(6);
    expect(allReady(progress)).toBe(false); // no lease renewals: the Connector is not Ready

    // no-op update: nothing written
    let newRequests = h.since();
    await service.update(id, { label: "web", endpoint: "127.0.0.1:3000" });
    await service.update(id, {});
    expect(newRequests().filter((r) => r.method !== "GET")).toEqual([]);

    // real update: proxy and advertisement patched, allow-list follows
    newRequests = h.since();
    const updated = await service.update(id, { label: "web2", endpoint: "localhost:3001" });
    expect(updated).toMatchObject({ label: "web2", endpoint: "http://localhost:3001", enabled: true });
    const patches = newRequests().filter((r) => r.method === "PATCH");
    expect(patches.map((r) => [r.path.split("/").slice(-2).join("/"), r.headers["content-type"]])).toEqual([
      [`httpproxies/${id}`, "application/merge-patch+json"],
      [`connectoradvertisements/${id}`, "application/merge-patch+json"],
    ]);
    const ad = await client.get("ConnectorAdvertisement", id);
    expect(ad?.spec.layer4?.[0]?.services[0]).toEqual({
      address: "localhost",
      ports: [{ name: "tcp-3001", port: 3001, protocol: "TCP" }],
    });
    expect(await readAllowList(h.allowListPath)).toEqual([{ id, label: "web2", host: "localhost", port: 3001, enabled: true }]);

    // disable
    const disabled = await service.setEnabled(id, false);
    expect(disabled.enabled).toBe(false);
    expect(await client.get("ConnectorAdvertisement", id)).toBeUndefined();
    expect((await readAllowList(h.allowListPath))[0]?.enabled).toBe(false);
    expect((await service.get(id))?.enabled).toBe(false);

    // enable
    const enabled = await service.setEnabled(id, true);
    expect(enabled.enabled).toBe(true);
    expect((await client.get("ConnectorAdvertisement", id))?.spec.connectorRef.name).toBe(connectorName);
    expect((await readAllowList(h.allowListPath))[0]?.enabled).toBe(true);

    // delete: last tunnel, so the Connector goes too
    const outcome = await service.delete(id);
    expect(outcome).toMatchObject({ id, proxyDeleted: true, advertisementDeleted: true, connectorDeleted: true, connectorName });
    expect(live(await client.list("HTTPProxy"))).toEqual([]);
    expect(live(await client.list("Connector"))).toEqual([]);
    expect(await client.list("ConnectorAdvertisement")).toEqual([]);
    expect(await readAllowList(h.allowListPath)).toEqual([]);
    expect(h.warnings).toEqual([]);
  });

  test("tunnels of one identity share its Connector; it goes with the last one", async () => {
    const h = await harness();
    const a = await h.service.create({ label: "a", endpoint: "127.0.0.1:4000", details: DETAILS });
    const b = await h.service.create({ label: "b", endpoint: "127.0.0.1:4001", details: DETAILS });
    expect(b.connectorName).toBe(a.connectorName!);
    expect(live(await h.client.list("Connector"))).toHaveLength(1);

    expect((await h.service.delete(a.id)).connectorDeleted).toBe(false);
    expect(live(await h.client.list("Connector"))).toHaveLength(1);
    expect((await h.service.delete(b.id)).connectorDeleted).toBe(true);
    expect(live(await h.client.list("Connector"))).toEqual([]);
  });

  test("recreating a tunnel for the same endpoint prunes the stale allow-list entry", async () => {
    const h = await harness();
    const first = await h.service.create({ label: "x", endpoint: "127.0.0.1:5000", details: DETAILS });
    const second = await h.service.create({ label: "x", endpoint: "127.0.0.1:5000", details: DETAILS });
    expect((await readAllowList(h.allowListPath)).map((e) => e.id)).toEqual([second.id]);
    await h.service.delete(first.id);
    await h.service.delete(second.id);
  });

  test("a TrafficProtectionPolicy is created when enabled and deleted with the tunnel", async () => {
    const h = await harness({ env: { DATUM_CONNECT_CREATE_TRAFFIC_PROTECTION_POLICIES: "true" } });
    const t = await h.service.create({ label: "tpp", endpoint: "127.0.0.1:5500", details: DETAILS });
    expect((await h.client.get("TrafficProtectionPolicy", t.id))?.spec.targetRefs[0]?.name).toBe(t.id);
    expect((await h.service.delete(t.id)).policyDeleted).toBe(true);
    expect(await h.client.get("TrafficProtectionPolicy", t.id)).toBeUndefined();
  });

  test("management calls without a data plane never create a Connector", async () => {
    const owner = await harness();
    const t = await owner.service.create({ label: "m", endpoint: "127.0.0.1:5600", details: DETAILS });
    // Another identity (no Connector of its own) in the same project manages the tunnel.
    const other = anotherIdentity(owner, "f".repeat(64));
    await other.update(t.id, { label: "renamed" });
    await other.setEnabled(t.id, false);
    await other.setEnabled(t.id, true);
    const connectors = live(await owner.client.list("Connector"));
    expect(connectors.map((c) => c.metadata.name)).toEqual([t.connectorName!]);
    expect((await other.get(t.id))?.connectorName).toBe(t.connectorName!);
    await owner.service.delete(t.id);
  });

  test("management calls from an identity with a Connector of its own leave the tunnel on the Connector it has", async () => {
    const owner = await harness();
    const t = await owner.service.create({ label: "m", endpoint: "127.0.0.1:5650", details: DETAILS });
    // Another identity of the project that serves a tunnel of its own, so it has a Connector.
    const other = anotherIdentity(owner, "e".repeat(64));
    const own = await other.create({ label: "o", endpoint: "127.0.0.1:5651", details: DETAILS });
    expect(own.connectorName).not.toBe(t.connectorName);
    const writes = owner.since();
    await other.update(t.id, { label: "renamed" });
    await other.setEnabled(t.id, false);
    await other.setEnabled(t.id, true);
    expect((await other.get(t.id))?.connectorName).toBe(t.connectorName!);
    expect((await owner.client.get("ConnectorAdvertisement", t.id))?.spec.connectorRef.name).toBe(t.connectorName!);
    // Not one write named the other identity's Connector.
    expect(JSON.stringify(writes().filter((r) => r.method !== "GET"))).not.toContain(own.connectorName!);
    await owner.service.delete(t.id);
    await other.delete(own.id);
  });

  test("enabling with a live data plane re-points the tunnel at this identity's new Connector", async () => {
    const owner = await harness();
    const t = await owner.service.create({ label: "m", endpoint: "127.0.0.1:5700", details: DETAILS });
    const newcomer = new TunnelService({
      client: owner.client,
      endpointId: "e".repeat(64),
      allowListPath: `${owner.allowListPath}.newcomer`,
      deviceAnnotations: DEVICE,
      env: {},
      log: { warn: () => undefined, debug: () => undefined },
    });
    const enabled = await newcomer.setEnabled(t.id, true, { details: DETAILS });
    expect(enabled.connectorName).not.toBe(t.connectorName!);
    const mine = await newcomer.findConnector();
    expect(enabled.connectorName).toBe(mine?.metadata.name ?? "");
    expect((await owner.client.get("ConnectorAdvertisement", t.id))?.spec.connectorRef.name).toBe(mine?.metadata.name ?? "");
    // The tunnel now runs on the newcomer's Connector, so deleting it takes that Connector along
    // (the owner's, now unreferenced, shows up as an orphan).
    expect((await newcomer.delete(t.id)).connectorDeleted).toBe(true);
    expect((await owner.service.listWithOrphans()).orphanedConnectors.map((c) => c.name)).toEqual([t.connectorName!]);
  });

  test("an endpoint on the platform that cannot be parsed is Malformed (65), not a usage error", async () => {
    const h = await harness();
    const odd = await h.client.create("HTTPProxy", httpProxyBody("odd", "http://127.0.0.1", "datum-connect-x"));
    const err = await failureOf(h.service.setEnabled(odd.metadata.name!, true));
    expect(err.exit).toBe(Exit.malformed);
    expect(err.message).toContain("unusable endpoint 'http://127.0.0.1': missing port");
  });

  test("unknown tunnels are rejected (64)", async () => {
    const h = await harness();
    for (const call of [h.service.update("tunnel-nope", { label: "x" }), h.service.setEnabled("tunnel-nope", true), h.service.delete("tunnel-nope")]) {
      const err = await failureOf(call);
      expect(err.exit).toBe(Exit.rejected);
      expect(err.message).toBe("Tunnel tunnel-nope not found");
    }
  });

  test("bad endpoints are usage errors (2) before anything is written", async () => {
    const h = await harness();
    const err = await failureOf(h.service.create({ label: "x", endpoint: "localhost" }));
    expect(err.exit).toBe(Exit.usage);
    expect(err.message).toBe("missing port");
    expect(requests(h.project)).toEqual([]);
  });

  test("a server-side dry run validates without storing", async () => {
    const h = await harness();
    const dry = await h.client.create("HTTPProxy", httpProxyBody("d", "http://127.0.0.1:1", "datum-connect-x"), { dryRun: true });
    expect(dry.metadata.name).toMatch(/^tunnel-/);
    expect(requests(h.project).at(-1)?.rawQuery).toBe("dryRun=All");
    expect(await h.client.list("HTTPProxy")).toEqual([]);
  });
});

describe("create rollback", () => {
  test("an advertisement POST that fails leaves no HTTPProxy and no Connector behind", async () => {
    const h = await harness();
    h.fault({ match: { method: "POST", resource: "connectoradvertisements" }, status: 422, message: "spec.layer4: Invalid value", count: 1 });
    const err = await failureOf(h.service.create({ label: "r", endpoint: "127.0.0.1:6000", details: DETAILS }));
    expect(err.exit).toBe(Exit.rejected);
    expect(err.message).toContain("spec.layer4: Invalid value");
    const deletes = requests(h.project).filter((r) => r.method === "DELETE").map((r) => r.path.split("/").slice(-2)[0]);
    expect(deletes).toContain("httpproxies");
    expect(deletes).toContain("connectors");
    expect(live(await h.client.list("HTTPProxy"))).toEqual([]);
    expect(live(await h.client.list("Connector"))).toEqual([]);
    expect(await readAllowList(h.allowListPath)).toEqual([]);
  });

  test("an advertisement POST that stays unavailable past the budget is rolled back too", async () => {
    const h = await harness();
    const rule = h.fault({ match: { method: "POST", resource: "connectoradvertisements" }, status: 503, forMs: 60_000 });
    const err = await failureOf(h.service.create({ label: "r", endpoint: "127.0.0.1:6050", details: DETAILS }));
    cp.cloud.faults.remove(rule.id);
    expect(err.exit).toBe(Exit.unreachable);
    expect(live(await h.client.list("HTTPProxy"))).toEqual([]);
    expect(live(await h.client.list("Connector"))).toEqual([]);
  });

  test("when the control plane is gone entirely, cleanup stops early and says what is left", async () => {
    const h = await harness();
    const rules = [
      h.fault({ match: { method: "POST", resource: "connectoradvertisements" }, status: 503, forMs: 60_000 }),
      h.fault({ match: { method: "DELETE" }, status: 503, forMs: 60_000 }),
    ];
    const err = await failureOf(h.service.create({ label: "r", endpoint: "127.0.0.1:6060", details: DETAILS }));
    for (const rule of rules) cp.cloud.faults.remove(rule.id);
    expect(err.exit).toBe(Exit.unreachable);
    const deletes = requests(h.project).filter((r) => r.method === "DELETE");
    expect(deletes).toHaveLength(10); // one budget spent, not one per leftover object
    expect(h.warnings.filter((w) => w.includes("may be left behind")).length).toBeGreaterThan(0);
  });

  test("a Connector that already served other tunnels is kept", async () => {
    const h = await harness();
    const kept = await h.service.create({ label: "k", endpoint: "127.0.0.1:6100", details: DETAILS });
    h.fault({ match: { method: "POST", resource: "connectoradvertisements" }, quota: "exceeded", count: 1 });
    const err = await failureOf(h.service.create({ label: "r", endpoint: "127.0.0.1:6101", details: DETAILS }));
    expect(err.message).toStartWith("Quota limit exceeded for ConnectorAdvertisement resources.");
    expect(live(await h.client.list("HTTPProxy")).map((p) => p.metadata.name)).toEqual([kept.id]);
    expect(live(await h.client.list("Connector")).map((c) => c.metadata.name)).toEqual([kept.connectorName!]);
    await h.service.delete(kept.id);
  });
});

describe("riding out trouble", () => {
  test("a burst of 9 × 503 is ridden over (10 attempts)", async () => {
    const h = await harness();
    h.fault({ status: 503, count: 9 });
    expect(await h.client.list("HTTPProxy")).toEqual([]);
    expect(h.sleeps).toEqual(Array.from({ length: 9 }, () => 750));
    expect(requests(h.project).map((r) => r.status)).toEqual([...Array.from({ length: 9 }, () => 503), 200]);
  });

  test("a long outage ends in Unreachable (69) naming the host", async () => {
    const h = await harness();
    const rule = h.fault({ status: 503, forMs: 60_000 });
    const err = await failureOf(h.service.list());
    cp.cloud.faults.remove(rule.id);
    expect(err.exit).toBe(Exit.unreachable);
    expect(err.message).toContain(new URL(cp.url).host);
    expect(err.details).toContain("HTTP 503");
  });

  test("a malformed JSON body is Malformed (65)", async () => {
    const h = await harness();
    h.fault({ match: { method: "GET" }, status: 200, body: '{"items": [', count: 1 });
    const err = await failureOf(h.client.list("HTTPProxy"));
    expect(err.exit).toBe(Exit.malformed);
    expect(err.details).toStartWith("not JSON");
  });

  test("an object that fails its schema is Malformed (65) with the valibot summary; in a listing it is skipped", async () => {
    const h = await harness();
    h.fault({ match: { method: "GET" }, status: 200, body: JSON.stringify({ metadata: { name: "tunnel-x" }, spec: { rules: [] } }), count: 1 });
    const err = await failureOf(h.client.get("HTTPProxy", "tunnel-x"));
    expect(err.exit).toBe(Exit.malformed);
    expect(err.details).toContain("spec.rules");
    h.fault({ match: { method: "GET" }, status: 200, body: JSON.stringify({ items: [{ metadata: {}, spec: { rules: [] } }] }), count: 1 });
    expect(await h.client.list("HTTPProxy")).toEqual([]);
  });

  test("401 once → exactly one invalidate, then success", async () => {
    const h = await harness();
    cp.cloud.deniedTokens.add(`token-${h.project}-1`);
    const t = await h.service.create({ label: "auth", endpoint: "127.0.0.1:7000", details: DETAILS });
    expect(h.tokens.invalidated).toEqual([`token-${h.project}-1`]);
    expect(requests(h.project).filter((r) => r.status === 401)).toHaveLength(1);
    await h.service.delete(t.id);
  });

  test("401 twice → NotAuthenticated (77)", async () => {
    const h = await harness();
    cp.cloud.deniedTokens.add(`token-${h.project}-1`);
    cp.cloud.deniedTokens.add(`token-${h.project}-2`);
    const err = await failureOf(h.service.list());
    expect(err.exit).toBe(Exit.noAuth);
    expect(err.hint).toBe("run 'datumctl login'");
  });

  test("403 on the connector lookup is a permission problem, not a login problem", async () => {
    const h = await harness();
    h.fault({ match: { method: "GET", resource: "connectors" }, status: 403, message: "forbidden", count: 1 });
    const err = await failureOf(h.service.ensureConnector());
    expect(err.exit).toBe(Exit.noAuth);
    expect(err.code).toBe("forbidden");
    expect(err.message).toBe(`Permission denied listing connectors in project ${h.project}.`);
    expect(h.tokens.invalidated).toEqual([]);
  });

  test("quota-check timeouts are retried on the 1, 2 s schedule with one notice", async () => {
    const h = await harness();
    h.fault({ match: { method: "POST", resource: "httpproxies" }, quota: "check-timeout", count: 2 });
    const t = await h.service.create({ label: "q", endpoint: "127.0.0.1:8000", details: DETAILS });
    expect(h.sleeps).toEqual([1000, 2000]);
    expect(h.notices).toEqual(["  … quota check timed out for HTTPProxy create; retrying for up to 15s"]);
    await h.service.delete(t.id);
  });

  test("quota exhaustion shows the friendly text and leaves nothing behind", async () => {
    const h = await harness();
    h.fault({ match: { method: "POST", resource: "httpproxies" }, quota: "exceeded", count: 1 });
    const err = await failureOf(h.service.create({ label: "q", endpoint: "127.0.0.1:8100", details: DETAILS }));
    expect(err.exit).toBe(Exit.rejected);
    expect(err.code).toBe("quota");
    expect(err.message).toStartWith("Quota limit exceeded for HTTPProxy resources.\n");
    expect(err.message).toEndWith("Run 'tunnel list' to see existing tunnels.");
    expect(live(await h.client.list("Connector"))).toEqual([]);
  });
});
