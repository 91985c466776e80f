/**
 * Keeps `run.json` true (STYLE practice 11: events in, state out). It sits between the listen
 * session and its reporter: every event the user sees also updates the `RunState`, and every few
 * seconds the session's live figures (token, heartbeat, workers, counters) are folded in. The
 * file is rewritten atomically on each change and on that tick, never more than a few times a
 * second; `ps`, `status`, the `--detach` parent and `/readyz` all read this one state.
 */
import type { ProbeSummary, ProbeTarget } from "../../workers/messages.ts";
import { emptyRunState, writeRunState, type RunError, type RunState } from "../state/run-state.ts";
import { processStartTime } from "../state/process-identity.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import type { TunnelSummary } from "../tunnel/service.ts";
import type { ListenReporter, Resolution, RuntimeEnd } from "./reporter.ts";

/** How often the live figures are folded in and the file rewritten while nothing else happens. */
export const RUN_STATE_TICK_MS = 5_000;
/** Coalesce bursts of events into one write. */
const WRITE_DEBOUNCE_MS = 100;

/** What the session can tell about itself at any moment (see `ListenSession.snapshot`). */
export interface LiveFigures {
  readonly auth: RunState["auth"];
  readonly heartbeat: RunState["heartbeat"];
  readonly workers: RunState["workers"];
  readonly counters?: RunState["counters"];
  readonly endpoint?: { endpointId: string; boundPort: number; addresses: readonly { address: string; port: number }[]; homeRelay: string | null };
  readonly readiness?: RunState["readiness"];
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

  constructor(path: string, inner: ListenReporter, init: { name: string | null; project: string; health: string | null }) {
    this.#path = path;
    this.#inner = inner;
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
          ...(f.readiness ? { readiness: f.readiness } : {}),
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

  #update(patch: Partial<RunState>): void {
    this.#state = { ...this.#state, ...patch, updatedAt: new Date().toISOString() };
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
    this.#state = {
      ...this.#state,
      phase,
      exitCode,
      readiness: { ready: false, reason: phase },
      ...(error ? { lastError: error } : {}),
      updatedAt: new Date().toISOString(),
    };
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
    this.#update({ readiness: { ready: false, reason: "setting up" } });
    this.#pass((r) => r.settingUp());
  }

  progress(progress: TunnelProgress, elapsedMs: number): void {
    const pending = progress.steps.find((s) => s.status !== "ready");
    this.#update({
      hostnames: progress.hostnames,
      conditions: progress.steps.map((s) => ({ step: s.step, status: s.status, reason: s.reason ?? null, message: s.message ?? null, resource: s.resource ?? null })),
      ...(this.#state.phase === "starting" ? { readiness: { ready: false, reason: pending ? `waiting for ${pending.label}` : "verifying" } } : {}),
    });
    this.#pass((r) => r.progress(progress, elapsedMs));
  }

  pollFailed(message: string, consecutive: number): void {
    this.#pass((r) => r.pollFailed(message, consecutive));
  }

  verifying(): void {
    this.#update({ readiness: { ready: false, reason: "verifying the public URL" } });
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
      readiness: { ready: true, reason: "verified" },
    });
    // Fold the live figures in first (endpoint, port, workers), so the file that says "ready" is whole.
    const written = (this.#fold ? this.#fold() : Promise.resolve()).then(() => this.flush());
    this.#chain = this.#chain.then(() => written);
    this.#pass((r) => r.ready(t, urls, endpointId, elapsedMs));
  }

  notice(line: string): void {
    this.#pass((r) => r.notice(line));
  }

  ended(kind: RuntimeEnd, id: string, message: string): void {
    this.#update({ readiness: { ready: false, reason: kind === "deleted_upstream" ? "tunnel deleted upstream" : "terminal failure" } });
    this.#pass((r) => r.ended(kind, id, message));
  }

  disabling(): void {
    this.#update({ phase: "stopping", readiness: { ready: false, reason: "stopping" } });
    this.#pass((r) => r.disabling());
  }

  disabled(id: string): void {
    this.#pass((r) => r.disabled(id));
  }

  close(): void {
    this.#pass((r) => r.close());
  }
}
