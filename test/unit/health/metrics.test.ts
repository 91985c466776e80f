import { describe, expect, test } from "bun:test";
import { escapeLabelValue, formatValue, renderMetrics, tunnelLabel } from "../../../src/health/metrics.ts";
import type { RunState } from "../../../src/state/run-state.ts";
import { parseExposition } from "./exposition.ts";
import { busyState, freshState, groupState, target } from "./states.ts";

const EXPECTED_FAMILIES = [
  "datum_connect_info",
  "datum_connect_ready",
  "datum_connect_phase",
  "datum_connect_setup_duration_seconds",
  "process_start_time_seconds",
  "datum_connect_bytes_total",
  "datum_connect_requests_total",
  "datum_connect_active_requests",
  "datum_connect_connections_total",
  "datum_connect_token_refreshes_total",
  "datum_connect_heartbeat_renewals_total",
  "datum_connect_heartbeat_failures_total",
  "datum_connect_worker_restarts_total",
  "datum_connect_worker_deaths_total",
];

describe("every state renders valid 0.0.4 exposition", () => {
  const weird = busyState();
  weird.name = null;
  weird.tunnelId = 'tun"nel\\id\nx';
  weird.counters.targets['we"ird\\host\n:80'] = target({ accepted: 1 });
  weird.counters.targets["*"] = target({ denied: 9 });
  weird.workers.push({ name: "listen-node", state: "dead", restarts: 1, deaths: 1, lastDeath: null });
  test.each<[string, RunState]>([
    ["fresh", freshState()],
    ["busy", busyState()],
    ["stopped, unnamed, no tunnel id", freshState({ name: null, phase: "stopped", readiness: { ready: false, reason: "stopped" } })],
    ["label values needing escapes, overflow bucket, repeated worker name", weird],
    ["unparsable startedAt", freshState({ startedAt: "not a date" })],
    ["a group with a degraded service", groupState()],
    ["huge and fractional numbers", freshState({ setupMs: 1, counters: { targets: { "a:1": target({ bytesToOrigin: 2 ** 60, bytesFromOrigin: 1e21 }) }, connectionsAccepted: 0, connectionsCompleted: 0 } })],
  ])("%s", (_title, state) => {
    const text = renderMetrics(state, { version: "1.2.3", commit: "abc" });
    const e = parseExposition(text);
    expect(text).not.toContain("\n\n");
    for (const name of e.families.keys()) expect(name).toMatch(/^(datum_connect_|process_)/);
    for (const [name, f] of e.families) if (f.type === "counter") expect(name).toEndWith("_total");
    expect(e.value("datum_connect_build_info", { version: "1.2.3", commit: "abc" })).toBe(1);
  });
});

test("a fresh state: readiness 0, phase starting, zero global counters, no per-target or per-worker series", () => {
  const e = parseExposition(renderMetrics(freshState()));
  expect(e.families.has("datum_connect_build_info")).toBe(false);
  expect(e.value("datum_connect_ready")).toBe(0);
  expect(e.value("datum_connect_phase", { phase: "starting" })).toBe(1);
  expect(e.value("datum_connect_phase", { phase: "ready" })).toBe(0);
  expect(e.value("process_start_time_seconds")).toBe(1735787045.5);
  expect(e.value("datum_connect_info", { tunnel: "web", project: "p-1", tunnel_id: "", endpoint_id: "" })).toBe(1);
  expect(e.value("datum_connect_connections_total", { tunnel: "web", outcome: "accepted" })).toBe(0);
  expect(e.value("datum_connect_token_refreshes_total", { outcome: "failed" })).toBe(0);
  expect(e.value("datum_connect_heartbeat_renewals_total")).toBe(0);
  for (const absent of ["datum_connect_setup_duration_seconds", "datum_connect_bytes_total", "datum_connect_requests_total", "datum_connect_active_requests", "datum_connect_worker_restarts_total"]) {
    expect(e.families.has(absent)).toBe(false);
  }
});

