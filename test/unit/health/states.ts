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

type Service = NonNullable<RunState["services"]>[number];

/** One service of a group as the group's recorder writes it: ready unless `over` says otherwise. */
export function service(name: string, over: Partial<Service> = {}): Service {
  const host = `${name}-host.example`;
  return {
    name,
    tunnelId: `tunnel-${name}`,
    label: `web-stack/${name}`,
    endpoint: "http://127.0.0.1:3000",
    hostnames: [host],
    publicUrls: [`https://${host}`],
    readyAt: "2025-01-02T03:04:07.000Z",
    setupMs: 1500,
    readiness: { ready: true, state: "ready", reason: "verified" },
    conditions: [],
    lastError: null,
    ...over,
  };
}

/**
 * A running group `web-stack` of three services — app (ready), api (origin down: degraded) and
 * admin (ready) — with traffic counted by target authority, as run.json holds it (docs/groups.md).
 */
export function groupState(): RunState {
  const s = busyState();
  s.name = "web-stack";
  s.tunnelId = null;
  s.label = null;
  s.endpoint = null;
  s.services = [
    service("app", { endpoint: "http://127.0.0.1:3000" }),
    service("api", {
      endpoint: "http://127.0.0.1:8080",
      readiness: { ready: false, state: "degraded", reason: "origin 127.0.0.1:8080 does not answer: connection refused" },
    }),
    service("admin", { endpoint: "http://localhost:9000" }),
  ];
  s.publicUrls = s.services.flatMap((x) => x.publicUrls);
  s.hostnames = s.services.flatMap((x) => x.hostnames);
  s.readiness = { ready: false, state: "degraded", reason: "api: origin 127.0.0.1:8080 does not answer: connection refused" };
  s.group = {
    file: "/state/tunnels/web-stack/group.yaml",
    source: "/srv/web/datum-tunnels.yaml",
    lastReload: { at: "2025-01-02T03:10:00.000Z", ok: true, message: null, added: ["admin"], removed: ["old"], deleted: [], changed: ["api"], seq: 1 },
  };
  s.counters.targets = {
    "127.0.0.1:3000": target({ accepted: 10, completed: 9, failed: 1, bytesToOrigin: 100, bytesFromOrigin: 2000 }),
    "127.0.0.1:8080": target({ accepted: 2, failed: 2 }),
    "127.0.0.1:9000": target({ accepted: 4, completed: 4 }),
    "localhost:22": target({ denied: 3 }),
  };
  return s;
}
