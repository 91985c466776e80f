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
import type { ProbeSummary, ProbeTarget } from "../../workers/messages.ts";
import { emptyRunState, writeRunState, type RunError, type RunState } from "../state/run-state.ts";
import { processStartTime } from "../state/process-identity.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import type { TunnelSummary } from "../tunnel/service.ts";
import { publicUrl } from "./lines.ts";
import { assessReadiness, type Readiness } from "./readiness.ts";
import type { ListenReporter, Resolution, RuntimeEnd } from "./reporter.ts";

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

/** One runtime-watch poll of the tunnel's objects: what it read, or why it failed. */
export type WatchPoll =
  | { readonly ok: true; readonly progress: TunnelProgress }
  | { readonly ok: false; readonly message: string };

/** The public URL re-verified after `after` (an event that can break the path): up, or why not. */
export interface PathCheck {
  readonly ok: boolean;
  readonly after: string;
  readonly reason: string | null;
}

function conditionsOf(progress: TunnelProgress): RunState["conditions"] {
  return progress.steps.map((s) => ({ step: s.step, status: s.status, reason: s.reason ?? null, message: s.message ?? null, resource: s.resource ?? null }));
}

export class RunRecorder implements ListenReporter {
  readonly #path: string;
  readonly #inner: ListenReporter;
  #state: RunState;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #started = performance.now();
  /**
   * Calls to the inner reporter, in order. Everything after `ready` waits for run.json to say
   * ready, so the ready line, READY=1 to a service manager and the file a `--detach` parent or
   * `ps` reads never disagree.
   */
  #chain: Promise<void> = Promise.resolve();
  #fold: (() => Promise<void>) | undefined;

  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(
    path: string,
    inner: ListenReporter,
    init: { name: string | null; project: string; health: string | null; env?: Readonly<Record<string, string | undefined>> },
  ) {
    this.#path = path;
    this.#inner = inner;
    this.#env = init.env ?? {};
    this.#state = { ...emptyRunState({ pid: process.pid, startTime: processStartTime(process.pid), name: init.name, project: init.project }), health: init.health };
  }

  state(): RunState {
    return this.#state;
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
      this.#pass((r) => r.readinessChanged(id, readiness));
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

  #pass(call: (inner: ListenReporter) => void): void {
    this.#chain = this.#chain.then(() => call(this.#inner)).catch(() => undefined);
  }

  /** The process is about to exit: record how, and write it before the parent looks. */
  async finish(phase: "stopped" | "failed", exitCode: number, error?: RunError): Promise<void> {
    await this.#chain;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#tick) clearInterval(this.#tick);
    // A runtime end (`ended`) already recorded the real reason; keep it over the generic one.
    this.#state = this.#apply({ phase, exitCode, lastError: this.#state.lastError ?? error ?? null });
    await this.flush();
  }

  // ---- ListenReporter: record, then pass on ----

  endpointId(id: string): void {
    this.#update({ endpointId: id });
    this.#pass((r) => r.endpointId(id));
  }

  tunnel(kind: Resolution, t: TunnelSummary): void {
    this.#update({ tunnelId: t.id, label: t.label, endpoint: t.endpoint });
    this.#pass((r) => r.tunnel(kind, t));
  }

  settingUp(): void {
    this.#started = performance.now();
    this.#update({});
    this.#pass((r) => r.settingUp());
  }

  progress(progress: TunnelProgress, elapsedMs: number): void {
    this.#update({
      hostnames: progress.hostnames,
      // The URL as the verifier will probe it (the local Datum's edge adds its port), not a guess.
      publicUrls: progress.hostnames.map((h) => publicUrl(h, this.#env)),
      conditions: conditionsOf(progress),
    });
    this.#pass((r) => r.progress(progress, elapsedMs));
  }

  pollFailed(message: string, consecutive: number): void {
    this.#pass((r) => r.pollFailed(message, consecutive));
  }

  verifying(): void {
    this.#update({});
    this.#pass((r) => r.verifying());
  }

  probeAttempt(target: ProbeTarget, url: string, elapsedMs: number, status: number | null, error: string | null): void {
    this.#pass((r) => r.probeAttempt(target, url, elapsedMs, status, error));
  }

  probed(target: ProbeTarget, result: ProbeSummary): void {
    this.#pass((r) => r.probed(target, result));
  }

  ready(t: TunnelSummary, urls: readonly string[], endpointId: string, elapsedMs: number): void {
    this.#update({
      phase: "ready",
      hostnames: t.hostnames,
      publicUrls: [...urls],
      readyAt: new Date().toISOString(),
      setupMs: Math.round(performance.now() - this.#started),
      // The first runtime poll starts from what verification saw.
      watch: { lastPollAt: null, failures: 0, lastError: null, advertised: true },
    });
    // Fold the live figures in first (endpoint, port, workers), so the file that says "ready" is whole.
    const written = (this.#fold ? this.#fold() : Promise.resolve()).then(() => this.flush());
    this.#chain = this.#chain.then(() => written);
    this.#pass((r) => r.ready(t, urls, endpointId, elapsedMs));
  }

  notice(line: string): void {
    this.#pass((r) => r.notice(line));
  }

  /** A runtime-watch poll: the tunnel's objects as read now, or a failed read (control plane). */
  watched(poll: WatchPoll): void {
    const at = new Date().toISOString();
    const w = this.#state.watch ?? { lastPollAt: null, failures: 0, lastError: null, advertised: null };
    if (poll.ok) {
      this.#update({
        hostnames: poll.progress.hostnames,
        conditions: conditionsOf(poll.progress),
        watch: { lastPollAt: at, failures: 0, lastError: null, advertised: poll.progress.advertised ?? w.advertised },
      });
    } else {
      this.#update({ watch: { ...w, failures: w.failures + 1, lastError: { message: poll.message, at } } });
    }
  }

  readinessChanged(id: string, readiness: Readiness): void {
    this.#pass((r) => r.readinessChanged(id, readiness));
  }

  pathChecked(check: PathCheck): void {
    this.#update({ pathCheck: { ok: check.ok, after: check.after, reason: check.reason, at: new Date().toISOString() } });
    this.#pass((r) => r.pathChecked(check));
  }

  ended(kind: RuntimeEnd, id: string, message: string): void {
    this.#update({
      phase: "stopping",
      lastError: { message: kind === "deleted_upstream" ? `tunnel ${id} was deleted upstream` : "terminal failure: the tunnel is no longer reachable from the edge", exit: 64, at: new Date().toISOString() },
    });
    this.#pass((r) => r.ended(kind, id, message));
  }

  disabling(): void {
    this.#update({ phase: "stopping" });
    this.#pass((r) => r.disabling());
  }

  disabled(id: string): void {
    this.#pass((r) => r.disabled(id));
  }

  disableFailed(id: string, message: string, exit?: number): void {
    this.#update({ disableError: { message, at: new Date().toISOString(), ...(exit !== undefined ? { exit } : {}) } });
    this.#pass((r) => r.disableFailed(id, message, exit));
  }

  close(): void {
    this.#pass((r) => r.close());
  }
}
