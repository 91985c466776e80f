/**
 * Control-plane faults against a running `tunnel listen` (issue 8 item 1): 503 storms during setup,
 * a 60 s outage at runtime under continuous traffic, a 401 storm, and quota-check timeouts. The real
 * CLI runs as a child process against `dev cloud` (a real process), whose fault rules are driven
 * over `POST /_dev/faults`. Each scenario uses its own named tunnel, so its own identity, Connector
 * and Lease. Leases are 3 s (set before any Connector exists) to keep the waits short.
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 120000 test/e2e/faults-control-plane.test.ts
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { readRuntime } from "../../src/devcloud/datumctl-double/tokens.ts";
import { tokenFingerprint } from "../../src/devcloud/request-log.ts";
import type { Route } from "../../src/devcloud/routes.ts";
import { readAllowList } from "../../src/state/allowlist.ts";
import { slotFiles } from "../../src/state/paths.ts";
import {
  addFault,
  adminClient,
  configure,
  helperCalls,
  isLeaseRenewal,
  lastSeq,
  type Logged,
  projectState,
  readRun,
  readyStatus,
  requests,
  tunnelDirOf,
  tunnelIdIn,
  until,
  updateSession,
  viaPublic,
} from "../helpers/faults.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

const LEASE_S = 3;

let datum: LocalDatum;
const origins: Server<undefined>[] = [];

function serveOrigin(text: string): Server<undefined> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(text) });
  origins.push(server);
  return server;
}

async function routeOf(tunnelId: string): Promise<Route | undefined> {
  const res = await datum.admin("routes");
  return ((await res.json()) as { items: Route[] }).items.find((r) => r.proxyName === tunnelId);
}

async function connectorReady(name: string): Promise<string | undefined> {
  return readyStatus((await projectState(datum)).connectors?.find((c) => c.metadata.name === name));
}

async function advertised(tunnelId: string): Promise<boolean> {
  return ((await projectState(datum)).connectoradvertisements ?? []).some((a) => a.metadata.name === tunnelId);
}

beforeAll(async () => {
  datum = await startLocalDatum();
  await configure(datum, { leaseDurationSeconds: LEASE_S, leaseExpiryJitter: 0 });
});

afterEach(async () => {
  await killAllListens();
  await datum.admin("faults", { method: "DELETE" });
  await datum.admin("deny-token", { method: "DELETE" });
  await configure(datum, { delays: { accepted: 0 } });
});

afterAll(async () => {
  await killAllListens();
  for (const o of origins) o.stop(true);
  await datum?.stop();
});

/**
 * Start a named listen whose setup waits `acceptedDelayMs` for the platform, and, as soon as it
 * says "Setting up tunnel...", answer the next `count` reads of its HTTPProxy with 503: only the
 * setup poll reads it from then on.
 */
