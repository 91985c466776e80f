// A group's three views (docs/groups.md#output) over one run of three services, one of them
// degraded because its origin is down: the plain lines, the JSON events and the live block.
import { describe, expect, test } from "bun:test";
import type { ListenEvent } from "../../../src/listen/events.ts";
import { GroupBoard } from "../../../src/group/view-board.ts";
import { GroupJsonView } from "../../../src/group/view-json.ts";
import { headerLine, prefixLines, reloadedLine, truncateToWidth, withService } from "../../../src/group/view-lines.ts";
import { GroupLinesView } from "../../../src/group/view-text.ts";
import { GroupTtyView, type ViewClock } from "../../../src/group/view-tty.ts";
import { GroupPlainView, groupViewFor } from "../../../src/group/view.ts";
import { STEPS, type StepName, type StepStatus, type TunnelProgress } from "../../../src/tunnel/progress.ts";
import type { TunnelSummary } from "../../../src/tunnel/service.ts";
import type { ProbeSummary } from "../../../workers/messages.ts";
import { VtScreen } from "../../helpers/vt-screen.ts";
import { stepOf } from "../listen/progress-fixtures.ts";

const EID = `3f2a9c1e4b${"0".repeat(54)}`;
const CTRL_C = "Press Ctrl+C to stop...";
const API_DOWN = "origin http://127.0.0.1:8080 does not answer: ECONNREFUSED: Unable to connect";

const URLS = { app: "https://app-1.datumproxy.net", api: "https://api-2.datumproxy.net", admin: "https://admin-3.datumproxy.net" };
const ORIGINS = { app: "http://127.0.0.1:3000", api: "http://127.0.0.1:8080", admin: "http://127.0.0.1:9000" };
type Svc = keyof typeof URLS;

function tunnelOf(svc: Svc): TunnelSummary {
  return {
    id: `tunnel-${svc}`,
    label: `web-stack/${svc}`,
    endpoint: ORIGINS[svc],
    hostnames: [new URL(URLS[svc]).hostname],
    enabled: true,
    accepted: true,
    programmed: true,
    connectorMetadataProgrammed: true,
    connectorName: "datum-connect-abc",
    connectorReady: true,
    deleting: false,
  };
}

/** A service's setup progress: every step at `status`, with overrides; its own resources. */
function progressOf(svc: Svc, status: StepStatus, overrides: Partial<Record<StepName, StepStatus>> = {}, message?: string): TunnelProgress {
  return {
    hostnames: [new URL(URLS[svc]).hostname],
    steps: STEPS.map((def) => {
      const s = overrides[def.step] ?? status;
      return stepOf(def.step, s, {
        resource: def.resourceKind === "HTTPProxy" ? `HTTPProxy/tunnel-${svc}` : "Connector/datum-connect-abc",
        ...(message && s === "pending" ? { message } : {}),
      });
    }),
  };
}

const WAITING_CERT = (svc: Svc) => progressOf(svc, "unknown", { proxy_accepted: "ready", certificates_ready: "pending" }, "Waiting for ACME");
const ALL_READY = (svc: Svc) => progressOf(svc, "ready", { connector_metadata_programmed: "unknown" });

function probe(url: string, up: boolean, status: number | null, elapsedMs: number, error: string | null = null): ProbeSummary {
  return { url, up, status, error, elapsedMs, viaFallback: false };
}

type Timed = readonly [atMs: number, event: ListenEvent];

const MEMBERS = (Object.keys(URLS) as Svc[]).map((name) => ({ name, endpoint: ORIGINS[name], label: `web-stack/${name}` }));

