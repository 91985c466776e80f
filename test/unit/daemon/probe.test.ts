import { describe, expect, test } from "bun:test";
import { probeVerdict, type ProbeFacts } from "../../../src/daemon/probe.ts";
import { Malformed } from "../../../src/errors.ts";

const ready = { ready: true, state: "ready", reason: "verified" } as const;

describe("probeVerdict (tunnel status --probe)", () => {
  const cases: [string, ProbeFacts | undefined, number | null, RegExp | null][] = [
    ["no such tunnel", undefined, 64, /has never run here/],
    ["never started", { running: false, readiness: undefined, runError: undefined, status: "never started" }, 64, /never run/],
    ["running and verified ready", { running: true, readiness: ready, runError: undefined, status: "ready" }, null, null],
    ["starting", { running: true, readiness: { ready: false, state: "starting", reason: "waiting for the edge" }, runError: undefined, status: "starting" }, 75, /not ready yet: waiting for the edge/],
    ["degraded", { running: true, readiness: { ready: false, state: "degraded", reason: "heartbeat failing" }, runError: undefined, status: "degraded" }, 69, /not ready: heartbeat failing/],
    ["stopping", { running: true, readiness: { ready: false, state: "stopping", reason: "stopping" }, runError: undefined, status: "stopping" }, 69, /not ready: stopping/],
    // A recorded "ready" from a process that is gone is not ready.
    ["dead with a stale ready record", { running: false, readiness: { ready: false, state: "dead", reason: "the process exited unexpectedly (not running)" }, runError: undefined, status: "dead" }, 64, /not running \(the process exited/],
    ["stopped", { running: false, readiness: { ready: false, state: "stopped", reason: "stopped" }, runError: undefined, status: "stopped" }, 64, /not running \(stopped\)/],
    ["run.json unreadable", { running: false, readiness: undefined, runError: new Malformed("run.json is not JSON"), status: "unknown" }, 65, /not JSON/],
  ];
  test.each(cases)("%s", (_label, facts, exit, message) => {
    const verdict = probeVerdict("web", facts);
    if (exit === null) {
      expect(verdict).toBeNull();
      return;
    }
    expect(verdict?.exit as number | undefined).toBe(exit);
    expect(verdict?.message).toMatch(message as RegExp);
  });
});
