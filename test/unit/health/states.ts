/** Run states for the health tests: a fresh one, and one with traffic, auth, heartbeat and workers. */
import { emptyRunState, type RunState } from "../../../src/state/run-state.ts";

export function freshState(overrides: Partial<RunState> = {}): RunState {
  return { ...emptyRunState({ pid: 4242, startTime: "123", name: "web", project: "p-1", now: new Date("2025-01-02T03:04:05.500Z") }), ...overrides };
}

export function target(c: Partial<RunState["counters"]["targets"][string]> = {}): RunState["counters"]["targets"][string] {
  return { accepted: 0, denied: 0, completed: 0, failed: 0, bytesToOrigin: 0, bytesFromOrigin: 0, active: 0, ...c };
}

export function busyState(): RunState {
  const s = freshState({
    phase: "ready",
    tunnelId: "tunnel-abc",
    endpointId: "e".repeat(64),
    setupMs: 2345,
    readiness: { ready: true, reason: "verified" },
    counters: {
      targets: {
        "127.0.0.1:3000": target({ accepted: 10, completed: 7, failed: 1, denied: 0, bytesToOrigin: 1234, bytesFromOrigin: 56789, active: 2 }),
        "localhost:22": target({ denied: 3 }),
      },
      connectionsAccepted: 5,
      connectionsCompleted: 4,
    },
    workers: [
      { name: "listen-node", state: "running", restarts: 2, deaths: 2, lastDeath: { at: "2025-01-02T03:05:00.000Z", reason: "exit 1" } },
      { name: "heartbeat", state: "running", restarts: 0, deaths: 0, lastDeath: null },
    ],
  });
  s.auth = { ...s.auth, refreshes: { refreshed: 3, same_token: 7, refresh_failed: 1 } };
  s.heartbeat = { ...s.heartbeat, renewals: 12, failures: 2 };
  return s;
}