/** Start to the moment every service has settled (api's origin refuses connections). */
const SETUP: readonly Timed[] = [
  [0, { type: "endpoint_id", endpointId: EID }],
  [0, { type: "group", name: "web-stack", members: MEMBERS }],
  [100, { type: "tunnel", kind: "created", tunnel: tunnelOf("app"), service: "app" }],
  [100, { type: "tunnel", kind: "created", tunnel: tunnelOf("api"), service: "api" }],
  [100, { type: "tunnel", kind: "found", tunnel: tunnelOf("admin"), service: "admin" }],
  [200, { type: "setting_up", service: "app" }],
  [200, { type: "setting_up", service: "api" }],
  [200, { type: "setting_up", service: "admin" }],
  [1_000, { type: "progress", progress: WAITING_CERT("app"), elapsedMs: 800, service: "app" }],
  [1_000, { type: "progress", progress: WAITING_CERT("api"), elapsedMs: 800, service: "api" }],
  [1_000, { type: "progress", progress: ALL_READY("admin"), elapsedMs: 800, service: "admin" }],
  [1_200, { type: "verifying", service: "admin" }],
  [1_300, { type: "probed", target: "origin", result: probe(ORIGINS.admin, true, 200, 50), service: "admin" }],
  [2_000, { type: "probed", target: "public", result: probe(URLS.admin, true, 200, 900), service: "admin" }],
  [2_100, { type: "ready", tunnel: tunnelOf("admin"), urls: [URLS.admin], endpointId: EID, elapsedMs: 1_900, service: "admin" }],
  [2_500, { type: "progress", progress: ALL_READY("app"), elapsedMs: 2_300, service: "app" }],
  [2_500, { type: "progress", progress: ALL_READY("api"), elapsedMs: 2_300, service: "api" }],
  [2_600, { type: "verifying", service: "app" }],
  [2_600, { type: "verifying", service: "api" }],
  [2_700, { type: "notice", line: "tunnel tunnel-app now forwards to http://127.0.0.1:3000 (changed on the platform)", service: "app" }],
  [2_700, { type: "notice", line: "warning: no relay reached within 10s" }],
  [3_000, { type: "probed", target: "origin", result: probe(ORIGINS.api, false, null, 300, "ECONNREFUSED: Unable to connect"), service: "api" }],
  [3_100, { type: "probed", target: "origin", result: probe(ORIGINS.app, true, 200, 40), service: "app" }],
  [3_200, { type: "probed", target: "public", result: probe(URLS.app, true, 200, 500), service: "app" }],
  [3_200, { type: "ready", tunnel: tunnelOf("app"), urls: [URLS.app], endpointId: EID, elapsedMs: 3_000, service: "app" }],
  [3_500, { type: "probe_attempt", target: "public", url: URLS.api, elapsedMs: 900, status: 502, error: null, service: "api" }],
  [7_800, { type: "probe_attempt", target: "public", url: URLS.api, elapsedMs: 5_200, status: 502, error: null, service: "api" }],
];

const SETTLED: Timed = [
  8_000,
  {
    type: "settled",
    services: [
      { name: "app", ready: true, urls: [URLS.app], reason: "verified" },
      { name: "api", ready: false, urls: [URLS.api], reason: API_DOWN },
      { name: "admin", ready: true, urls: [URLS.admin], reason: "verified" },
    ],
  },
];

/** After settling: api's origin comes up, app loses and regains its path, a reload, a refused one, Ctrl+C. */
const AFTER: readonly Timed[] = [
  [60_000, { type: "probed", target: "public", result: probe(URLS.api, true, 200, 59_000), service: "api" }],
  [60_000, { type: "ready", tunnel: tunnelOf("api"), urls: [URLS.api], endpointId: EID, elapsedMs: 59_800, service: "api" }],
  [61_000, { type: "readiness_changed", id: "tunnel-app", readiness: { ready: false, state: "degraded", reason: "the public URL answers HTTP 503" }, service: "app" }],
  [62_000, { type: "readiness_changed", id: "tunnel-app", readiness: { ready: true, state: "ready", reason: "verified" }, service: "app" }],
  // A reload as the group runs one: the removed service withdrawn, the members announced, then the summary.
  [70_000, { type: "disabling", service: "admin" }],
  [70_000, { type: "disabled", id: "tunnel-admin", service: "admin" }],
  [70_100, {
    type: "group",
    name: "web-stack",
    members: [MEMBERS[0]!, { ...MEMBERS[1]!, endpoint: "http://127.0.0.1:8081" }, { name: "api2", endpoint: "http://127.0.0.1:8082", label: "web-stack/api2" }],
  }],
  [70_200, {
    type: "reloaded",
    summary: { source: "datum-tunnels.yaml", added: ["api2"], removed: ["admin"], deleted: [], changed: ["api"], unchanged: ["app"] },
  }],
  [80_000, { type: "reload_rejected", source: "datum-tunnels.yaml", message: "datum-tunnels.yaml: tunnels[1] (api): unknown key 'endpont'" }],
  [90_000, { type: "closing" }],
  [90_000, { type: "disabling" }],
  [90_100, { type: "disabled", id: "tunnel-app", service: "app" }],
  [90_100, { type: "disabled", id: "tunnel-api", service: "api" }],
];

