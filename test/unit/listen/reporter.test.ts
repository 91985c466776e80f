// The three `tunnel listen` reporters over one setup, with collecting writers
// (docs/wire-facts.md#setup-progress, #verify, #cli-lines, #json-events).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { JsonReporter, type ListenReporter, PlainReporter, TtyReporter } from "../../../src/listen/reporter.ts";
import { readyLine } from "../../../src/listen/lines.ts";
import type { TunnelSummary } from "../../../src/tunnel/service.ts";
import type { ProbeSummary } from "../../../workers/messages.ts";
import { progressOf, progressWith } from "./progress-fixtures.ts";
import { VtScreen } from "../../helpers/vt-screen.ts";

const EID = "a".repeat(64);
const ORIGIN = "http://127.0.0.1:3000";
const URL_ = "https://abc.datumproxy.net";

const TUNNEL: TunnelSummary = {
  id: "tunnel-x",
  label: "web",
  endpoint: ORIGIN,
  hostnames: ["abc.datumproxy.net"],
  enabled: true,
  accepted: true,
  programmed: true,
  connectorMetadataProgrammed: true,
  connectorName: "datum-connect-abc",
  connectorReady: true,
  deleting: false,
};

const P0 = progressWith("unknown", { proxy_accepted: "pending" });
const P1 = progressWith("unknown", { proxy_accepted: "ready" });
const P2 = progressWith("ready", { connector_metadata_programmed: "unknown" });

function probe(url: string, up: boolean, status: number | null, elapsedMs: number, error: string | null = null): ProbeSummary {
  return { url, up, status, error, elapsedMs, viaFallback: false };
}

/** One healthy setup, in the order `ListenSession` reports it. */
function driveSetup(r: ListenReporter): void {
  r.endpointId(EID);
  r.tunnel("created", TUNNEL);
  r.settingUp();
  r.progress(P0, 100);
  r.progress(P1, 800);
  r.progress(P1, 1_550);
  r.progress(P2, 2_300);
  r.verifying();
  r.probeAttempt("origin", ORIGIN, 100, 200, null);
  r.probed("origin", probe(ORIGIN, true, 200, 120));
  r.probeAttempt("public", URL_, 1_000, 503, null);
  r.probeAttempt("public", URL_, 5_200, 503, null);
  r.probed("public", probe(URL_, true, 200, 6_100));
  r.ready(TUNNEL, [URL_], EID, 8_750);
  r.disabling();
  r.disabled(TUNNEL.id);
  r.close();
}

const SETUP_STDERR = [
  `Your endpoint ID: ${EID}`,
  "Created tunnel:",
  "  id: tunnel-x",
  "  label: web",
  "  endpoint: http://127.0.0.1:3000",
  "Setting up tunnel...",
  "  ✓ tunnel accepted (0.8s) [HTTPProxy/tunnel-x]",
  "  ✓ TLS certificate issued (2.3s) [HTTPProxy/tunnel-x]",
  "  ✓ connector ready (2.3s) [Connector/datum-connect-abc]",
  "  ✓ iroh DNS published (2.3s) [Connector/datum-connect-abc]",
  "  ✓ route programmed (2.3s) [HTTPProxy/tunnel-x]",
  "Verifying connectivity...",
  "  ✓ origin reachable (0.1s) [http://127.0.0.1:3000]: HTTP 200",
  "  ○ waiting for tunnel [https://abc.datumproxy.net] (5s) ... HTTP 503",
  "  ✓ proxy responding (6.1s) [https://abc.datumproxy.net]: HTTP 200",
  "Press Ctrl+C to stop...",
  "",
  "Disabling tunnel...",
  "Tunnel disabled.",
];

function collect() {
  const err: string[] = [];
  const out: string[] = [];
  return { err, out, errWrite: (l: string) => void err.push(l), outWrite: (l: string) => void out.push(l) };
}