test("a busy state: every figure lands in its series", () => {
  const e = parseExposition(renderMetrics(busyState(), { version: "1.2.3", commit: "abc" }));
  expect([...e.families.keys()]).toEqual(["datum_connect_build_info", ...EXPECTED_FAMILIES]);
  const t = { tunnel: "web", target: "127.0.0.1:3000" };
  expect(e.value("datum_connect_ready")).toBe(1);
  expect(e.value("datum_connect_phase", { phase: "ready" })).toBe(1);
  expect(e.value("datum_connect_setup_duration_seconds")).toBe(2.345);
  expect(e.value("datum_connect_bytes_total", { ...t, direction: "to_origin" })).toBe(1234);
  expect(e.value("datum_connect_bytes_total", { ...t, direction: "from_origin" })).toBe(56789);
  expect(e.value("datum_connect_requests_total", { ...t, outcome: "accepted" })).toBe(10);
  expect(e.value("datum_connect_requests_total", { ...t, outcome: "completed" })).toBe(7);
  expect(e.value("datum_connect_requests_total", { ...t, outcome: "failed" })).toBe(1);
  expect(e.value("datum_connect_requests_total", { ...t, outcome: "denied" })).toBe(0);
  expect(e.value("datum_connect_requests_total", { tunnel: "web", target: "localhost:22", outcome: "denied" })).toBe(3);
  expect(e.value("datum_connect_active_requests", t)).toBe(2);
  expect(e.value("datum_connect_connections_total", { tunnel: "web", outcome: "accepted" })).toBe(5);
  expect(e.value("datum_connect_connections_total", { tunnel: "web", outcome: "completed" })).toBe(4);
  expect(e.value("datum_connect_token_refreshes_total", { outcome: "refreshed" })).toBe(3);
  expect(e.value("datum_connect_token_refreshes_total", { outcome: "same_token" })).toBe(7);
  expect(e.value("datum_connect_token_refreshes_total", { outcome: "failed" })).toBe(1);
  expect(e.value("datum_connect_heartbeat_renewals_total")).toBe(12);
  expect(e.value("datum_connect_heartbeat_failures_total")).toBe(2);
  expect(e.value("datum_connect_worker_restarts_total", { worker: "listen-node" })).toBe(2);
  expect(e.value("datum_connect_worker_restarts_total", { worker: "heartbeat" })).toBe(0);
  expect(e.value("datum_connect_worker_deaths_total", { worker: "listen-node" })).toBe(2);
  expect(e.value("datum_connect_info", { tunnel: "web", project: "p-1", tunnel_id: "tunnel-abc", endpoint_id: "e".repeat(64) })).toBe(1);
});

test("counters move with the state", () => {
  const s = busyState();
  const before = parseExposition(renderMetrics(s));
  const t = s.counters.targets["127.0.0.1:3000"]!;
  s.counters.targets["127.0.0.1:3000"] = { ...t, accepted: t.accepted + 5, completed: t.completed + 4, bytesToOrigin: t.bytesToOrigin + 100, bytesFromOrigin: t.bytesFromOrigin + 1000, active: 3 };
  s.counters.targets["10.0.0.1:8080"] = target({ accepted: 1, active: 1 });
  s.counters.connectionsAccepted += 2;
  s.auth.refreshes.refreshed += 1;
  s.heartbeat.renewals += 3;
  s.heartbeat.failures += 1;
  s.workers[0] = { ...s.workers[0]!, restarts: 5 };
  const after = parseExposition(renderMetrics(s));
  const t0 = { tunnel: "web", target: "127.0.0.1:3000" };
  const delta = (name: string, labels: Record<string, string> = {}): number => after.value(name, labels)! - before.value(name, labels)!;
  expect(delta("datum_connect_requests_total", { ...t0, outcome: "accepted" })).toBe(5);
  expect(delta("datum_connect_requests_total", { ...t0, outcome: "completed" })).toBe(4);
  expect(delta("datum_connect_bytes_total", { ...t0, direction: "to_origin" })).toBe(100);
  expect(delta("datum_connect_bytes_total", { ...t0, direction: "from_origin" })).toBe(1000);
  expect(delta("datum_connect_active_requests", t0)).toBe(1);
  expect(delta("datum_connect_connections_total", { tunnel: "web", outcome: "accepted" })).toBe(2);
  expect(delta("datum_connect_token_refreshes_total", { outcome: "refreshed" })).toBe(1);
  expect(delta("datum_connect_heartbeat_renewals_total")).toBe(3);
  expect(delta("datum_connect_heartbeat_failures_total")).toBe(1);
  expect(delta("datum_connect_worker_restarts_total", { worker: "listen-node" })).toBe(3);
  expect(before.value("datum_connect_active_requests", { tunnel: "web", target: "10.0.0.1:8080" })).toBeUndefined();
  expect(after.value("datum_connect_active_requests", { tunnel: "web", target: "10.0.0.1:8080" })).toBe(1);
});

test("readiness and setup follow the state", () => {
  const s = freshState();
  expect(parseExposition(renderMetrics(s)).value("datum_connect_ready")).toBe(0);
  s.readiness = { ready: true, reason: "verified" };
  s.setupMs = 1500;
  const e = parseExposition(renderMetrics(s));
  expect(e.value("datum_connect_ready")).toBe(1);
  expect(e.value("datum_connect_setup_duration_seconds")).toBe(1.5);
});

test("label values are escaped and survive a round trip", () => {
  const s = busyState();
  s.name = null;
  s.tunnelId = 'a"b\\c\nd';
  s.counters.targets = { 'h"o\\s\nt:1': target({ accepted: 4 }) };
  const text = renderMetrics(s);
  expect(text).toContain('datum_connect_requests_total{tunnel="a\\"b\\\\c\\nd",target="h\\"o\\\\s\\nt:1",outcome="accepted"} 4\n');
  expect(parseExposition(text).value("datum_connect_requests_total", { tunnel: 'a"b\\c\nd', target: 'h"o\\s\nt:1', outcome: "accepted" })).toBe(4);
});