const ALL: readonly Timed[] = [...SETUP, SETTLED, ...AFTER];

function feed(view: { on(e: ListenEvent): void }, events: readonly Timed[], clock?: FakeClock): void {
  for (const [at, event] of events) {
    if (clock) clock.t = at;
    view.on(event);
  }
}

function collect() {
  const err: string[] = [];
  const out: string[] = [];
  return { err, out, errWrite: (l: string) => void err.push(l), outWrite: (l: string) => void out.push(l) };
}

/** What stderr says over the whole run, without the live view. */
const PLAIN_STDERR = [
  `Your endpoint ID: ${EID}`,
  "Group web-stack: 3 services: app, api, admin",
  "app: Created tunnel:",
  "app:   id: tunnel-app",
  "app:   label: web-stack/app",
  "app:   endpoint: http://127.0.0.1:3000",
  "api: Created tunnel:",
  "api:   id: tunnel-api",
  "api:   label: web-stack/api",
  "api:   endpoint: http://127.0.0.1:8080",
  "admin: Found existing tunnel for http://127.0.0.1:9000:",
  "admin:   id: tunnel-admin",
  "admin:   label: web-stack/admin",
  "admin:   endpoint: http://127.0.0.1:9000",
  "app: Setting up tunnel...",
  "api: Setting up tunnel...",
  "admin: Setting up tunnel...",
  "app:   ✓ tunnel accepted (0.8s) [HTTPProxy/tunnel-app]",
  "api:   ✓ tunnel accepted (0.8s) [HTTPProxy/tunnel-api]",
  "admin:   ✓ tunnel accepted (0.8s) [HTTPProxy/tunnel-admin]",
  "admin:   ✓ TLS certificate issued (0.8s) [HTTPProxy/tunnel-admin]",
  "admin:   ✓ connector ready (0.8s) [Connector/datum-connect-abc]",
  "admin:   ✓ iroh DNS published (0.8s) [Connector/datum-connect-abc]",
  "admin:   ✓ route programmed (0.8s) [HTTPProxy/tunnel-admin]",
  "admin: Verifying connectivity...",
  "admin:   ✓ origin reachable (0.1s) [http://127.0.0.1:9000]: HTTP 200",
  "admin:   ✓ proxy responding (0.9s) [https://admin-3.datumproxy.net]: HTTP 200",
  "admin: Tunnel ready after 1 sec: https://admin-3.datumproxy.net",
  "app:   ✓ TLS certificate issued (2.3s) [HTTPProxy/tunnel-app]",
  "app:   ✓ connector ready (2.3s) [Connector/datum-connect-abc]",
  "app:   ✓ iroh DNS published (2.3s) [Connector/datum-connect-abc]",
  "app:   ✓ route programmed (2.3s) [HTTPProxy/tunnel-app]",
  "api:   ✓ TLS certificate issued (2.3s) [HTTPProxy/tunnel-api]",
  "api:   ✓ connector ready (2.3s) [Connector/datum-connect-abc]",
  "api:   ✓ iroh DNS published (2.3s) [Connector/datum-connect-abc]",
  "api:   ✓ route programmed (2.3s) [HTTPProxy/tunnel-api]",
  "app: Verifying connectivity...",
  "api: Verifying connectivity...",
  "app: tunnel tunnel-app now forwards to http://127.0.0.1:3000 (changed on the platform)",
  "warning: no relay reached within 10s",
  "api: warning: origin http://127.0.0.1:8080 refused the connection: nothing is listening there (is the service running?) — continuing",
  "app:   ✓ origin reachable (0.0s) [http://127.0.0.1:3000]: HTTP 200",
  "app:   ✓ proxy responding (0.5s) [https://app-1.datumproxy.net]: HTTP 200",
  "app: Tunnel ready after 3 sec: https://app-1.datumproxy.net",
  // The 0.9 s attempt is inside the first 5 s: not shown (the single tunnel's throttling).
  "api:   ○ waiting for tunnel [https://api-2.datumproxy.net] (5s) ... HTTP 502: the origin is down",
  `api: degraded: ${API_DOWN}`,
  "Ready: 2 of 3 services verified",
  CTRL_C,
  "api:   ✓ proxy responding (59.0s) [https://api-2.datumproxy.net]: HTTP 200",
  "api: Tunnel ready after 59 sec: https://api-2.datumproxy.net",
  "app: degraded: the public URL answers HTTP 503",
  "app: ready again",
  "admin: Disabling tunnel...",
  "admin: Tunnel disabled.",
  "reloaded: +api2 -admin ~api (unchanged: 1)",
  "reload refused: datum-tunnels.yaml: tunnels[1] (api): unknown key 'endpont'",
  "",
  "Disabling 3 tunnels...",
  "app: Tunnel disabled.",
  "api: Tunnel disabled.",
];

