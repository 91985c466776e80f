/**
 * Keeps `run.json` true (events in, state out). It sits between the listen
 * session and its reporter: every event the user sees also updates the `RunState`, and every few
 * seconds the session's live figures (token, heartbeat, workers, counters) are folded in. The
 * file is rewritten atomically on each change and on that tick, never more than a few times a
 * second; `ps`, `status`, the `--detach` parent and `/readyz` all read this one state.
 *
 * Readiness is never set here by hand: on every change the recorder asks `assessReadiness`
 * (readiness.ts) for the verdict over the state it now holds, and records that.
 */
import { emptyRunState, writeRunState, type RunError, type RunState, type ServiceRecord } from "../state/run-state.ts";
import { groupReadiness, serviceReadiness } from "../group/readiness.ts";
import { processStartTime } from "../state/process-identity.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import type { ListenEvent } from "./events.ts";
import { publicUrl } from "./lines.ts";
import { assessReadiness, type Readiness } from "./readiness.ts";

export type { PathCheck, WatchPoll } from "./events.ts";

/** How often the live figures are folded in and the file rewritten while nothing else happens. */
export const RUN_STATE_TICK_MS = 5_000;
/** Coalesce bursts of events into one write. */
const WRITE_DEBOUNCE_MS = 100;

/** What the session can tell about itself at any moment (see `ListenSession.liveFigures`). */
export interface LiveFigures {
  readonly auth: RunState["auth"];
  readonly heartbeat: RunState["heartbeat"];
  readonly workers: RunState["workers"];
  readonly counters?: RunState["counters"];
  readonly endpoint?: { endpointId: string; boundPort: number; addresses: readonly { address: string; port: number }[]; homeRelay: string | null };
}

function conditionsOf(progress: TunnelProgress): RunState["conditions"] {
  return progress.steps.map((s) => ({ step: s.step, status: s.status, reason: s.reason ?? null, message: s.message ?? null, resource: s.resource ?? null }));
}

/**
 * The `run.json` sink of the listen's events: it records each one (`record`, called first by the
 * event bus, events.ts) and publishes the one event it derives itself, a change of readiness.
 */