describe("PlainReporter", () => {
  test("a setup: talk on stderr, only the ready line on stdout", () => {
    const c = collect();
    driveSetup(new PlainReporter(c.errWrite, c.outWrite));
    expect(c.err).toEqual(SETUP_STDERR);
    expect(c.out).toEqual(["Tunnel ready after 8 sec: https://abc.datumproxy.net"]);
  });

  test("one ready line per URL", () => {
    const c = collect();
    new PlainReporter(c.errWrite, c.outWrite).ready(TUNNEL, [URL_, "https://www.example.com"], EID, 1_999);
    expect(c.out).toEqual(["Tunnel ready after 1 sec: https://abc.datumproxy.net", "Tunnel ready after 1 sec: https://www.example.com"]);
  });

  test.each([
    ["found", `Found existing tunnel for ${ORIGIN}:`],
    ["updated", "Updated tunnel:"],
    ["created", "Created tunnel:"],
  ] as const)("tunnel(%p) heading", (kind, heading) => {
    const c = collect();
    new PlainReporter(c.errWrite, c.outWrite).tunnel(kind, TUNNEL);
    expect(c.err).toEqual([heading, "  id: tunnel-x", "  label: web", "  endpoint: http://127.0.0.1:3000"]);
    expect(c.out).toEqual([]);
  });

  test("a waiting line for the first pending step every 10 s once it has waited 10 s", () => {
    const c = collect();
    const r = new PlainReporter(c.errWrite, c.outWrite);
    const pending = progressOf({ overrides: { CertificatesReady: { status: "False", reason: "Issuing", message: "Waiting for ACME" } } });
    for (const elapsed of [0, 9_999, 10_000, 15_000, 19_999, 20_000]) r.progress(pending, elapsed);
    const waiting = c.err.filter((l) => l.includes("waiting for"));
    expect(waiting).toEqual([
      "  ○ waiting for TLS certificate issued (10s) [HTTPProxy/tunnel-x]: Waiting for ACME",
      "  ○ waiting for TLS certificate issued (20s) [HTTPProxy/tunnel-x]: Waiting for ACME",
    ]);
    // The next step to wait on gets its own line at once.
    const next = progressOf({ overrides: { Programmed: { status: "False", reason: "Pending" } } });
    r.progress(next, 21_000);
    expect(c.err.at(-1)).toBe("  ○ waiting for route programmed (21s) [HTTPProxy/tunnel-x]: Pending");
  });

  test("an absent ConnectorMetadataProgrammed never gets a waiting line", () => {
    const c = collect();
    const r = new PlainReporter(c.errWrite, c.outWrite);
    r.progress(P2, 30_000);
    expect(c.err.filter((l) => l.includes("waiting"))).toEqual([]);
  });

  test.each<[string, (r: ListenReporter) => void, string[]]>([
    ["pollFailed", (r) => r.pollFailed("HTTP 503", 3), ["  … progress poll failed (3 in a row), retrying: HTTP 503"]],
    ["origin down", (r) => r.probed("origin", probe(ORIGIN, false, null, 5_000, "ECONNREFUSED")), [
      "warning: origin http://127.0.0.1:3000 refused the connection: nothing is listening there (is the service running?) — continuing",
    ]],
    ["origin silent", (r) => r.probed("origin", probe(ORIGIN, false, null, 5_000, null)), [
      "warning: origin http://127.0.0.1:3000 did not respond within budget — continuing",
    ]],
    ["origin answers 503", (r) => r.probed("origin", probe(ORIGIN, false, 503, 5_000, null)), [
      "warning: origin http://127.0.0.1:3000 answered HTTP 503 — continuing",
    ]],
    ["origin down, then the public URL answers 502: the origin is down", (r) => {
      r.probed("origin", probe(ORIGIN, false, null, 5_000, "ECONNREFUSED: Unable to connect"));
      r.probeAttempt("public", URL_, 5_000, 502, null);
    }, [
      "warning: origin http://127.0.0.1:3000 refused the connection: nothing is listening there (is the service running?) — continuing",
      "  ○ waiting for tunnel [https://abc.datumproxy.net] (5s) ... HTTP 502: the origin is down",
    ]],
    ["origin up, the public URL answers 502: just the status", (r) => {
      r.probed("origin", probe(ORIGIN, true, 200, 5, null));
      r.probeAttempt("public", URL_, 5_000, 502, null);
    }, [
      "  ✓ origin reachable (0.0s) [http://127.0.0.1:3000]: HTTP 200",
      "  ○ waiting for tunnel [https://abc.datumproxy.net] (5s) ... HTTP 502",
    ]],
    ["public not up: nothing", (r) => r.probed("public", probe(URL_, false, 503, 60_000)), []],
    ["origin attempts are not shown", (r) => r.probeAttempt("origin", ORIGIN, 9_000, null, "ECONNREFUSED"), []],
    ["public attempt with an error", (r) => r.probeAttempt("public", URL_, 5_000, null, "ENOTFOUND: abc.datumproxy.net"), [
      "  ○ waiting for tunnel [https://abc.datumproxy.net] (5s) ... ENOTFOUND: abc.datumproxy.net",
    ]],
    ["notice", (r) => r.notice("warning: token refresh failed: boom"), ["warning: token refresh failed: boom"]],
    ["ended", (r) => r.ended("deleted_upstream", "tunnel-x", "Tunnel tunnel-x no longer exists on the server. Stopping."), [
      "Tunnel tunnel-x no longer exists on the server. Stopping.",
    ]],
  ])("%s", (_name, act, expected) => {
    const c = collect();
    act(new PlainReporter(c.errWrite, c.outWrite));
    expect(c.err).toEqual(expected);
    expect(c.out).toEqual([]);
  });
});

