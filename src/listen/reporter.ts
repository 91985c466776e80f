/**
 * How `tunnel listen` shows what is happening: three views, each a sink of the listen's events
 * (events.ts), over the same events:
 * - `TtyReporter`: a live view on a terminal (stderr), updated in place with a spinner;
 * - `PlainReporter`: one line per change (logs, CI, pipes);
 * - `JsonReporter`: the upstream JSON events on stdout (docs/wire-facts.md#json-events), with the plain
 *   lines on stderr.
 * stdout carries only data: the ready line (or JSON events); everything else goes to stderr.
 */
import type { ProbeSummary, ProbeTarget } from "../../workers/messages.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import type { TunnelSummary } from "../tunnel/service.ts";
import type { Readiness } from "./readiness.ts";
import type { ListenEvent, ListenSink, PathCheck, Resolution, RuntimeEnd, WatchPoll } from "./events.ts";
import { writeStdout } from "../stdout.ts";
import { captureWrites, LiveRegion } from "./live-region.ts";
import {
  originUnverifiedLine,
  originVerifiedLine,
  progressChanges,
  proxyRespondingLine,
  proxyWaitingLine,
  publicAnswer,
  readyLine,
  stepDoneLine,
  stepWaitingLine,
} from "./lines.ts";

export type { Resolution, RuntimeEnd } from "./events.ts";

/** A view's surface: one method per event (`showEvent` maps events onto it). */
export interface ListenReporter {
  endpointId(id: string): void;
  tunnel(kind: Resolution, tunnel: TunnelSummary): void;
  settingUp(): void;
  progress(progress: TunnelProgress, elapsedMs: number): void;
  pollFailed(message: string, consecutive: number): void;
  verifying(): void;
  probeAttempt(target: ProbeTarget, url: string, elapsedMs: number, status: number | null, error: string | null): void;
  probed(target: ProbeTarget, result: ProbeSummary): void;
  ready(tunnel: TunnelSummary, urls: readonly string[], endpointId: string, elapsedMs: number): void;
  /** A runtime warning or note (login lost, heartbeat trouble). */
  notice(line: string): void;
  ended(kind: RuntimeEnd, id: string, message: string): void;
  /** After ready: readiness was lost (`degraded`) or came back (`ready`), with the reason. */
  readinessChanged(id: string, readiness: Readiness): void;
  disabling(): void;
  disabled(id: string): void;
  /**
   * The tunnel could not be disabled on the way out: its advertisement may still be up. `exit`:
   * the exit code of the failure's class (69 unreachable, 77 not authenticated, ...).
   */
  disableFailed(id: string, message: string, exit?: number): void;
  /** A runtime-watch poll (recorded in `run.json`; nothing to show). */
  watched(poll: WatchPoll): void;
  /** The public URL re-verified after a path-breaking event (recorded in `run.json`; shown through readiness). */
  pathChecked(check: PathCheck): void;
  close(): void;
}

type Write = (line: string) => void;

/** Hand one event to a view's method for it. */
export function showEvent(view: ListenReporter, e: ListenEvent): void {
  switch (e.type) {
    case "endpoint_id":
      return view.endpointId(e.endpointId);
    case "tunnel":
      return view.tunnel(e.kind, e.tunnel);
    case "setting_up":
      return view.settingUp();
    case "progress":
      return view.progress(e.progress, e.elapsedMs);
    case "poll_failed":
      return view.pollFailed(e.message, e.consecutive);
    case "verifying":
      return view.verifying();
    case "probe_attempt":
      return view.probeAttempt(e.target, e.url, e.elapsedMs, e.status, e.error);
    case "probed":
      return view.probed(e.target, e.result);
    case "ready":
      return view.ready(e.tunnel, e.urls, e.endpointId, e.elapsedMs);
    case "notice":
      return view.notice(e.line);
    case "ended":
      return view.ended(e.kind, e.id, e.message);
    case "readiness_changed":
      return view.readinessChanged(e.id, e.readiness);
    case "disabling":
      return view.disabling();
    case "disabled":
      return view.disabled(e.id);
    case "disable_failed":
      return view.disableFailed(e.id, e.message, e.exit);
    case "watched":
      return view.watched(e.poll);
    case "path_checked":
      return view.pathChecked(e.check);
    case "closing":
      return view.close();
    case "group":
    case "settled":
    case "reloaded":
    case "reload_rejected":
      return; // a group's own events: shown by the group's views (src/group/view.ts)
    default: {
      const unknown: never = e;
      throw new Error(`unhandled listen event ${JSON.stringify(unknown)}`);
    }
  }
}