describe("plain lines", () => {
  test("each service's lines in the single tunnel's wording, prefixed; stdout: `<name> <url>` per verified service once settled", () => {
    const c = collect();
    feed(new GroupLinesView(c.errWrite, c.outWrite, CTRL_C), SETUP);
    // Nothing on stdout until the group has settled.
    expect(c.out).toEqual([]);
    const v = new GroupLinesView(c.errWrite, c.outWrite, CTRL_C);
    c.err.length = 0;
    feed(v, ALL);
    expect(c.err).toEqual(PLAIN_STDERR);
    // In the order settled names them; api's once its origin came up.
    expect(c.out).toEqual(["app https://app-1.datumproxy.net", "admin https://admin-3.datumproxy.net", "api https://api-2.datumproxy.net"]);
  });

  test("GroupPlainView: the same lines, stdout's included, all to one writer; the stop hint only when given", () => {
    const lines: string[] = [];
    feed(new GroupPlainView((l) => void lines.push(l)), ALL);
    const atSettle = lines.indexOf("app https://app-1.datumproxy.net");
    expect(lines.slice(atSettle, atSettle + 4)).toEqual([
      "app https://app-1.datumproxy.net",
      "admin https://admin-3.datumproxy.net",
      `api: degraded: ${API_DOWN}`,
      "Ready: 2 of 3 services verified",
    ]);
    expect(lines).not.toContain(CTRL_C);
    expect(lines.filter((l) => !/^(app|api|admin) https:/.test(l))).toEqual(PLAIN_STDERR.filter((l) => l !== CTRL_C));

    const hinted: string[] = [];
    feed(new GroupPlainView((l) => void hinted.push(l), "Stop it with: tunnel stop --name web-stack"), ALL);
    expect(hinted[hinted.indexOf("Ready: 2 of 3 services verified") + 1]).toBe("Stop it with: tunnel stop --name web-stack");
  });

  test("a second settled prints only what is new, and no second hint", () => {
    const c = collect();
    const v = new GroupLinesView(c.errWrite, c.outWrite, CTRL_C);
    feed(v, [SETTLED, SETTLED]);
    expect(c.out).toEqual(["app https://app-1.datumproxy.net", "admin https://admin-3.datumproxy.net"]);
    expect(c.err.filter((l) => l === CTRL_C)).toHaveLength(1);
  });
});