describe("JsonReporter", () => {
  function parsed(lines: readonly string[]): Record<string, unknown>[] {
    return lines.map((line) => {
      expect(line).not.toContain("\n");
      const value: unknown = JSON.parse(line);
      expect(typeof value).toBe("object");
      expect(value).not.toBeNull();
      expect(Array.isArray(value)).toBe(false);
      const event = value as Record<string, unknown>;
      expect(typeof event.type).toBe("string");
      return event;
    });
  }

  test("a setup: one JSON object per stdout line with the upstream names and fields (docs/wire-facts.md#json-events); text stays on stderr", () => {
    const c = collect();
    driveSetup(new JsonReporter(c.errWrite, c.outWrite));
    expect(c.err).toEqual(SETUP_STDERR);
    expect(c.out).not.toContain(readyLine(8_750, URL_));
    const events = parsed(c.out);
    const progress = (step: string, status: string, resource: string) => ({ type: "tunnel_progress", step, status, resource });
    const H = "HTTPProxy/tunnel-x";
    const C = "Connector/datum-connect-abc";
    expect(events).toEqual([
      { type: "tunnel_created", id: "tunnel-x" },
      // First poll: every step, including the unknown ones.
      progress("proxy_accepted", "pending", H),
      progress("certificates_ready", "unknown", H),
      progress("connector_ready", "unknown", C),
      progress("iroh_dns_published", "unknown", C),
      progress("proxy_programmed", "unknown", H),
      progress("connector_metadata_programmed", "unknown", H),
      // Then each change; the unchanged poll at 1.55 s emits nothing.
      progress("proxy_accepted", "ready", H),
      progress("certificates_ready", "ready", H),
      progress("connector_ready", "ready", C),
      progress("iroh_dns_published", "ready", C),
      progress("proxy_programmed", "ready", H),
      { type: "tunnel_verified", url: ORIGIN },
      { type: "tunnel_verified", url: URL_ },
      {
        type: "tunnel_ready",
        id: "tunnel-x",
        label: "web",
        endpoint: ORIGIN,
        hostnames: ["abc.datumproxy.net"],
        urls: [URL_],
        endpoint_id: EID,
        status: "ready",
        elapsed_secs: 8.8,
      },
      { type: "tunnel_disabled", id: "tunnel-x" },
    ]);
  });

  test("a step without a resource (no Connector yet) has resource null", () => {
    const c = collect();
    new JsonReporter(c.errWrite, c.outWrite).progress(progressOf({ connectorName: null }), 0);
    const events = parsed(c.out);
    expect(events.map((e) => e.resource)).toEqual(["HTTPProxy/tunnel-x", "HTTPProxy/tunnel-x", null, null, "HTTPProxy/tunnel-x", "HTTPProxy/tunnel-x"]);
    expect(events.map((e) => e.status)).toEqual(["ready", "ready", "unknown", "unknown", "ready", "ready"]);
  });

  test("unknown → pending is a change", () => {
    const c = collect();
    const r = new JsonReporter(c.errWrite, c.outWrite);
    r.progress(progressWith("unknown"), 0);
    c.out.length = 0;
    r.progress(progressWith("unknown", { connector_ready: "pending" }), 750);
    expect(parsed(c.out)).toEqual([{ type: "tunnel_progress", step: "connector_ready", status: "pending", resource: "Connector/datum-connect-abc" }]);
  });

  test.each<[string, (r: ListenReporter) => void, Record<string, unknown>[]]>([
    ["updated", (r) => r.tunnel("updated", TUNNEL), [{ type: "tunnel_updated", id: "tunnel-x", label: "web", endpoint: ORIGIN }]],
    ["found: no event", (r) => r.tunnel("found", TUNNEL), []],
    ["origin not verified: no event", (r) => r.probed("origin", probe(ORIGIN, false, null, 5_000)), []],
    ["terminal failure", (r) => r.ended("terminal_failure", "tunnel-x", "boom"), [{ type: "tunnel_terminal_failure", id: "tunnel-x", message: "boom" }]],
    ["deleted upstream", (r) => r.ended("deleted_upstream", "tunnel-x", "gone"), [{ type: "tunnel_deleted_upstream", id: "tunnel-x", message: "gone" }]],
    ["disabled", (r) => r.disabled("tunnel-x"), [{ type: "tunnel_disabled", id: "tunnel-x" }]],
    ["notices stay on stderr", (r) => r.notice("warning: x"), []],
    ["poll failures stay on stderr", (r) => r.pollFailed("x", 1), []],
  ])("%s", (_name, act, expected) => {
    const c = collect();
    act(new JsonReporter(c.errWrite, c.outWrite));
    expect(parsed(c.out)).toEqual(expected);
  });
});

