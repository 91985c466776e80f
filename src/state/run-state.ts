/**
 * `run.json`: what a running tunnel says about itself (docs/architecture.md#local-state), written
 * atomically by the listen process on every state change and every few seconds, read by `ps`, `status`,
 * `stop`, the `--detach` parent and service status. It never holds a secret.
 *
 * The PID and the process start time identify the daemon: a reused PID is never mistaken for it.
 */
import * as v from "valibot";
import { Malformed } from "../errors.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { readTextIfExists } from "./read-optional.ts";
import { sameProcessRunning } from "./process-identity.ts";

const Num = v.number();
const Str = v.string();

export const RunPhase = v.picklist(["starting", "ready", "failed", "stopping", "stopped"]);
export type RunPhase = v.InferOutput<typeof RunPhase>;

export const RunError = v.object({
  message: Str,
  hint: v.optional(Str),
  /** The `--error-format json` envelope's `code` and `details`, so a `--detach` parent can relay them. */
  code: v.optional(Str),
  details: v.optional(Str),
  exit: Num,
  at: Str,
});
export type RunError = v.InferOutput<typeof RunError>;

export const WorkerSummary = v.object({
  name: Str,
  state: Str,
  restarts: Num,
  deaths: Num,
  lastDeath: v.nullable(v.object({ at: Str, reason: Str })),
});
export type WorkerSummary = v.InferOutput<typeof WorkerSummary>;

/** Loose: a counter a newer worker adds survives a read and a rewrite of run.json. */
export const TargetCountersDoc = v.looseObject({
  accepted: Num,
  denied: Num,
  completed: Num,
  failed: Num,
  bytesToOrigin: Num,
  bytesFromOrigin: Num,
  active: Num,
});

/** One tunnel's facts, in a single tunnel's `run.json` and in each service of a group's. */
const TunnelFields = {
  tunnelId: v.nullable(Str),
  label: v.nullable(Str),
  endpoint: v.nullable(Str),
  hostnames: v.array(Str),
  publicUrls: v.array(Str),
  readyAt: v.nullable(Str),
  /** Milliseconds from start to verified ready. */
  setupMs: v.nullable(Num),
};

const ReadinessDoc = v.object({
  ready: v.boolean(),
  reason: Str,
  state: v.optional(v.picklist(["starting", "ready", "degraded", "stopping", "stopped", "failed", "dead"])),
});

/**
 * One service of a group (docs/groups.md): its tunnel, where setup stands and its own readiness
 * verdict. The agent-level facts (identity, heartbeat, workers, counters) stay at the top of
 * `run.json`; `counters.targets` is keyed by the target the edge asked for (`host:port`), so a
 * service's traffic is found by its endpoint (src/health/target-services.ts).
 */
export const ServiceRecord = v.object({
  name: Str,
  ...TunnelFields,
  readiness: ReadinessDoc,
  conditions: v.array(v.object({ step: Str, status: Str, reason: v.nullable(Str), message: v.nullable(Str), resource: v.nullable(Str) })),
  /** Why the service stopped being served (deleted upstream, terminal failure), or null. */
  lastError: v.nullable(v.object({ message: Str, at: Str })),
});
export type ServiceRecord = v.InferOutput<typeof ServiceRecord>;

/** A group's file and its last reload (docs/groups.md#reload). */
export const GroupRecord = v.object({
  /** The copy of the group's file the process reads on reload (in the group's state directory). */
  file: Str,
  /** The file it was copied from, when known (`up -f FILE`, `install -f FILE`). */
  source: v.nullable(Str),
  lastReload: v.nullable(
    v.object({
      at: Str,
      ok: v.boolean(),
      message: v.nullable(Str),
      added: v.array(Str),
      removed: v.array(Str),
      deleted: v.array(Str),
      changed: v.array(Str),
      /** Counts reloads, so `tunnel reload` can tell its own answer from an older one. */
      seq: Num,
    }),
  ),
});
export type GroupRecord = v.InferOutput<typeof GroupRecord>;