const stderrLine: Write = (line) => process.stderr.write(`${line}\n`);
const stdoutLine: Write = (line) => writeStdout(`${line}\n`);

/** Show a waiting line for a pending step every this often, once it has waited this long. */
const WAITING_EVERY_MS = 10_000;
/** Same for the public-URL probe. */
const PROBE_WAITING_EVERY_MS = 5_000;

export class PlainReporter implements ListenReporter, ListenSink {
  #last: TunnelProgress | undefined;
  readonly #waitingShown = new Map<string, number>();
  #probeShownAt = 0;
  /** The origin probe found the origin down (so a 502 from the public URL is the origin's). */
  protected originDown = false;

  constructor(
    protected readonly err: Write = stderrLine,
    protected readonly out: Write = stdoutLine,
    /** What to say once ready about stopping: a terminal's Ctrl+C, or a daemon's `tunnel stop`. */
    private readonly stopHint: string = "Press Ctrl+C to stop...",
  ) {}

  on(event: ListenEvent): void {
    showEvent(this, event);
  }

  endpointId(id: string): void {
    this.err(`Your endpoint ID: ${id}`);
  }

  tunnel(kind: Resolution, t: TunnelSummary): void {
    const head = kind === "created" ? "Created tunnel:" : kind === "updated" ? "Updated tunnel:" : `Found existing tunnel for ${t.endpoint}:`;
    this.err(head);
    this.err(`  id: ${t.id}`);
    this.err(`  label: ${t.label}`);
    this.err(`  endpoint: ${t.endpoint}`);
  }

  settingUp(): void {
    this.err("Setting up tunnel...");
  }