/** A terminal stand-in: every write is kept and drawn on an emulated screen of the given width. */
class FakeStream {
  readonly writes: string[] = [];
  readonly #listeners = new Map<string, (() => void)[]>();
  constructor(readonly vt = new VtScreen(80)) {}
  write(chunk: string): boolean {
    this.writes.push(chunk);
    this.vt.write(chunk);
    return true;
  }
  getWindowSize(): [number, number] {
    return [this.vt.columns, this.vt.height];
  }
  on(event: string, fn: () => void): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), fn]);
    return this;
  }
  off(event: string, fn: () => void): this {
    this.#listeners.set(event, (this.#listeners.get(event) ?? []).filter((f) => f !== fn));
    return this;
  }
  emit(event: string): void {
    for (const fn of this.#listeners.get(event) ?? []) fn();
  }
  text(): string {
    return this.writes.join("");
  }
}

/** Replaces the global interval timer so ticks are driven by hand and nothing runs in the background. */
class FakeIntervals {
  readonly active = new Map<number, { fn: () => void; ms: number }>();
  readonly cleared: number[] = [];
  #next = 1;
  readonly #realSet = globalThis.setInterval;
  readonly #realClear = globalThis.clearInterval;

  install(): void {
    globalThis.setInterval = ((fn: () => void, ms: number) => {
      const id = this.#next++;
      this.active.set(id, { fn, ms });
      return { id, unref() {}, ref() {}, hasRef: () => false, [Symbol.toPrimitive]: () => id };
    }) as unknown as typeof setInterval;
    globalThis.clearInterval = ((handle: { id: number } | undefined) => {
      if (handle === undefined) return;
      this.cleared.push(handle.id);
      this.active.delete(handle.id);
    }) as unknown as typeof clearInterval;
  }

  uninstall(): void {
    globalThis.setInterval = this.#realSet;
    globalThis.clearInterval = this.#realClear;
  }

  tick(): void {
    for (const { fn } of this.active.values()) fn();
  }
}