test("repeated worker names are summed, never a duplicate series", () => {
  const s = busyState();
  s.workers.push({ name: "listen-node", state: "dead", restarts: 1, deaths: 3, lastDeath: null });
  const e = parseExposition(renderMetrics(s));
  expect(e.value("datum_connect_worker_restarts_total", { worker: "listen-node" })).toBe(3);
  expect(e.value("datum_connect_worker_deaths_total", { worker: "listen-node" })).toBe(5);
});

test("output is deterministic: targets and workers sorted", () => {
  const a = busyState();
  const b = busyState();
  b.counters.targets = Object.fromEntries(Object.entries(a.counters.targets).reverse());
  b.workers = [...a.workers].reverse();
  expect(renderMetrics(b)).toBe(renderMetrics(a));
  const lines = renderMetrics(a).split("\n").filter((l) => l.startsWith("datum_connect_worker_restarts_total"));
  expect(lines).toEqual(['datum_connect_worker_restarts_total{worker="heartbeat"} 0', 'datum_connect_worker_restarts_total{worker="listen-node"} 2']);
});

test.each<[string, string]>([
  ["plain", "plain"],
  ['q"uote', 'q\\"uote'],
  ["back\\slash", "back\\\\slash"],
  ["line\nfeed", "line\\nfeed"],
  ['\\"\n', '\\\\\\"\\n'],
  ["tab\tstays", "tab\tstays"],
])("escapeLabelValue(%p)", (input, expected) => {
  expect(escapeLabelValue(input)).toBe(expected);
});

test.each<[number, string]>([
  [0, "0"],
  [-0, "0"],
  [42, "42"],
  [2.345, "2.345"],
  [1e21, "1e+21"],
  [Number.NaN, "NaN"],
  [Number.POSITIVE_INFINITY, "+Inf"],
  [Number.NEGATIVE_INFINITY, "-Inf"],
])("formatValue(%p)", (n, expected) => {
  expect(formatValue(n)).toBe(expected);
});

test.each<[string | null, string | null, string]>([
  ["web", "tunnel-abc", "web"],
  [null, "tunnel-abc", "tunnel-abc"],
  [null, null, ""],
])("tunnelLabel(name %p, id %p)", (name, tunnelId, expected) => {
  expect(tunnelLabel(freshState({ name, tunnelId }))).toBe(expected);
});

describe("a group (docs/groups.md)", () => {
  test("one info and one readiness series per service; the group is not ready while one service is not", () => {
    const e = parseExposition(renderMetrics(groupState()));
    expect(e.value("datum_connect_ready")).toBe(0);
    expect(e.value("datum_connect_service_ready", { service: "app" })).toBe(1);
    expect(e.value("datum_connect_service_ready", { service: "api" })).toBe(0);
    expect(e.value("datum_connect_service_ready", { service: "admin" })).toBe(1);
    expect(e.value("datum_connect_service_info", { service: "api", tunnel_id: "tunnel-api", endpoint: "http://127.0.0.1:8080" })).toBe(1);
    expect(e.value("datum_connect_info", { tunnel: "web-stack", project: "p-1", tunnel_id: "", endpoint_id: "e".repeat(64) })).toBe(1);
  });

  test("per-target series carry the service they count; a target of no service has no service label", () => {
    const e = parseExposition(renderMetrics(groupState()));
    const app = { tunnel: "web-stack", target: "127.0.0.1:3000", service: "app" };
    expect(e.value("datum_connect_requests_total", { ...app, outcome: "accepted" })).toBe(10);
    expect(e.value("datum_connect_bytes_total", { ...app, direction: "from_origin" })).toBe(2000);
    expect(e.value("datum_connect_requests_total", { tunnel: "web-stack", target: "127.0.0.1:8080", service: "api", outcome: "failed" })).toBe(2);
    // admin's endpoint is localhost:9000; the gateway asked for 127.0.0.1:9000.
    expect(e.value("datum_connect_active_requests", { tunnel: "web-stack", target: "127.0.0.1:9000", service: "admin" })).toBe(0);
    expect(e.value("datum_connect_requests_total", { tunnel: "web-stack", target: "localhost:22", outcome: "denied" })).toBe(3);
  });

  test("a single tunnel has no service series and no service label", () => {
    const text = renderMetrics(busyState());
    expect(text).not.toContain("service");
  });

  test("services are sorted: the same group renders the same text", () => {
    const a = groupState();
    const b = groupState();
    b.services = [...(a.services ?? [])].reverse();
    expect(renderMetrics(b)).toBe(renderMetrics(a));
  });
});
