/**
 * A group's verdicts (docs/groups.md#readiness): each service's over the single tunnel's, and the
 * group's over its services', as tables of cases.
 */
import { describe, expect, test } from "bun:test";
import { groupReadiness, serviceReadiness } from "../../../src/group/readiness.ts";
import { emptyRunState, type RunState } from "../../../src/state/run-state.ts";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const heartbeat: RunState["heartbeat"] = { connector: "c", lastRenewalAt: new Date(NOW - 5_000).toISOString(), renewals: 3, failures: 0, lastError: null, leaseDurationS: 30 };
const ready = { step: "tunnel_accepted", status: "ready", reason: null, message: null, resource: null };

function svc(patch: Partial<RunState>): RunState {
  return { ...emptyRunState({ pid: 1, startTime: undefined, name: "app", project: "p" }), tunnelId: "tunnel-a", ...patch };
}

describe("serviceReadiness", () => {
  test.each([
    ["setting up", svc({ conditions: [] }), null, { ready: false, state: "starting", reason: "setting up" }],
    ["verifying, origin fine", svc({ conditions: [ready] }), null, { ready: false, state: "starting", reason: "verifying the public URL" }],
    ["verifying, origin down", svc({ conditions: [ready] }), "origin http://127.0.0.1:3000 does not answer: ECONNREFUSED", { ready: false, state: "degraded", reason: "origin http://127.0.0.1:3000 does not answer: ECONNREFUSED" }],
    [
      "setup's verification ran out",
      svc({ conditions: [ready], pathCheck: { ok: false, after: "setup", reason: "HTTP 502", at: new Date(NOW).toISOString() } }),
      null,
      { ready: false, state: "degraded", reason: "the public URL does not answer: HTTP 502" },
    ],
    ["verified", svc({ phase: "ready", conditions: [ready] }), null, { ready: true, state: "ready", reason: "verified" }],
    ["verified, origin said down earlier (the probe's word is history once ready)", svc({ phase: "ready", conditions: [ready] }), "origin x does not answer: y", { ready: true, state: "ready", reason: "verified" }],
    ["removed by a reload", svc({ phase: "stopped" }), null, { ready: false, state: "stopped", reason: "disabled" }],
    [
      "ended upstream",
      svc({ phase: "failed", lastError: { message: "tunnel tunnel-a was deleted upstream", exit: 64, at: new Date(NOW).toISOString() } }),
      null,
      { ready: false, state: "failed", reason: "tunnel tunnel-a was deleted upstream" },
    ],
  ] as const)("%s", (_what, state, originDown, verdict) => {
    expect(serviceReadiness(state, heartbeat, originDown, NOW)).toEqual(verdict);
  });

  test("the lease is the agent's: a stale one degrades every verified service", () => {
    const stale = { ...heartbeat, lastRenewalAt: new Date(NOW - 60_000).toISOString() };
    expect(serviceReadiness(svc({ phase: "ready", conditions: [ready] }), stale, null, NOW)).toMatchObject({ ready: false, state: "degraded" });
  });
});

describe("groupReadiness", () => {
  const ok = { ready: true, state: "ready", reason: "verified" } as const;
  const down = { ready: false, state: "degraded", reason: "origin x does not answer: y" } as const;
  test.each([
    ["starting: how many are verified", "starting", [{ name: "a", readiness: ok }, { name: "b", readiness: down }], { ready: false, state: "starting", reason: "1 of 2 services verified" }],
    ["settled, all verified", "ready", [{ name: "a", readiness: ok }, { name: "b", readiness: ok }], { ready: true, state: "ready", reason: "verified" }],
    ["settled, one degraded: named, with its reason", "ready", [{ name: "a", readiness: ok }, { name: "b", readiness: down }], { ready: false, state: "degraded", reason: "b: origin x does not answer: y" }],
    ["stopping", "stopping", [{ name: "a", readiness: ok }], { ready: false, state: "stopping", reason: "stopping" }],
    ["stopped", "stopped", [], { ready: false, state: "stopped", reason: "stopped" }],
  ] as const)("%s", (_what, phase, services, verdict) => {
    expect(groupReadiness(phase, null, services)).toEqual(verdict);
  });

  test("failed: the process's own error", () => {
    expect(groupReadiness("failed", { message: "Quota limit exceeded", exit: 64, at: "t" }, [])).toEqual({ ready: false, state: "failed", reason: "Quota limit exceeded" });
  });
});