describe("TtyReporter", () => {
  let timers: FakeIntervals;
  beforeEach(() => {
    timers = new FakeIntervals();
    timers.install();
  });
  afterEach(() => timers.uninstall());

  test("draws a live block, redraws it on ticks, ends with the ready line on stdout and stops its timer", () => {
    const vt = new VtScreen(80);
    const stream = new FakeStream(vt);
    const out: string[] = [];
    const r = new TtyReporter(stream as unknown as NodeJS.WriteStream, (l) => void out.push(l));

    r.endpointId(EID);
    expect(stream.writes).toEqual([`Your endpoint ID: ${EID}\n`]);

    r.settingUp();
    expect(timers.active.size).toBe(1);
    expect([...timers.active.values()][0]?.ms).toBe(100);
    expect(vt.lines().at(-1)).toMatch(/^ {2}⠋ setting up tunnel \(\d+\.\ds\)$/);

    r.progress(P1, 800);
    expect(vt.lines().slice(1, 7)).toEqual([
      "  ✓ tunnel accepted (0.8s)",
      "  ⠋ TLS certificate issued",
      "  · connector ready",
      "  · iroh DNS published",
      "  · route programmed",
      // Optional and unknown (J.12): not waited for.
      "  ✓ envoy metadata propagated",
    ]);

    timers.tick();
    timers.tick();
    // Each tick replaces the block: still one copy, the spinner two frames on.
    expect(vt.lines().filter((l) => l.includes("tunnel accepted"))).toHaveLength(1);
    expect(vt.lines()[2]).toBe("  ⠹ TLS certificate issued");

    r.notice("note above the block");
    // Anything else written to the stream meanwhile also goes above the block.
    stream.write("[warn] a logger line\n");
    timers.tick();
    expect(vt.lines().slice(0, 4)).toEqual([`Your endpoint ID: ${EID}`, "note above the block", "[warn] a logger line", "  ✓ tunnel accepted (0.8s)"]);

    r.progress(P2, 2_300);
    r.verifying();
    expect(vt.lines().at(-1)).toContain("verifying the public URL");
    r.probed("origin", probe(ORIGIN, false, null, 5_000, "ECONNREFUSED: Unable to connect. Is the computer able to access the url?"));
    r.probeAttempt("public", URL_, 1_000, 502, null);
    timers.tick();
    expect(vt.lines().at(-1)).toContain(`waiting for ${URL_} (HTTP 502: the origin is down)`);

    r.ready(TUNNEL, [URL_], EID, 3_000);
    expect(out).toEqual(["Tunnel ready after 3 sec: https://abc.datumproxy.net"]);
    expect(timers.active.size).toBe(0);
    expect(timers.cleared).toHaveLength(1);
    expect(vt.lines()).toEqual([
      `Your endpoint ID: ${EID}`,
      "note above the block",
      "[warn] a logger line",
      "warning: origin http://127.0.0.1:3000 refused the connection: nothing is listening there (is the service running?) — continuing",
      "  ✓ tunnel accepted (0.8s)",
      "  ✓ TLS certificate issued (2.3s)",
      "  ✓ connector ready (2.3s)",
      "  ✓ iroh DNS published (2.3s)",
      "  ✓ route programmed (2.3s)",
      "  ✓ envoy metadata propagated",
      "Press Ctrl+C to stop...",
    ]);

    // After close: plain lines, no redraws, the stream's own write back, and close is idempotent.
    const after = stream.writes.length;
    r.close();
    r.disabling();
    r.disabled(TUNNEL.id);
    stream.write("direct\n");
    expect(stream.writes.slice(after)).toEqual(["\n", "Disabling tunnel...\n", "Tunnel disabled.\n", "direct\n"]);
    expect(timers.cleared).toHaveLength(1);
  });

  test.each([40, 24])("at %p columns the wrapped rows are erased too: one copy of each line", (columns) => {
    const vt = new VtScreen(columns);
    const stream = new FakeStream(vt);
    const r = new TtyReporter(stream as unknown as NodeJS.WriteStream, () => undefined);
    r.settingUp();
    r.progress(P1, 800);
    for (let i = 0; i < 5; i++) timers.tick();
    r.notice("warning: origin http://127.0.0.1:3000 refused the connection: nothing is listening there (is the service running?) — continuing");
    for (let i = 0; i < 5; i++) timers.tick();
    vt.resize(columns + 30);
    timers.tick();
    vt.resize(columns);
    stream.emit("resize");
    r.close();
    const lines = vt.lines();
    expect(lines.filter((l) => l.includes("tunnel accepted"))).toEqual(["  ✓ tunnel accepted (0.8s)"]);
    expect(lines.filter((l) => l.includes("warning:"))).toHaveLength(1);
    expect(lines.filter((l) => /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/.test(l))).toEqual([]);
  });

  test("close() stops the timer even before ready, leaving the steps without the status row", () => {
    const vt = new VtScreen(80);
    const stream = new FakeStream(vt);
    const r = new TtyReporter(stream as unknown as NodeJS.WriteStream, () => undefined);
    r.settingUp();
    r.progress(P0, 100);
    r.close();
    expect(timers.active.size).toBe(0);
    expect(vt.lines()[0]).toMatch(/^ {2}· tunnel accepted/);
    expect(vt.lines().filter((l) => l.includes("setting up tunnel"))).toEqual([]);
    const n = stream.writes.length;
    r.close();
    expect(stream.writes.length).toBe(n);
  });

  test("close() without a setup writes nothing", () => {
    const stream = new FakeStream();
    const r = new TtyReporter(stream as unknown as NodeJS.WriteStream, () => undefined);
    expect(() => r.close()).not.toThrow();
    expect(stream.writes).toEqual([]);
    expect(timers.cleared).toEqual([]);
  });
});