async function listenThrough503s(name: string, count: number): Promise<{ p: ListenProcess; ruleAddedAt: number }> {
  await configure(datum, { delays: { accepted: 4_000 } });
  const origin = serveOrigin(name);
  const p = await startListen(["--name", name, "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env, waitForReady: false });
  await p.waitFor(() => p.stderr().includes("Setting up tunnel...") || p.exitCode() !== null, 30_000, "setting up");
  await addFault(datum, { match: { method: "GET", pathIncludes: "/httpproxies/tunnel-" }, status: 503, count });
  return { p, ruleAddedAt: performance.now() };
}

describe("503s during setup", () => {
  // Purpose: 10 consecutive 503s on the setup poll are ridden over: listen still gets to ready.
  test("10 consecutive 503s are ridden over", async () => {
    const { p } = await listenThrough503s("setup-503-ten", 10);
    await p.waitFor(() => p.stdout().includes("Tunnel ready") || p.exitCode() !== null, 45_000, "ready");
    expect(p.exitCode()).toBeNull();
    const id = tunnelIdIn(p.stderr());
    const served503 = (await requests(datum)).filter((r) => r.status === 503 && r.path.endsWith(`/httpproxies/${id}`));
    expect(served503).toHaveLength(10);
    expect(p.stderr()).toContain("progress poll failed");
    const exit = await p.stop();
    expect(exit.code).toBe(0);
  }, 60_000);

  // Purpose: 20 consecutive 503s end setup with exit 69 in ≈ 7.5 s (not minutes), leaving nothing enabled.
  test("20 consecutive 503s end with exit 69 and nothing left enabled", async () => {
    const { p, ruleAddedAt } = await listenThrough503s("setup-503-twenty", 20);
    const exit = await Promise.race([
      p.done,
      Bun.sleep(40_000).then(() => {
        throw new Error(`listen still running 40 s into a 20×503 storm:\n${p.stderr()}`);
      }),
    ]);
    const elapsed = performance.now() - ruleAddedAt;
    expect(exit.code).toBe(69);
    expect(exit.stdout).not.toContain("Tunnel ready");
    expect(exit.stderr).toMatch(/error: polling tunnel tunnel-[a-z0-9]+ progress failed 10 times in a row/);
    expect(exit.stderr).toContain("hint: the control plane is unreachable");
    // Ten failed polls at the 750 ms cadence, not ten polls that each spend a 10-attempt budget (~75 s).
    expect(elapsed).toBeLessThan(20_000);
    const id = tunnelIdIn(exit.stderr);
    expect((await requests(datum)).filter((r) => r.status === 503 && r.path.endsWith(`/httpproxies/${id}`))).toHaveLength(20);
    // The failed listen withdrew what it enabled: no advertisement, the allow-list entry disabled.
    expect(await advertised(id)).toBe(false);
    const entries = await readAllowList(slotFiles(tunnelDirOf(datum, "setup-503-twenty")).allowList);
    expect(entries.filter((e) => e.enabled)).toEqual([]);
    expect((await routeOf(id))?.online ?? false).toBe(false);
  }, 60_000);
});

describe("a 60 s control-plane outage at runtime", () => {
  // Purpose: with every control-plane request failing for 60 s, traffic through the public URL never fails; the heartbeat resumes and the Connector is Ready after.
  test("zero failed data-plane requests, heartbeat resumes, Connector Ready again", async () => {
    const name = "outage";
    const origin = serveOrigin("outage origin");
    const p = await startListen(["--name", name, "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env });
    const id = tunnelIdIn(p.stderr());
    const connector = (await routeOf(id))?.connectorName as string;
    expect(connector).toMatch(/^datum-connect-/);

    // The edge routes from the local Datum's memory, but a Connector whose Lease expires goes
    // offline: that is the platform's rule, not the agent's doing. The platform-side Lease is
    // lengthened to 120 s so the outage tests the agent; the agent still renews on its 3 s schedule.
    await adminClient(datum).patch("Lease", connector, { spec: { leaseDurationSeconds: 120 } });
    const patched = await lastSeq(datum);
    await until(async () => (await requests(datum, patched)).some(isLeaseRenewal), 5_000, "a renewal");
    const renewalsBefore = readRun(datum, name)?.heartbeat.renewals ?? 0;

    const OUTAGE_MS = 60_000;
    const [rule] = await addFault(datum, { status: 503, forMs: OUTAGE_MS });
    const outageStart = performance.now();
    const outageEndWall = Date.now() + OUTAGE_MS;
    const seqAtStart = await lastSeq(datum);

    // Sequential GETs through the edge for the whole outage, and until the heartbeat is back.
    const failures: string[] = [];
    let sent = 0;
    let renewedAfter: number | undefined;
    for (let i = 0; i < 2_000; i++) {
      const r = await viaPublic(p.url);
      sent++;
      if (r.status !== 200 || r.body !== "outage origin") failures.push(`#${i} at ${Math.round(performance.now() - outageStart)} ms: ${r.status ?? r.error} ${r.body.slice(0, 80)}`);
      const elapsed = performance.now() - outageStart;
      if (elapsed > OUTAGE_MS && i % 10 === 0) {
        const after = (await requests(datum, seqAtStart)).filter((x) => isLeaseRenewal(x) && x.status === 200 && Date.parse(x.time) >= outageEndWall);
        if (after.length > 0) {
          renewedAfter = elapsed;
          break;
        }
      }
      if (elapsed > OUTAGE_MS + 40_000) break;
      await Bun.sleep(100);
    }
    const during = await requests(datum, seqAtStart);
    const failedDuring = during.filter((x) => x.faults?.includes(rule as string));
    console.log(
      `outage: ${sent} requests through the edge, ${failures.length} failed; ${failedDuring.length} control-plane requests refused; heartbeat back ${renewedAfter === undefined ? "never" : `${Math.round((renewedAfter - OUTAGE_MS) / 1000)} s after the outage`}`,
    );
    const stderr = p.stderr();
    const heartbeatLines = stderr.match(/heartbeat: lease renewal failed \(attempt \d+, retrying in \d+s\)/g) ?? [];
    const lapseLines = stderr.match(/lease lost during sleep/g) ?? [];
    console.log(`outage: ${heartbeatLines.length} heartbeat-failure lines, ${lapseLines.length} "lease lost during sleep" lines on stderr`);
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(200);
    // One line per heartbeat backoff step (2 → 30 s: ~6 in 60 s); the process did not sleep, so no
    // "lease lost during sleep" on each retry (at most one pair, were a renewal ever late on its own).
    expect(heartbeatLines.length).toBeGreaterThanOrEqual(3);
    expect(heartbeatLines.length).toBeLessThanOrEqual(8);
    expect(lapseLines.length).toBeLessThanOrEqual(2);
    // The agent did try during the outage (renewals and the runtime watch), and was refused.
    expect(failedDuring.filter(isLeaseRenewal).length).toBeGreaterThanOrEqual(3);
    expect(renewedAfter).toBeDefined();
    await until(async () => (await connectorReady(connector)) === "True", 10_000, "Connector Ready");
    // run.json agrees: renewals resumed after failures were counted; the listen never stopped.
    await until(() => (readRun(datum, name)?.heartbeat.renewals ?? 0) > renewalsBefore, 12_000, "renewals in run.json");
    const run = readRun(datum, name);
    expect(run?.heartbeat.failures).toBeGreaterThanOrEqual(3);
    expect(run?.phase).toBe("ready");
    expect(p.exitCode()).toBeNull();
    expect((await viaPublic(p.url)).status).toBe(200);
    expect((await p.stop()).code).toBe(0);
  }, 150_000);
});

describe("a 401 storm", () => {
  // Purpose: every request with the rejected token gets 401 → one helper call for the burst, never a hot loop.
  test("one rejected token: one refresh, then renewals resume with the new token", async () => {
    const name = "storm";
    updateSession(datum, (s) => {
      s.token = { ...s.token, mode: "always-new" };
    });
    try {
      const origin = serveOrigin("storm origin");
      const p = await startListen(["--name", name, "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env });
      const connector = (await routeOf(tunnelIdIn(p.stderr())))?.connectorName as string;
      const ours = (r: Logged): boolean => isLeaseRenewal(r) && r.path.endsWith(`/leases/${connector}`);
      await until(async () => (await requests(datum)).some(ours), 5_000, "a renewal");
      const inUse = (await requests(datum)).filter(ours).at(-1)?.headers.authorization;
      const token = readRuntime(datum.env.DATUMCTL_DOUBLE_STATE as string).issued.find((t) => `Bearer ${tokenFingerprint(t)}` === inUse);
      if (!token) throw new Error("the token listen uses is not one the double issued");
      const mark = await lastSeq(datum);
      const deniedAt = Date.now();
      expect((await datum.admin("deny-token", { body: { token } })).status).toBe(204);

      await Bun.sleep(10_000);
      const calls = helperCalls(datum, deniedAt);
      const seen = await requests(datum, mark);
      const rejected = seen.filter((r) => r.status === 401);
      const accepted = seen.filter((r) => r.status < 300 && r.headers.authorization !== inUse);
      console.log(`401 storm (one token): ${rejected.length} requests rejected, ${calls.length} helper calls in 10 s, ${accepted.length} accepted with the new token`);
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      expect(rejected.every((r) => r.headers.authorization === inUse)).toBe(true);
      expect(calls.length).toBe(1);
      expect(accepted.filter(isLeaseRenewal).length).toBeGreaterThanOrEqual(3);
      expect(await connectorReady(connector)).toBe("True");
      expect(p.exitCode()).toBeNull();
    } finally {
      updateSession(datum, (s) => {
        s.token = { ...s.token, mode: "sticky" };
      });
    }
  }, 60_000);

  // Purpose: a server that rejects every token for 10 s costs a bounded number of helper calls (one per heartbeat backoff step or watch poll), then service resumes.
  test("every request rejected for 10 s: helper calls stay bounded, then service resumes", async () => {
    const name = "storm-all";
    updateSession(datum, (s) => {
      s.token = { ...s.token, mode: "always-new" };
    });
    try {
      const origin = serveOrigin("storm-all origin");
      const p = await startListen(["--name", name, "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env });
      const connector = (await routeOf(tunnelIdIn(p.stderr())))?.connectorName as string;
      const mark = await lastSeq(datum);
      const stormAt = Date.now();
      await addFault(datum, { status: 401, forMs: 10_000 });
      await Bun.sleep(10_000);
      const calls = helperCalls(datum, stormAt);
      const rejected = (await requests(datum, mark)).filter((r) => r.status === 401);
      console.log(`401 storm (every token): ${rejected.length} requests rejected, ${calls.length} helper calls in 10 s`);
      expect(rejected.length).toBeGreaterThanOrEqual(3);
      // Heartbeat attempts at ~0, 2, 6 s (2 s doubling backoff) and one runtime watch poll: each
      // costs at most one refresh. A hot loop would be hundreds.
      expect(calls.length).toBeLessThanOrEqual(6);
      await until(async () => (await connectorReady(connector)) === "True", 25_000, "Connector Ready after the storm");
      expect(p.exitCode()).toBeNull();
      expect((await viaPublic(p.url)).status).toBe(200);
    } finally {
      updateSession(datum, (s) => {
        s.token = { ...s.token, mode: "sticky" };
      });
    }
  }, 60_000);
});

describe("quota-check timeouts", () => {
  // Purpose: the operator's "took too long to be checked against your quota" 403 on the first 3 creates is retried (1, 2, 4 s) and listen succeeds, saying so once.
  test("retried on the 1, 2, 4 s schedule; listen succeeds with one notice", async () => {
    const name = "quota";
    const origin = serveOrigin("quota origin");
    const mark = await lastSeq(datum);
    await addFault(datum, { match: { method: "POST", resource: "httpproxies" }, quota: "check-timeout", count: 3 });
    const p = await startListen(["--name", name, "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env, readyTimeoutMs: 45_000 });
    const posts = (await requests(datum, mark)).filter((r) => r.method === "POST" && r.path.endsWith("/httpproxies"));
    expect(posts.map((r) => r.status)).toEqual([403, 403, 403, 201]);
    const at = posts.map((r) => Date.parse(r.time));
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    console.log(`quota: creates answered ${posts.map((r) => r.status).join(", ")}, gaps ${gaps.join(", ")} ms`);
    expect(gaps[0]).toBeGreaterThanOrEqual(950);
    expect(gaps[1]).toBeGreaterThanOrEqual(1_950);
    expect(gaps[2]).toBeGreaterThanOrEqual(3_950);
    expect(p.stderr().match(/quota check timed out/g)).toHaveLength(1);
    expect((await viaPublic(p.url)).body).toBe("quota origin");
    expect((await p.stop()).code).toBe(0);
  }, 60_000);
});
