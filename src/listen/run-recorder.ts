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
import { emptyRunState, writeRunState, type RunError, type RunState } from "../state/run-state.ts";
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

  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(
    path: string,
    init: { name: string | null; project: string; health: string | null; env?: Readonly<Record<string, string | undefined>> },
  ) {
    this.#path = path;
    this.#env = init.env ?? {};
    this.#state = { ...emptyRunState({ pid: process.pid, startTime: processStartTime(process.pid), name: init.name, project: init.project }), health: init.health };
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

  /** The state with `patch` applied and its readiness verdict recomputed. */
  #apply(patch: Partial<RunState>): RunState {
    const now = Date.now();
    const next = { ...this.#state, ...patch, updatedAt: new Date(now).toISOString() };
    const readiness = assessReadiness(next, now);
    const before = this.#state;
    if (before.phase === "ready" && next.phase === "ready" && before.readiness.ready !== readiness.ready && next.tunnelId) {
      const id = next.tunnelId;
      // After the event that caused it has been handed on, so the sinks hear cause before effect.
      queueMicrotask(() => this.#publish?.({ type: "readiness_changed", id, readiness }));
    }
    return { ...next, readiness };
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
   * Record one event. Returns, for `ready`, the write of the file that says so (the bus holds the
   * other sinks until then); for the rest nothing to wait for.
   */
  record(e: ListenEvent): Promise<void> | undefined {
    switch (e.type) {
      case "endpoint_id":
        this.#update({ endpointId: e.endpointId });
        return;
      case "tunnel":
        this.#update({ tunnelId: e.tunnel.id, label: e.tunnel.label, endpoint: e.tunnel.endpoint });
        return;
      case "setting_up":
        this.#started = performance.now();
        this.#update({});
        return;
      case "progress":
        this.#update({
          hostnames: e.progress.hostnames,
          // The URL as the verifier will probe it (the local Datum's edge adds its port), not a guess.
          publicUrls: e.progress.hostnames.map((h) => publicUrl(h, this.#env)),
          conditions: conditionsOf(e.progress),
        });
        return;
      case "verifying":
        this.#update({});
        return;
      case "ready": {
        this.#update({
          phase: "ready",
          hostnames: e.tunnel.hostnames,
          publicUrls: [...e.urls],
          readyAt: new Date().toISOString(),
          setupMs: Math.round(performance.now() - this.#started),
          // The first runtime poll starts from what verification saw.
          watch: { lastPollAt: null, failures: 0, lastError: null, advertised: true },
        });
        // Fold the live figures in first (endpoint, port, workers), so the file that says "ready" is whole.
        return (this.#fold ? this.#fold() : Promise.resolve()).then(() => this.flush());
      }
      case "watched": {
        // A runtime-watch poll: the tunnel's objects as read now, or a failed read (control plane).
        const at = new Date().toISOString();
        const w = this.#state.watch ?? { lastPollAt: null, failures: 0, lastError: null, advertised: null };
        if (e.poll.ok) {
          this.#update({
            hostnames: e.poll.progress.hostnames,
            conditions: conditionsOf(e.poll.progress),
            watch: { lastPollAt: at, failures: 0, lastError: null, advertised: e.poll.progress.advertised ?? w.advertised },
          });
        } else {
          this.#update({ watch: { ...w, failures: w.failures + 1, lastError: { message: e.poll.message, at } } });
        }
        return;
      }
      case "path_checked":
        this.#update({ pathCheck: { ok: e.check.ok, after: e.check.after, reason: e.check.reason, at: new Date().toISOString() } });
        return;
      case "ended":
        this.#update({
          phase: "stopping",
          lastError: {
            message: e.kind === "deleted_upstream" ? `tunnel ${e.id} was deleted upstream` : "terminal failure: the tunnel is no longer reachable from the edge",
            exit: 64,
            at: new Date().toISOString(),
          },
        });
        return;
      case "disabling":
        this.#update({ phase: "stopping" });
        return;
      case "disable_failed":
        this.#update({ disableError: { message: e.message, at: new Date().toISOString(), ...(e.exit !== undefined ? { exit: e.exit } : {}) } });
        return;
      case "poll_failed":
      case "probe_attempt":
      case "probed":
      case "notice":
      case "readiness_changed":
      case "disabled":
      case "closing":
        return; // shown by the views; nothing in run.json changes
      default: {
        const unknown: never = e;
        throw new Error(`unhandled listen event ${JSON.stringify(unknown)}`);
      }
    }
  }
}