  progress(progress: TunnelProgress, elapsedMs: number): void {
    for (const change of progressChanges(this.#last, progress)) {
      if (change.step.status === "ready") this.err(stepDoneLine(change.step, elapsedMs));
    }
    this.#last = progress;
    if (elapsedMs < WAITING_EVERY_MS) return;
    const pending = progress.steps.find((s) => s.status !== "ready" && !(s.step === "connector_metadata_programmed" && s.status === "unknown"));
    if (!pending) return;
    const shown = this.#waitingShown.get(pending.step) ?? 0;
    if (elapsedMs - shown >= WAITING_EVERY_MS) {
      this.#waitingShown.set(pending.step, elapsedMs);
      this.err(stepWaitingLine(pending, elapsedMs));
    }
  }

  pollFailed(message: string, consecutive: number): void {
    this.err(`  … progress poll failed (${consecutive} in a row), retrying: ${message}`);
  }

  verifying(): void {
    this.err("Verifying connectivity...");
  }

  probeAttempt(target: ProbeTarget, url: string, elapsedMs: number, status: number | null, error: string | null): void {
    if (target !== "public" || elapsedMs - this.#probeShownAt < PROBE_WAITING_EVERY_MS) return;
    this.#probeShownAt = elapsedMs;
    this.err(proxyWaitingLine(url, elapsedMs, status, error, this.originDown));
  }

  probed(target: ProbeTarget, r: ProbeSummary): void {
    if (target === "origin") {
      this.originDown = !r.up;
      this.err(r.up && r.status !== null ? originVerifiedLine(r.url, r.status, r.elapsedMs) : originUnverifiedLine(r.url, r.status, r.error));
    } else if (r.up && r.status !== null) {
      this.err(proxyRespondingLine(r.url, r.status, r.elapsedMs));
    }
  }

  ready(_t: TunnelSummary, urls: readonly string[], _endpointId: string, elapsedMs: number): void {
    for (const url of urls) this.out(readyLine(elapsedMs, url));
    this.err(this.stopHint);
  }

  notice(line: string): void {
    this.err(line);
  }

  ended(_kind: RuntimeEnd, _id: string, message: string): void {
    this.err(message);
  }

  readinessChanged(_id: string, r: Readiness): void {
    this.err(r.ready ? "Tunnel ready again." : `warning: tunnel not ready: ${r.reason}`);
  }

  disabling(): void {
    this.err("");
    this.err("Disabling tunnel...");
  }

  disabled(_id: string): void {
    this.err("Tunnel disabled.");
  }

  disableFailed(id: string, message: string): void {
    this.err(`warning: could not disable tunnel ${id}: ${message}`);
  }

  watched(_poll: WatchPoll): void {}

  pathChecked(_check: PathCheck): void {}

  close(): void {}
}

/** The upstream plugin's JSON events (docs/wire-facts.md#json-events) on stdout, one object per line; text stays on stderr. */
export class JsonReporter extends PlainReporter {
  #last: TunnelProgress | undefined;
  readonly #json: Write;

  constructor(err: Write = stderrLine, out: Write = stdoutLine) {
    super(err, () => undefined);
    this.#json = out;
  }

  #emit(event: Record<string, unknown>): void {
    this.#json(JSON.stringify(event));
  }

  override tunnel(kind: Resolution, t: TunnelSummary): void {
    super.tunnel(kind, t);
    if (kind === "created") this.#emit({ type: "tunnel_created", id: t.id });
    if (kind === "updated") this.#emit({ type: "tunnel_updated", id: t.id, label: t.label, endpoint: t.endpoint });
  }

  override progress(progress: TunnelProgress, elapsedMs: number): void {
    for (const { step } of progressChanges(this.#last, progress)) {
      this.#emit({ type: "tunnel_progress", step: step.step, status: step.status, resource: step.resource ?? null });
    }
    this.#last = progress;
    super.progress(progress, elapsedMs);
  }

  override probed(target: ProbeTarget, r: ProbeSummary): void {
    super.probed(target, r);
    if (r.up) this.#emit({ type: "tunnel_verified", url: r.url });
  }

  override ready(t: TunnelSummary, urls: readonly string[], endpointId: string, elapsedMs: number): void {
    this.#emit({
      type: "tunnel_ready",
      id: t.id,
      label: t.label,
      endpoint: t.endpoint,
      hostnames: t.hostnames,
      urls,
      endpoint_id: endpointId,
      status: "ready",
      elapsed_secs: Math.round(elapsedMs / 100) / 10,
    });
    super.ready(t, urls, endpointId, elapsedMs);
  }

  override ended(kind: RuntimeEnd, id: string, message: string): void {
    super.ended(kind, id, message);
    const type = kind === "deleted_upstream" ? "tunnel_deleted_upstream" : kind === "start_failed" ? "tunnel_start_failed" : "tunnel_terminal_failure";
    this.#emit({ type, id, message });
  }

  override readinessChanged(id: string, r: Readiness): void {
    super.readinessChanged(id, r);
    this.#emit(r.ready ? { type: "tunnel_recovered", id } : { type: "tunnel_degraded", id, reason: r.reason });
  }

  override disabled(id: string): void {
    super.disabled(id);
    this.#emit({ type: "tunnel_disabled", id });
  }
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** The size of a terminal stream, read afresh (it changes on a resize); undefined when unknown. */
function sizeOf(stream: NodeJS.WriteStream): { columns: number; rows: number } | undefined {
  const [columns, rows] = typeof stream.getWindowSize === "function" ? stream.getWindowSize() : [stream.columns, stream.rows];
  return columns && rows ? { columns, rows } : undefined;
}

/**
 * A live block on the terminal: one row per setup step (✓ done, spinner for the step being waited
 * on, · for later ones) and a status row, redrawn in place (`LiveRegion`). Lines printed meanwhile,
 * by this reporter or anything else writing to the stream (the logger, warnings), go above it.
 */
export class TtyReporter extends PlainReporter {
  #progress: TunnelProgress | undefined;
  #doneAt = new Map<string, number>();
  #status = "";
  #frame = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #started = performance.now();
  #region: LiveRegion | undefined;
  #releaseWrites: (() => void) | undefined;
  #onResize: (() => void) | undefined;
  readonly #stream: NodeJS.WriteStream;