describe("JSON events", () => {
  function parsed(lines: readonly string[]): Record<string, unknown>[] {
    return lines.map((line) => {
      const value: unknown = JSON.parse(line);
      expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
      return value as Record<string, unknown>;
    });
  }

  test("the single tunnel's events with the service after the type, the group's own, text on stderr", () => {
    const c = collect();
    feed(new GroupJsonView(c.errWrite, c.outWrite, CTRL_C), ALL);
    // stderr: the plain lines; stdout: JSON only (no `<name> <url>` lines).
    expect(c.err).toEqual(PLAIN_STDERR);
    const events = parsed(c.out);
    for (const e of events) {
      if (String(e.type).startsWith("tunnel_")) {
        expect(Object.keys(e).slice(0, 2)).toEqual(["type", "service"]);
        expect(["app", "api", "admin"]).toContain(e.service as string);
      } else expect(e.service).toBeUndefined();
    }
    expect(events[0]).toEqual({
      type: "group",
      name: "web-stack",
      endpoint_id: EID,
      services: [
        { name: "app", endpoint: "http://127.0.0.1:3000", label: "web-stack/app" },
        { name: "api", endpoint: "http://127.0.0.1:8080", label: "web-stack/api" },
        { name: "admin", endpoint: "http://127.0.0.1:9000", label: "web-stack/admin" },
      ],
    });
    const notProgress = events.filter((e) => e.type !== "tunnel_progress");
    expect(notProgress.slice(1)).toEqual([
      { type: "tunnel_created", service: "app", id: "tunnel-app" },
      { type: "tunnel_created", service: "api", id: "tunnel-api" },
      { type: "tunnel_verified", service: "admin", url: ORIGINS.admin },
      { type: "tunnel_verified", service: "admin", url: URLS.admin },
      {
        type: "tunnel_ready",
        service: "admin",
        id: "tunnel-admin",
        label: "web-stack/admin",
        endpoint: ORIGINS.admin,
        hostnames: ["admin-3.datumproxy.net"],
        urls: [URLS.admin],
        endpoint_id: EID,
        status: "ready",
        elapsed_secs: 1.9,
      },
      // api's origin is down: no tunnel_verified for it.
      { type: "tunnel_verified", service: "app", url: ORIGINS.app },
      { type: "tunnel_verified", service: "app", url: URLS.app },
      expect.objectContaining({ type: "tunnel_ready", service: "app", id: "tunnel-app", urls: [URLS.app] }),
      {
        type: "group_settled",
        ready: 2,
        total: 3,
        services: [
          { name: "app", status: "ready", urls: [URLS.app], reason: null },
          { name: "api", status: "degraded", urls: [URLS.api], reason: API_DOWN },
          { name: "admin", status: "ready", urls: [URLS.admin], reason: null },
        ],
      },
      { type: "tunnel_verified", service: "api", url: URLS.api },
      expect.objectContaining({ type: "tunnel_ready", service: "api", id: "tunnel-api" }),
      { type: "tunnel_degraded", service: "app", id: "tunnel-app", reason: "the public URL answers HTTP 503" },
      { type: "tunnel_recovered", service: "app", id: "tunnel-app" },
      { type: "tunnel_disabled", service: "admin", id: "tunnel-admin" },
      expect.objectContaining({ type: "group", name: "web-stack", services: expect.arrayContaining([expect.objectContaining({ name: "api2" })]) }),
      {
        type: "group_reloaded",
        source: "datum-tunnels.yaml",
        added: ["api2"],
        removed: ["admin"],
        deleted: [],
        changed: ["api"],
        unchanged: ["app"],
      },
      { type: "group_reload_rejected", source: "datum-tunnels.yaml", message: "datum-tunnels.yaml: tunnels[1] (api): unknown key 'endpont'" },
      { type: "tunnel_disabled", service: "app", id: "tunnel-app" },
      { type: "tunnel_disabled", service: "api", id: "tunnel-api" },
    ]);
    // Progress: every step on each service's first poll, then the changes, each tagged.
    const progress = events.filter((e) => e.type === "tunnel_progress");
    expect(progress.filter((e) => e.service === "admin")).toHaveLength(6);
    expect(progress.filter((e) => e.service === "app")).toEqual([
      ...STEPS.map((s) => expect.objectContaining({ step: s.step })),
      ...["certificates_ready", "connector_ready", "iroh_dns_published", "proxy_programmed"].map((step) =>
        expect.objectContaining({ service: "app", step, status: "ready" }),
      ),
    ]);
  });
});

