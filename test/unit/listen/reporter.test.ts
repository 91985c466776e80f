// The three `tunnel listen` reporters over one setup, with collecting writers (upstream-runtime §C.9–C.10, §H.2–H.3).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { JsonReporter, type ListenReporter, PlainReporter, TtyReporter } from "../../../src/listen/reporter.ts";
import { readyLine } from "../../../src/listen/lines.ts";
import type { TunnelSummary } from "../../../src/tunnel/service.ts";
import type { ProbeSummary } from "../../../workers/messages.ts";
import { progressOf, progressWith } from "./progress-fixtures.ts";

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
      "warning: origin http://127.0.0.1:3000 did not respond within budget — continuing",
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

  test("a setup: one JSON object per stdout line with the §H.3 names and fields; text stays on stderr", () => {
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

/** A terminal stand-in that keeps every write. */
class FakeStream {
  readonly writes: string[] = [];
  write(chunk: string): boolean {
    this.writes.push(chunk);
    return true;
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
    const stream = new FakeStream();
    const out: string[] = [];
    const r = new TtyReporter(stream as unknown as NodeJS.WriteStream, (l) => void out.push(l));

    r.endpointId(EID);
    expect(stream.writes).toEqual([`Your endpoint ID: ${EID}\n`]);

    r.settingUp();
    expect(timers.active.size).toBe(1);
    expect([...timers.active.values()][0]?.ms).toBe(100);
    expect(stream.text()).toContain("⠋ setting up tunnel");

    r.progress(P1, 800);
    const block = stream.writes.at(-1) ?? "";
    expect(block).toContain("  ✓ tunnel accepted (0.8s)");
    expect(block).toContain("  ⠋ TLS certificate issued");
    expect(block).toContain("  · connector ready");
    // The previous one-row block (status only) was erased before this one was drawn.
    expect(stream.writes).toContain("\x1b[1A\x1b[0J");

    const before = stream.writes.length;
    timers.tick();
    timers.tick();
    const ticked = stream.writes.slice(before);
    // Each tick moves the cursor up over the 7-row block (6 steps + status), clears, redraws.
    expect(ticked.filter((w) => w === "\x1b[7A\x1b[0J")).toHaveLength(2);
    expect(ticked.join("")).toContain("⠙ TLS certificate issued");
    expect(ticked.join("")).toContain("⠹ TLS certificate issued");

    r.notice("note above the block");
    const noticeAt = stream.writes.indexOf("note above the block\n");
    expect(noticeAt).toBeGreaterThan(0);
    expect(stream.writes[noticeAt - 1]).toBe("\x1b[7A\x1b[0J");

    r.progress(P2, 2_300);
    r.verifying();
    expect(stream.writes.at(-1)).toContain("verifying the public URL");
    r.probeAttempt("public", URL_, 1_000, 503, null);
    timers.tick();
    expect(stream.writes.at(-1)).toContain(`waiting for ${URL_} (HTTP 503)`);

    r.ready(TUNNEL, [URL_], EID, 3_000);
    expect(out).toEqual(["Tunnel ready after 3 sec: https://abc.datumproxy.net"]);
    expect(timers.active.size).toBe(0);
    expect(timers.cleared).toHaveLength(1);
    expect(stream.writes).toContain("\x1b[1A\x1b[2K");
    expect(stream.writes.at(-1)).toBe("Press Ctrl+C to stop...\n");
    // The final block shows every step done.
    expect(stream.text()).toContain("  ✓ route programmed (2.3s)");
    expect(stream.text()).toContain("  ✓ envoy metadata propagated");

    // After close: plain lines, no redraws, and close is idempotent.
    const after = stream.writes.length;
    r.close();
    r.disabling();
    r.disabled(TUNNEL.id);
    expect(stream.writes.slice(after)).toEqual(["\n", "Disabling tunnel...\n", "Tunnel disabled.\n"]);
    expect(timers.cleared).toHaveLength(1);
  });

  test("close() stops the timer even before ready", () => {
    const stream = new FakeStream();
    const r = new TtyReporter(stream as unknown as NodeJS.WriteStream, () => undefined);
    r.settingUp();
    r.progress(P0, 100);
    r.close();
    expect(timers.active.size).toBe(0);
    expect(stream.writes.at(-1)).toBe("\x1b[1A\x1b[2K");
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