  constructor(stream: NodeJS.WriteStream = process.stderr, out: Write = stdoutLine) {
    super((line) => this.#line(line), out);
    this.#stream = stream;
  }

  #line(line: string): void {
    if (this.#region) this.#region.above(`${line}\n`);
    else this.#stream.write(`${line}\n`);
  }

  #rows(final: boolean): string[] {
    const rows: string[] = [];
    const spin = SPINNER[this.#frame % SPINNER.length] ?? "*";
    let waiting = false;
    for (const step of this.#progress?.steps ?? []) {
      const optional = step.step === "connector_metadata_programmed" && step.status === "unknown";
      if (step.status === "ready" || optional) {
        const at = this.#doneAt.get(step.step);
        rows.push(`  ✓ ${step.label}${at !== undefined ? ` (${(at / 1000).toFixed(1)}s)` : ""}`);
      } else if (!waiting) {
        waiting = true;
        const detail = step.message ?? step.reason;
        rows.push(`  ${final ? "·" : spin} ${step.label}${detail ? ` — ${detail}` : ""}`);
      } else rows.push(`  · ${step.label}`);
    }
    if (!final) {
      const elapsed = ((performance.now() - this.#started) / 1000).toFixed(1);
      rows.push(`  ${this.#status ? `${spin} ${this.#status} ` : ""}(${elapsed}s)`);
    }
    return rows;
  }

  #redraw(): void {
    this.#region?.show(this.#rows(false));
  }

  override settingUp(): void {
    if (this.#region) return;
    this.#started = performance.now();
    this.#status = "setting up tunnel";
    const capture = captureWrites(this.#stream, (text) => this.#region?.above(text));
    this.#releaseWrites = capture.release;
    this.#region = new LiveRegion({ write: capture.raw, size: () => sizeOf(this.#stream) });
    this.#timer = setInterval(() => {
      this.#frame++;
      this.#redraw();
    }, 100);
    this.#timer.unref?.();
    // A resize reflows what is on the screen: redraw at the new width right away.
    this.#onResize = () => this.#redraw();
    if (typeof this.#stream.on === "function") this.#stream.on("resize", this.#onResize);
    this.#redraw();
  }

  override progress(progress: TunnelProgress, elapsedMs: number): void {
    for (const s of progress.steps) if (s.status === "ready" && !this.#doneAt.has(s.step)) this.#doneAt.set(s.step, elapsedMs);
    this.#progress = progress;
    this.#redraw();
  }

  override verifying(): void {
    this.#status = "verifying the public URL";
    this.#redraw();
  }

  override probeAttempt(target: ProbeTarget, url: string, _elapsedMs: number, status: number | null, error: string | null): void {
    if (target !== "public") return;
    this.#status = `waiting for ${url} (${publicAnswer(status, error, this.originDown)})`;
  }

  override ready(t: TunnelSummary, urls: readonly string[], endpointId: string, elapsedMs: number): void {
    this.close();
    super.ready(t, urls, endpointId, elapsedMs);
  }

  override close(): void {
    if (!this.#region) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#onResize && typeof this.#stream.off === "function") this.#stream.off("resize", this.#onResize);
    this.#onResize = undefined;
    // Leave the final block on screen, without the status row.
    this.#region.show(this.#rows(true));
    this.#region.release();
    this.#region = undefined;
    this.#releaseWrites?.();
    this.#releaseWrites = undefined;
  }
}

export function reporterFor(format: "table" | "json", stderrIsTty: boolean): ListenReporter & ListenSink {
  if (format === "json") return new JsonReporter();
  return stderrIsTty ? new TtyReporter() : new PlainReporter();
}