export const RunState = v.object({
  version: v.literal(1),
  pid: Num,
  /** `/proc/<pid>/stat` start time (Linux); null where unknown. */
  startTime: v.nullable(Str),
  startedAt: Str,
  updatedAt: Str,
  phase: RunPhase,
  /** Named tunnel, or null for an unnamed project slot. */
  name: v.nullable(Str),
  project: Str,
  ...TunnelFields,
  endpointId: v.nullable(Str),
  boundPort: v.nullable(Num),
  addresses: v.array(v.object({ address: Str, port: Num })),
  homeRelay: v.nullable(Str),
  health: v.nullable(Str),
  /**
   * The readiness verdict (`src/listen/readiness.ts`), recorded on every change: `/readyz`,
   * `/metrics`, `ps` and `status` all answer from it. `state` is absent in files older than it.
   */
  readiness: ReadinessDoc,
  /** The runtime watch's last poll of the tunnel's objects (absent until the first one). */
  watch: v.optional(
    v.object({
      lastPollAt: v.nullable(Str),
      /** Failed polls in a row (0 after a good one). */
      failures: Num,
      lastError: v.nullable(v.object({ message: Str, at: Str })),
      /** The tunnel's ConnectorAdvertisement exists (false: disabled from elsewhere). */
      advertised: v.nullable(v.boolean()),
    }),
  ),
  /**
   * The public URL re-verified after an event that can break the path (addresses or relay changed,
   * lease lost and regained, a worker restarted, the tunnel's objects changed upstream): `ok`
   * false while it fails, with what failed (absent until the first such event).
   */
  pathCheck: v.optional(
    v.nullable(v.object({ ok: v.boolean(), after: Str, reason: v.nullable(Str), at: Str })),
  ),
  /**
   * Set when the tunnel could not be disabled on the way out: its advertisement may still be up.
   * `exit`: the failure's class as an exit code, so `tunnel stop` can exit with it (77 for a lost login).
   */
  disableError: v.optional(v.nullable(v.object({ message: Str, at: Str, exit: v.optional(v.number()), /** The tunnel left enabled (a group's service; else `tunnelId`). */ id: v.optional(Str) }))),
  auth: v.object({
    session: v.nullable(Str),
    lastRefreshAt: v.nullable(Str),
    expiresAt: v.nullable(Str),
    refreshes: v.object({ refreshed: Num, same_token: Num, refresh_failed: Num }),
    lastError: v.nullable(v.object({ message: Str, hint: v.optional(Str), at: Str })),
  }),
  heartbeat: v.object({
    connector: v.nullable(Str),
    lastRenewalAt: v.nullable(Str),
    renewals: Num,
    failures: Num,
    lastError: v.nullable(v.object({ message: Str, at: Str })),
    /** The Lease's duration as the heartbeat last read it. */
    leaseDurationS: v.optional(Num),
  }),
  conditions: v.array(v.object({ step: Str, status: Str, reason: v.nullable(Str), message: v.nullable(Str), resource: v.nullable(Str) })),
  counters: v.object({
    targets: v.record(Str, TargetCountersDoc),
    connectionsAccepted: Num,
    connectionsCompleted: Num,
    /** Live connections by the kind of their selected path: direct UDP or through the relay (absent in older files). */
    paths: v.optional(v.object({ direct: Num, relay: Num, none: Num })),
  }),
  workers: v.array(WorkerSummary),
  lastError: v.nullable(RunError),
  exitCode: v.nullable(Num),
  /** A group's services (absent for a single tunnel; docs/groups.md). */
  services: v.optional(v.array(ServiceRecord)),
  group: v.optional(GroupRecord),
});
export type RunState = v.InferOutput<typeof RunState>;

export function emptyRunState(init: { pid: number; startTime: string | undefined; name: string | null; project: string; now?: Date }): RunState {
  const at = (init.now ?? new Date()).toISOString();
  return {
    version: 1,
    pid: init.pid,
    startTime: init.startTime ?? null,
    startedAt: at,
    updatedAt: at,
    phase: "starting",
    name: init.name,
    project: init.project,
    tunnelId: null,
    label: null,
    endpoint: null,
    hostnames: [],
    publicUrls: [],
    readyAt: null,
    setupMs: null,
    endpointId: null,
    boundPort: null,
    addresses: [],
    homeRelay: null,
    health: null,
    readiness: { ready: false, reason: "starting", state: "starting" },
    auth: { session: null, lastRefreshAt: null, expiresAt: null, refreshes: { refreshed: 0, same_token: 0, refresh_failed: 0 }, lastError: null },
    heartbeat: { connector: null, lastRenewalAt: null, renewals: 0, failures: 0, lastError: null },
    conditions: [],
    counters: { targets: {}, connectionsAccepted: 0, connectionsCompleted: 0 },
    workers: [],
    lastError: null,
    exitCode: null,
  };
}

export function parseRunState(text: string, path: string): RunState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Malformed(`corrupt run state ${path}`, "stop the tunnel and start it again; the file is rewritten on start", String(err));
  }
  const parsed = v.safeParse(RunState, json);
  if (!parsed.success) {
    throw new Malformed(`corrupt run state ${path}`, "stop the tunnel and start it again; the file is rewritten on start", v.summarize(parsed.issues));
  }
  return parsed.output;
}

/** `undefined` when there is no file (never started). */
export async function readRunState(path: string): Promise<RunState | undefined> {
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : parseRunState(text, path);
}

export async function writeRunState(path: string, state: RunState): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`);
}

/** The process that wrote this state is still the one running. */
export function isRunning(state: RunState): boolean {
  return sameProcessRunning(state.pid, state.startTime ?? undefined);
}

export type LiveStatus = "starting" | "ready" | "degraded" | "stopping" | "stopped" | "failed" | "dead";

/**
 * What `ps` shows: the written phase while the process lives (`degraded` when it was ready and its
 * recorded readiness says it is not any more); once it is gone, `stopped` after a
 * clean stop, `failed` after a reported failure, and `dead` when it vanished without saying so
 * (`kill -9`, a crash, a reboot).
 */
export function liveStatus(state: RunState, running: boolean): LiveStatus {
  if (running) {
    if (state.phase === "stopped" || state.phase === "failed") return "stopping";
    // Verified once, not ready now (disabled elsewhere, control plane down, lease lapsed).
    if (state.phase === "ready" && !state.readiness.ready) return "degraded";
    return state.phase;
  }
  if (state.phase === "stopped") return "stopped";
  if (state.phase === "failed") return "failed";
  return "dead";
}