class FakeClock implements ViewClock {
  t = 0;
  readonly ticks = new Set<() => void>();
  now(): number {
    return this.t;
  }
  every(_ms: number, fn: () => void): () => void {
    this.ticks.add(fn);
    return () => this.ticks.delete(fn);
  }
  tick(): void {
    for (const fn of this.ticks) fn();
  }
}

/** A terminal stand-in: writes drawn on an emulated screen, its size read afresh, resize events. */
class FakeStream {
  readonly #listeners = new Set<() => void>();
  constructor(readonly vt: VtScreen) {}
  write(chunk: string): boolean {
    this.vt.write(chunk);
    return true;
  }
  getWindowSize(): [number, number] {
    return [this.vt.columns, this.vt.height];
  }
  on(_event: "resize", fn: () => void): this {
    this.#listeners.add(fn);
    return this;
  }
  off(_event: "resize", fn: () => void): this {
    this.#listeners.delete(fn);
    return this;
  }
  resize(columns: number): void {
    this.vt.resize(columns);
    for (const fn of this.#listeners) fn();
  }
}

function ttyOf(columns: number) {
  const vt = new VtScreen(columns);
  const stream = new FakeStream(vt);
  const clock = new FakeClock();
  const out: string[] = [];
  const view = new GroupTtyView(stream as unknown as NodeJS.WriteStream, (l) => void out.push(l), clock);
  return { vt, stream, clock, out, view };
}

/** The live block: the last `n` lines on the screen (the header and one row per service). */
function block(vt: VtScreen, n = 4): string[] {
  return vt.lines().slice(-n);
}

describe("live view", () => {
  test("120 columns: a header, one row per service saying what it does now, notices above, then the outcome", () => {
    const { vt, stream, clock, out, view } = ttyOf(120);
    feed(view, SETUP.slice(0, 11), clock); // every service's first progress poll
    clock.t = 1_600;
    clock.tick();
    expect(block(vt)).toEqual([
      "web-stack · endpoint 3f2a9c1e4b… · 3 services",
      "  app    ⠙ TLS certificate issued (1.5s) — Waiting for ACME",
      "  api    ⠙ TLS certificate issued (1.5s) — Waiting for ACME",
      // admin's first poll had every step ready: verification is next, not a step.
      "  admin  ⠙ setting up (1.5s)",
    ]);

    feed(view, SETUP.slice(11), clock);
    clock.tick();
    // The notices went above the block, the tagged one with its service's name; the setup steps did not.
    expect(vt.lines().slice(0, 3)).toEqual([
      "app: tunnel tunnel-app now forwards to http://127.0.0.1:3000 (changed on the platform)",
      "warning: no relay reached within 10s",
      "api: warning: origin http://127.0.0.1:8080 refused the connection: nothing is listening there (is the service running?) — continuing",
    ]);
    // Anything else writing to the terminal meanwhile also goes above.
    stream.write("[warn] a logger line\n");
    expect(vt.lines()[3]).toBe("[warn] a logger line");
    expect(block(vt)).toEqual([
      "web-stack · endpoint 3f2a9c1e4b… · 3 services",
      "  app    ✓ https://app-1.datumproxy.net",
      "  api    ! verifying https://api-2.datumproxy.net (5.2s) — origin refused the connection: nothing is listening there (i…",
      "  admin  ✓ https://admin-3.datumproxy.net",
    ]);
    expect(out).toEqual([]);

    feed(view, [SETTLED], clock);
    expect(clock.ticks.size).toBe(0);
    expect(out).toEqual(["app https://app-1.datumproxy.net", "admin https://admin-3.datumproxy.net"]);
    expect(vt.lines().slice(4)).toEqual([
      "web-stack · endpoint 3f2a9c1e4b… · 3 services",
      "  app    ✓ https://app-1.datumproxy.net",
      `  api    ! degraded: ${API_DOWN}`,
      "  admin  ✓ https://admin-3.datumproxy.net",
      `api: degraded: ${API_DOWN}`,
      "Ready: 2 of 3 services verified",
      CTRL_C,
    ]);

    // After settling: plain lines below the block, which stays as it was.
    feed(view, AFTER, clock);
    stream.write("direct\n");
    expect(out).toEqual(["app https://app-1.datumproxy.net", "admin https://admin-3.datumproxy.net", "api https://api-2.datumproxy.net"]);
    expect(vt.lines().slice(11)).toEqual([
      "app: degraded: the public URL answers HTTP 503",
      "app: ready again",
      "admin: Tunnel disabled.",
      "reloaded: +api2 -admin ~api (unchanged: 1)",
      "reload refused: datum-tunnels.yaml: tunnels[1] (api): unknown key 'endpont'",
      "",
      "Disabling 3 tunnels...",
      "app: Tunnel disabled.",
      "api: Tunnel disabled.",
      "direct",
    ]);
  });

  test("40 columns: no row wider than the terminal, the degraded reason still shown; a resize redraws at the new width", () => {
    const { vt, stream, clock, view } = ttyOf(40);
    const fits = (lines: readonly string[], width: number) => {
      for (const line of lines) expect([...line].length).toBeLessThanOrEqual(width);
    };
    for (const step of SETUP) {
      feed(view, [step], clock);
      clock.tick();
      fits(block(vt), 40);
    }
    expect(block(vt)).toEqual([
      "web-stack · endpoint 3f2a9c1e4b… · 3 se…",
      "  app    ✓ https://app-1.datumproxy.net",
      "  api    ! verifying https://api-2.datu…",
      "  admin  ✓ https://admin-3.datumproxy.n…",
    ]);

    stream.resize(120);
    expect(block(vt)[2]).toStartWith("  api    ! verifying https://api-2.datumproxy.net (5.2s) — origin refused");
    stream.resize(40);
    fits(block(vt), 40);

    feed(view, [SETTLED], clock);
    const settled = vt.lines();
    const at = settled.indexOf("web-stack · endpoint 3f2a9c1e4b… · 3 se…");
    fits(settled.slice(at, at + 4), 40);
    expect(settled[at + 2]).toBe("  api    ! degraded: origin http://127.…");
    // The whole reason is on its own line below the block (the terminal wraps that one).
    expect(settled.slice(at + 4, at + 7)).toEqual([`api: degraded: ${API_DOWN}`, "Ready: 2 of 3 services verified", CTRL_C]);
  });

  test("Ctrl+C during setup: the block stays as it was, without spinners, then the disabling lines", () => {
    const { vt, clock, out, view } = ttyOf(80);
    feed(view, SETUP.slice(0, 11), clock);
    feed(view, [[1_500, { type: "closing" }], [1_500, { type: "disabling" }], [1_600, { type: "disabled", id: "tunnel-app", service: "app" }]], clock);
    expect(clock.ticks.size).toBe(0);
    expect(out).toEqual([]);
    expect(vt.lines()).toEqual([
      "web-stack · endpoint 3f2a9c1e4b… · 3 services",
      "  app    · TLS certificate issued (1.4s) — Waiting for ACME",
      "  api    · TLS certificate issued (1.4s) — Waiting for ACME",
      "  admin  · setting up (1.4s)",
      "",
      "Disabling 3 tunnels...",
      "app: Tunnel disabled.",
    ]);
  });

  test("groupViewFor picks the view", () => {
    expect(groupViewFor("json", true)).toBeInstanceOf(GroupJsonView);
    expect(groupViewFor("table", true)).toBeInstanceOf(GroupTtyView);
    const plain = groupViewFor("table", false);
    expect(plain).toBeInstanceOf(GroupLinesView);
    expect(plain).not.toBeInstanceOf(GroupPlainView);
  });
});

describe("pure pieces", () => {
  test.each([
    ["short enough", "abc", 10, "abc"],
    ["exactly the width", "abcdefghij", 10, "abcdefghij"],
    ["one over", "abcdefghijk", 10, "abcdefghi…"],
    ["unknown width: as is", "abcdefghijk", undefined, "abcdefghijk"],
    ["wide characters count two", "日本語のテキスト", 7, "日本語…"],
  ] as const)("truncateToWidth: %s", (_name, line, columns, expected) => {
    expect(truncateToWidth(line, columns)).toBe(expected);
  });

  test.each([
    [{ added: ["api2"], removed: ["old"], deleted: [], changed: ["api"], unchanged: ["a", "b"] }, "reloaded: +api2 -old ~api (unchanged: 2)"],
    [{ added: [], removed: [], deleted: ["gone"], changed: [], unchanged: ["a"] }, "reloaded: -gone(deleted) (unchanged: 1)"],
    [{ added: [], removed: [], deleted: [], changed: [], unchanged: ["a", "b", "c"] }, "reloaded: no changes (unchanged: 3)"],
  ])("reloadedLine %#", (summary, expected) => {
    expect(reloadedLine({ source: "f.yaml", ...summary })).toBe(expected);
  });

  test.each([
    ["web-stack", EID, 3, "web-stack · endpoint 3f2a9c1e4b… · 3 services"],
    ["solo", undefined, 1, "solo · 1 service"],
  ] as const)("headerLine(%p)", (name, id, n, expected) => {
    expect(headerLine(name, id, n)).toBe(expected);
  });

  test("prefixLines keeps a message's lines apart and blank lines blank", () => {
    expect(prefixLines("api", "  Tunnel is gone.\nreason: x\n")).toEqual(["api:   Tunnel is gone.", "api: reason: x", ""]);
    expect(prefixLines(undefined, "a\nb")).toEqual(["a", "b"]);
  });

  test("withService puts the service right after the type", () => {
    expect(withService('{"type":"tunnel_disabled","id":"t"}', "api")).toBe('{"type":"tunnel_disabled","service":"api","id":"t"}');
  });

  test("a long service name is cut so what it does stays visible", () => {
    const board = new GroupBoard();
    board.apply({ type: "group", name: "g", members: [{ name: "a-very-long-service-name-indeed", endpoint: "x", label: "x" }] }, 0);
    board.apply({ type: "setting_up", service: "a-very-long-service-name-indeed" }, 0);
    const lines = board.lines({ now: 2_000, frame: 0, columns: 40, final: false });
    expect(lines[1]).toBe("  a-very-long…  ⠋ setting up (2.0s)");
  });

  test("a service that failed to start stays failed when the group settles, the others degraded with their reason", () => {
    const board = new GroupBoard();
    board.apply({ type: "group", name: "g", members: MEMBERS }, 0);
    board.apply({ type: "ended", kind: "terminal_failure", id: "app", message: "failed to start: quota exceeded\nmore", service: "app" }, 0);
    board.apply({
      type: "settled",
      services: [
        { name: "app", ready: false, urls: [], reason: "failed to start: quota exceeded" },
        { name: "api", ready: false, urls: [], reason: "stopped" },
        { name: "admin", ready: true, urls: [URLS.admin], reason: "verified" },
      ],
    }, 0);
    expect(board.lines({ now: 0, frame: 0, columns: 80, final: true }).slice(1)).toEqual([
      "  app    ✗ failed: failed to start: quota exceeded",
      "  api    ! degraded: stopped",
      "  admin  ✓ https://admin-3.datumproxy.net",
    ]);
  });

  test("a reload marks the services it dropped as removed and adds the new ones", () => {
    const board = new GroupBoard();
    board.apply({ type: "group", name: "g", members: MEMBERS }, 0);
    board.apply({ type: "group", name: "g", members: [MEMBERS[0]!, { name: "new", endpoint: "x", label: "x" }] }, 0);
    expect(board.lines({ now: 0, frame: 0, columns: undefined, final: true })).toEqual([
      "g · 2 services",
      "  app    · waiting to start",
      "  api    - removed",
      "  admin  - removed",
      "  new    · waiting to start",
    ]);
  });
});
