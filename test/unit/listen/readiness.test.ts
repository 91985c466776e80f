/**
 * The one readiness verdict (src/listen/readiness.ts) as a table: recorded facts in, verdict out;
 * and what `ps`/`status` make of a recorded verdict once its process is gone.
 */
import { describe, expect, test } from "bun:test";
import { assessReadiness, EXITED_UNEXPECTEDLY, observedReadiness, type ReadinessFacts } from "../../../src/listen/readiness.ts";
import { emptyRunState, type RunState } from "../../../src/state/run-state.ts";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

const READY_STEPS = ["proxy_accepted", "certificates_ready", "connector_ready", "iroh_dns_published", "proxy_programmed"].map((step) => ({
  step,
  status: "ready",
  reason: null,
  message: null,
  resource: null,
}));
const OPTIONAL_ABSENT = { step: "connector_metadata_programmed", status: "unknown", reason: null, message: null, resource: null };

function facts(patch: Partial<RunState>): ReadinessFacts {
  const base = emptyRunState({ pid: 1, startTime: undefined, name: "t", project: "p" });
  return { ...base, tunnelId: "tunnel-abc", ...patch };
}

const verified: Partial<RunState> = {
  phase: "ready",
  conditions: [...READY_STEPS, OPTIONAL_ABSENT],
  heartbeat: { connector: "c", lastRenewalAt: ago(5), renewals: 3, failures: 0, lastError: null, leaseDurationS: 30 },
  watch: { lastPollAt: ago(2), failures: 0, lastError: null, advertised: true },
};

const cases: { name: string; patch: Partial<RunState>; ready: boolean; state: string; reason: RegExp }[] = [
  { name: "nothing resolved yet", patch: { tunnelId: null }, ready: false, state: "starting", reason: /^starting$/ },
  { name: "tunnel resolved, no progress yet", patch: {}, ready: false, state: "starting", reason: /^setting up$/ },
  {
    name: "setup waits on a step",
    patch: { conditions: [{ step: "proxy_accepted", status: "ready", reason: null, message: null, resource: null }, { step: "certificates_ready", status: "pending", reason: null, message: null, resource: null }] },
    ready: false,
    state: "starting",
    reason: /^waiting for TLS certificate issued$/,
  },
  { name: "all steps ready, not verified", patch: { conditions: [...READY_STEPS, OPTIONAL_ABSENT] }, ready: false, state: "starting", reason: /verifying the public URL/ },
  { name: "verified, all current", patch: verified, ready: true, state: "ready", reason: /^verified$/ },
  { name: "verified, no watch poll yet", patch: { ...verified, watch: undefined }, ready: true, state: "ready", reason: /^verified$/ },
  {
    name: "advertisement gone (disabled elsewhere)",
    patch: { ...verified, watch: { lastPollAt: ago(1), failures: 0, lastError: null, advertised: false } },
    ready: false,
    state: "degraded",
    reason: /disabled.*ConnectorAdvertisement/,
  },
  {
    name: "control plane unreachable",
    patch: { ...verified, watch: { lastPollAt: ago(20), failures: 2, lastError: { message: "connection refused", at: ago(1) }, advertised: true } },
    ready: false,
    state: "degraded",
    reason: /control plane unreachable \(2 failed polls in a row\): connection refused/,
  },
  {
    name: "a step regressed at runtime",
    patch: { ...verified, conditions: [...READY_STEPS.slice(0, 2), { step: "connector_ready", status: "pending", reason: "LeaseExpired", message: null, resource: null }] },
    ready: false,
    state: "degraded",
    reason: /^connector ready is pending \(LeaseExpired\)$/,
  },
  {
    name: "lease not renewed for longer than its duration",
    patch: { ...verified, heartbeat: { connector: "c", lastRenewalAt: ago(45), renewals: 3, failures: 4, lastError: { message: "renew: 503", at: ago(1) }, leaseDurationS: 30 } },
    ready: false,
    state: "degraded",
    reason: /^lease not renewed for 45s: renew: 503$/,
  },
  {
    name: "lease within its duration",
    patch: { ...verified, heartbeat: { connector: "c", lastRenewalAt: ago(25), renewals: 3, failures: 1, lastError: null, leaseDurationS: 30 } },
    ready: true,
    state: "ready",
    reason: /^verified$/,
  },
  {
    name: "the public URL fails after a path-breaking event",
    patch: { ...verified, pathCheck: { ok: false, after: "the addresses changed", reason: "HTTP 504", at: ago(1) } },
    ready: false,
    state: "degraded",
    reason: /^the public URL fails after the addresses changed: HTTP 504$/,
  },
  {
    name: "the public URL answers again after the event",
    patch: { ...verified, pathCheck: { ok: true, after: "the addresses changed", reason: null, at: ago(1) } },
    ready: true,
    state: "ready",
    reason: /^verified$/,
  },
  {
    name: "a lapsed lease is the more specific reason than the failing URL",
    patch: {
      ...verified,
      heartbeat: { connector: "c", lastRenewalAt: ago(45), renewals: 3, failures: 4, lastError: null, leaseDurationS: 30 },
      pathCheck: { ok: false, after: "the lease was lost and regained", reason: "HTTP 503", at: ago(1) },
    },
    ready: false,
    state: "degraded",
    reason: /^lease not renewed for 45s$/,
  },
  { name: "stopping", patch: { ...verified, phase: "stopping" }, ready: false, state: "stopping", reason: /^stopping$/ },
  { name: "stopped", patch: { ...verified, phase: "stopped" }, ready: false, state: "stopped", reason: /^stopped$/ },
  {
    name: "failed with its error",
    patch: { phase: "failed", lastError: { message: "tunnel tunnel-abc was deleted upstream", exit: 64, at: ago(1) } },
    ready: false,
    state: "failed",
    reason: /deleted upstream/,
  },
];

describe("assessReadiness", () => {
  for (const c of cases) {
    test(c.name, () => {
      const r = assessReadiness(facts(c.patch), NOW);
      expect({ ready: r.ready, state: r.state as string }).toEqual({ ready: c.ready, state: c.state });
      expect(r.reason).toMatch(c.reason);
    });
  }
});

describe("observedReadiness", () => {
  const recorded = (patch: Partial<RunState>): RunState => ({ ...emptyRunState({ pid: 1, startTime: undefined, name: "t", project: "p" }), ...patch });
  const readyRun = recorded({ phase: "ready", readiness: { ready: true, reason: "verified", state: "ready" } });

  test("running: the recorded verdict", () => {
    expect(observedReadiness(readyRun, true)).toEqual({ ready: true, state: "ready", reason: "verified" });
  });
  test("running, a file without `state`: derived from the phase", () => {
    expect(observedReadiness(recorded({ phase: "ready", readiness: { ready: false, reason: "x" } }), true).state).toBe("degraded");
  });
  test("gone without a word (kill -9): dead, never ready, with a last error", () => {
    expect(observedReadiness(readyRun, false)).toEqual({ ready: false, state: "dead", reason: EXITED_UNEXPECTEDLY });
  });
  test("gone after a clean stop", () => {
    expect(observedReadiness(recorded({ phase: "stopped" }), false)).toEqual({ ready: false, state: "stopped", reason: "stopped" });
  });
  test("gone after a failure: its error", () => {
    const run = recorded({ phase: "failed", lastError: { message: "boom", exit: 69, at: ago(1) } });
    expect(observedReadiness(run, false)).toEqual({ ready: false, state: "failed", reason: "boom" });
  });
});