export class RunRecorder {
  readonly #path: string;
  #state: RunState;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #started = performance.now();
  /** Where the readiness changes it decides go (the event bus). */
  #publish: ((event: ListenEvent) => void) | undefined;
  #fold: (() => Promise<void>) | undefined;
  /** A group's services (docs/groups.md): names in file order, each one's own record. */
  #members: string[] = [];
  readonly #services = new Map<string, RunState>();
  readonly #serviceStarted = new Map<string, number>();
  /** Why a service's origin did not answer its probe (null once it does). */
  readonly #originDown = new Map<string, string | null>();

  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(
    path: string,
    init: {
      name: string | null;
      project: string;
      health: string | null;
      env?: Readonly<Record<string, string | undefined>>;
      /** A group (docs/groups.md): its file; its services come with the `group` event. */
      group?: { file: string; source: string | null } | undefined;
    },
  ) {
    this.#path = path;
    this.#env = init.env ?? {};
    this.#state = {
      ...emptyRunState({ pid: process.pid, startTime: processStartTime(process.pid), name: init.name, project: init.project }),
      health: init.health,
      ...(init.group ? { services: [], group: { file: init.group.file, source: init.group.source, lastReload: null } } : {}),
    };
  }

  state(): RunState {
    return this.#state;
  }

  /** Publish the readiness changes this recorder decides to `sink` (the bus the session reports to). */
  publishTo(sink: (event: ListenEvent) => void): void {
    this.#publish = sink;
  }

  /** Fold live figures in now and then every tick, until `close()`. */
  follow(live: () => Promise<LiveFigures>): void {
    const fold = async () => {
      try {
        const f = await live();
        this.#update({
          auth: f.auth,
          heartbeat: f.heartbeat,
          workers: f.workers,
          ...(f.counters ? { counters: f.counters } : {}),
          ...(f.endpoint
            ? { endpointId: f.endpoint.endpointId, boundPort: f.endpoint.boundPort, addresses: [...f.endpoint.addresses], homeRelay: f.endpoint.homeRelay }
            : {}),
        });
      } catch {
        // A figure that cannot be read this tick (a worker restarting) is read on the next one.
      }
    };
    this.#fold = fold;
    void fold();
    this.#tick = setInterval(fold, RUN_STATE_TICK_MS);
    this.#tick.unref?.();
  }

  /** A group's service records, each with its verdict at `now` (the lease's freshness is time's). */
  #serviceRecords(heartbeat: RunState["heartbeat"], now: number): (ServiceRecord & { readiness: Readiness })[] {
    return this.#members.flatMap((name) => {
      const s = this.#services.get(name);
      if (!s) return [];
      const readiness = serviceReadiness(s, heartbeat, this.#originDown.get(name) ?? null, now);
      return [{
        name,
        tunnelId: s.tunnelId,
        label: s.label,
        endpoint: s.endpoint,
        hostnames: s.hostnames,
        publicUrls: s.publicUrls,
        readyAt: s.readyAt,
        setupMs: s.setupMs,
        readiness,
        conditions: s.conditions,
        lastError: s.lastError ? { message: s.lastError.message, at: s.lastError.at } : null,
      }];
    });
  }

  /** The state with `patch` applied and its readiness verdict recomputed. */
  #apply(patch: Partial<RunState>): RunState {
    const now = Date.now();
    const merged = { ...this.#state, ...patch, updatedAt: new Date(now).toISOString() };
    const before = this.#state;
    if (merged.services !== undefined) return this.#applyGroup(before, merged, now);
    const next = merged;
    const readiness = assessReadiness(next, now);
    if (before.phase === "ready" && next.phase === "ready" && before.readiness.ready !== readiness.ready && next.tunnelId) {
      const id = next.tunnelId;
      // After the event that caused it has been handed on, so the sinks hear cause before effect.
      queueMicrotask(() => this.#publish?.({ type: "readiness_changed", id, readiness }));
    }
    return { ...next, readiness };
  }

  /** A group: every service's verdict, the group's over them, and the changes told to the views. */
  #applyGroup(before: RunState, merged: RunState, now: number): RunState {
    const services = this.#serviceRecords(merged.heartbeat, now);
    const readiness = groupReadiness(merged.phase, merged.lastError, services);
    if (before.phase === "ready" && merged.phase === "ready") {
      const earlier = new Map((before.services ?? []).map((s) => [s.name, s]));
      for (const s of services) {
        const was = earlier.get(s.name);
        // A service's verdict flipped after the group settled: told with the service's name.
        // Only between verified and degraded: a service starting (added by a reload) or stopping
        // (removed by one) says so in its own events.
        const settledStates = new Set(["ready", "degraded"]);
        if (was && was.readiness.ready !== s.readiness.ready && s.tunnelId && settledStates.has(was.readiness.state ?? "") && settledStates.has(s.readiness.state)) {
          const id = s.tunnelId;
          queueMicrotask(() => this.#publish?.({ type: "readiness_changed", id, readiness: s.readiness as Readiness, service: s.name }));
        }
      }
      if (before.readiness.ready !== readiness.ready) {
        queueMicrotask(() => this.#publish?.({ type: "readiness_changed", id: merged.name ?? "", readiness }));
      }
    }
    return {
      ...merged,
      services,
      publicUrls: services.flatMap((s) => s.publicUrls),
      hostnames: services.flatMap((s) => s.hostnames),
      conditions: [],
      readiness,
    };
  }

  /** The verdict as recorded now (what `/readyz` answers). */
  readiness(): Readiness {
    return this.#state.readiness as Readiness;
  }

  #update(patch: Partial<RunState>): void {
    this.#state = this.#apply(patch);
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, WRITE_DEBOUNCE_MS);
  }

  /** Write the current state now (serialized with any write in progress). */
  flush(): Promise<void> {
    const snapshot = this.#state;
    this.#writing = this.#writing.then(() => writeRunState(this.#path, snapshot)).catch(() => undefined);
    return this.#writing;
  }

  /** The process is about to exit: record how, and write it before the parent looks. */
  async finish(phase: "stopped" | "failed", exitCode: number, error?: RunError): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#tick) clearInterval(this.#tick);
    // A runtime end (`ended`) already recorded the real reason; keep it over the generic one.
    this.#state = this.#apply({ phase, exitCode, lastError: this.#state.lastError ?? error ?? null });
    await this.flush();
  }

  // ---- events in, state out ----

  /**
   * Record one event. Returns, for `ready` (and a group's `settled`), the write of the file that
   * says so (the bus holds the other sinks until then); for the rest nothing to wait for.
   */
  record(e: ListenEvent): Promise<void> | undefined {
    if (e.service !== undefined) {
      this.#recordService(e.service, e);
      return;
    }
    switch (e.type) {
      case "group":
        this.#members = e.members.map((m) => m.name);
        for (const m of e.members) {
          if (!this.#services.has(m.name)) {
            this.#services.set(m.name, { ...emptyRunState({ pid: this.#state.pid, startTime: undefined, name: m.name, project: this.#state.project }), endpoint: m.endpoint, label: m.label });
          }
        }
        for (const name of [...this.#services.keys()]) if (!this.#members.includes(name)) this.#services.delete(name);
        this.#started = this.#state.phase === "starting" ? performance.now() : this.#started;
        this.#update({});
        return;
      case "settled":
        this.#update({ phase: "ready", readyAt: new Date().toISOString(), setupMs: Math.round(performance.now() - this.#started) });
        return (this.#fold ? this.#fold() : Promise.resolve()).then(() => this.flush());
      case "reloaded":
      case "reload_rejected": {
        const g = this.#state.group;
        if (!g) return;
        const seq = (g.lastReload?.seq ?? 0) + 1;
        const at = new Date().toISOString();
        const lastReload =
          e.type === "reloaded"
            ? { at, ok: true, message: null, added: [...e.summary.added], removed: [...e.summary.removed], deleted: [...e.summary.deleted], changed: [...e.summary.changed], seq }
            : { at, ok: false, message: e.message, added: [], removed: [], deleted: [], changed: [], seq };
        this.#update({ group: { ...g, lastReload } });
        // `tunnel reload` waits for this answer: written now, not at the next debounce.
        return this.flush();
      }
      default: {
        const { patch, whole } = this.#patchFor(this.#state, e, this.#startedOf);
        this.#update(patch);
        // Fold the live figures in first (endpoint, port, workers), so the file that says "ready" is whole.
        if (whole) return (this.#fold ? this.#fold() : Promise.resolve()).then(() => this.flush());
        return;
      }
    }
  }

  /** The process's own time of `setting_up` (a single tunnel) or of the group's start. */
  readonly #startedOf = {
    get: (): number => this.#started,
    set: (at: number): void => {
      this.#started = at;
    },
  };

  /** A group's service: its own record, then the group's state (whose readiness is made of the services'). */
  #recordService(name: string, e: ListenEvent): void {
    const current = this.#services.get(name);
    if (!current) return; // a service the group no longer has
    const started = this.#serviceStarted.get(name) ?? this.#started;
    const clock = { get: () => started, set: (at: number) => void this.#serviceStarted.set(name, at) };
    if (e.type === "probed" && e.target === "origin") {
      const why = e.result.status !== null ? `HTTP ${e.result.status}` : (e.result.error ?? "no answer");
      this.#originDown.set(name, e.result.up ? null : `origin ${current.endpoint ?? ""} does not answer: ${why}`);
    }
    if (e.type === "ready") this.#originDown.set(name, null);
    let { patch } = this.#patchFor(current, e, clock);
    // In a group one service ending (deleted upstream, terminal failure) ends that service only.
    if (e.type === "ended") patch = { ...patch, phase: "failed" };
    if (e.type === "disabled") patch = { phase: "stopped" };
    this.#services.set(name, { ...current, ...patch });
    // A service left enabled is the group's to report: `tunnel stop` exits 69/77 for it.
    if (e.type === "disable_failed") {
      this.#update({ disableError: { message: `${name}: ${e.message}`, at: new Date().toISOString(), id: e.id, ...(e.exit !== undefined ? { exit: e.exit } : {}) } });
      return;
    }
    this.#update({});
  }

  /** The state change one event makes to `state` (a process's, or a group service's); `whole`: write it now. */
  #patchFor(state: RunState, e: ListenEvent, started: { get(): number; set(at: number): void }): { patch: Partial<RunState>; whole?: boolean } {
    switch (e.type) {
      case "endpoint_id":
        return { patch: { endpointId: e.endpointId } };
      case "tunnel":
        return { patch: { tunnelId: e.tunnel.id, label: e.tunnel.label, endpoint: e.tunnel.endpoint } };
      case "setting_up":
        started.set(performance.now());
        return { patch: {} };
      case "progress":
        return {
          patch: {
            hostnames: e.progress.hostnames,
            // The URL as the verifier will probe it (the local Datum's edge adds its port), not a guess.
            publicUrls: e.progress.hostnames.map((h) => publicUrl(h, this.#env)),
            conditions: conditionsOf(e.progress),
          },
        };
      case "verifying":
        return { patch: {} };
      case "ready":
        return {
          patch: {
            phase: "ready",
            hostnames: e.tunnel.hostnames,
            publicUrls: [...e.urls],
            readyAt: new Date().toISOString(),
            setupMs: Math.round(performance.now() - started.get()),
            // The first runtime poll starts from what verification saw.
            watch: { lastPollAt: null, failures: 0, lastError: null, advertised: true },
          },
          whole: true,
        };
      case "watched": {
        // A runtime-watch poll: the tunnel's objects as read now, or a failed read (control plane).
        const at = new Date().toISOString();
        const w = state.watch ?? { lastPollAt: null, failures: 0, lastError: null, advertised: null };
        if (e.poll.ok) {
          return {
            patch: {
              hostnames: e.poll.progress.hostnames,
              conditions: conditionsOf(e.poll.progress),
              watch: { lastPollAt: at, failures: 0, lastError: null, advertised: e.poll.progress.advertised ?? w.advertised },
            },
          };
        }
        return { patch: { watch: { ...w, failures: w.failures + 1, lastError: { message: e.poll.message, at } } } };
      }
      case "path_checked":
        return { patch: { pathCheck: { ok: e.check.ok, after: e.check.after, reason: e.check.reason, at: new Date().toISOString() } } };
      case "ended":
        return {
          patch: {
            phase: "stopping",
            lastError: {
              message:
                e.kind === "deleted_upstream"
                  ? `tunnel ${e.id} was deleted upstream`
                  : e.kind === "start_failed"
                    ? e.message
                    : "terminal failure: the tunnel is no longer reachable from the edge",
              exit: 64,
              at: new Date().toISOString(),
            },
          },
        };
      case "disabling":
        return { patch: { phase: "stopping" } };
      case "disable_failed":
        return { patch: { disableError: { message: e.message, at: new Date().toISOString(), ...(e.exit !== undefined ? { exit: e.exit } : {}) } } };
      case "poll_failed":
      case "probe_attempt":
      case "probed":
      case "notice":
      case "readiness_changed":
      case "disabled":
      case "closing":
      case "group":
      case "settled":
      case "reloaded":
      case "reload_rejected":
        return { patch: {} }; // shown by the views; nothing in run.json changes
      default: {
        const unknown: never = e;
        throw new Error(`unhandled listen event ${JSON.stringify(unknown)}`);
      }
    }
  }
}
