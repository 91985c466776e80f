/**
 * One tunnel served by a `ListenAgent`, from the moment it is found or created to its withdrawal
 * (docs/architecture.md#listen-flow): enable it on this identity's Connector → wait for setup
 * (750 ms polls) → verify the origin and the public URL → ready → watch it every 10 s, re-verifying
 * after every event that can break the path → withdraw its advertisement.
 *
 * A single tunnel and each service of a group (docs/groups.md) run exactly this. They differ in one
 * policy, `keepServing`: a single tunnel that cannot be verified fails the listen (the user is
 * told at once, exit 64); a group's service stays up, degraded with its reason, and keeps
 * re-verifying, so one service whose origin is down never holds the others back.
 */
import type { ProbeSummary } from "../../workers/messages.ts";
import { CliError, Rejected } from "../errors.ts";
import { log } from "../log.ts";
import { updateAllowList, upsertEntry } from "../state/allowlist.ts";
import { slotFiles } from "../state/paths.ts";
import { normalizeEndpoint, originProbeUrl, parseTarget } from "../tunnel/endpoint.ts";
import { formatTerminalFailure, terminalFailure } from "../tunnel/progress.ts";
import type { TunnelService, TunnelSummary } from "../tunnel/service.ts";
import { abortableSleep } from "../retry/sleep.ts";
import type { ListenAgent } from "./agent.ts";
import { awaitSetup, SETUP_POLL_REQUEST_BUDGET, SetupAborted } from "./await-setup.ts";
import type { ListenEvent, Resolution, ServiceOutcome } from "./events.ts";
import { publicUrl } from "./lines.ts";

/** The runtime watch re-reads progress this often (upstream `RUNTIME_POLL_INTERVAL`). */
export const RUNTIME_POLL_MS = 10_000;
/** How long setup keeps probing the public URL before it gives up (a group's service then keeps re-verifying). */
export const PUBLIC_PROBE_BUDGET_MS = 10 * 60_000;
/** The origin probe is best effort: this long, then a warning (docs/wire-facts.md#verify: half the verify budget). */
export const ORIGIN_PROBE_BUDGET_MS = 5_000;
/** A re-verification after a path-breaking event probes this long before it waits for the next runtime poll. */
export const PATH_RECHECK_BUDGET_MS = 60_000;

export interface ServiceRunDeps {
  readonly agent: ListenAgent;
  readonly service: TunnelService;
  /** Where this tunnel's events go (a group tags them with the service's name). */
  readonly emit: (event: ListenEvent) => void;
  readonly slotDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted when this tunnel stops being served (the listen's signal, or a reload that removed it). */
  readonly signal: AbortSignal;
  /** A group's service: never fail the process over this tunnel; stay degraded and keep re-verifying. */
  readonly keepServing: boolean;
  /** For `settled`: the service's name in its group (a single tunnel's is unused). */
  readonly name?: string;
}

export class ServiceRun {
  readonly #d: ServiceRunDeps;
  #tunnel: TunnelSummary;
  #started = performance.now();
  /** The public URL once known (ready, or verification under way): re-verified after every path-breaking event. */
  #publicUrl: string | undefined;
  #ready = false;
  /** The latest path-breaking event not yet re-verified, and whether a re-verification runs. */
  #recheckAfter: string | undefined;
  #rechecking = false;
  /** The last re-verification failed (recorded: the tunnel is degraded until one succeeds). */
  #pathFailing: string | undefined;
  #unsubscribe: () => void;
  #settle: ((outcome: ServiceOutcome) => void) | undefined;
  /** Resolves once: verified, or degraded with a reason (its origin does not answer, verification ran out). */
  readonly settled: Promise<ServiceOutcome>;

  constructor(deps: ServiceRunDeps, tunnel: TunnelSummary) {
    this.#d = deps;
    this.#tunnel = tunnel;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
    this.#unsubscribe = deps.agent.onPathEvent((after) => this.pathEvent(after));
  }

  get tunnel(): TunnelSummary {
    return this.#tunnel;
  }

  #emit(event: ListenEvent): void {
    this.#d.emit(event);
  }

  #settleWith(ready: boolean, urls: readonly string[], reason: string): void {
    this.#settle?.({ name: this.#d.name ?? this.#tunnel.id, ready, urls, reason });
    this.#settle = undefined;
  }

  /** Enable on this identity's Connector, wait for setup, verify; resolves when ready (or, keeping serving, degraded). */
  async start(kind: Resolution): Promise<void> {
    const { agent, service } = this.#d;
    const tunnel = this.#tunnel;
    this.#emit({ type: "tunnel", kind, tunnel });
    await agent.syncAllowList();
    this.#tunnel = await service.setEnabled(tunnel.id, true, { details: agent.details() });
    await agent.syncAllowList();
    // The Connector exists now: the heartbeat stops waiting for it and publishes at once.
    agent.resync(this.#tunnel.connectorName);
    this.#emit({ type: "setting_up" });
    this.#started = performance.now();

    const progress = await awaitSetup({
      id: tunnel.id,
      poll: () => service.progress(tunnel.id, { budget: SETUP_POLL_REQUEST_BUDGET }),
      clock: { now: () => performance.now(), sleep: abortableSleep },
      signal: this.#d.signal,
      onProgress: (p) => this.#emit({ type: "progress", progress: p, elapsedMs: performance.now() - this.#started }),
      onPollFailed: (message, n) => this.#emit({ type: "poll_failed", message, consecutive: n }),
    });

    const urls = progress.hostnames.map((h) => publicUrl(h, this.#d.env));
    this.#tunnel = { ...this.#tunnel, hostnames: progress.hostnames };
    this.#publicUrl = urls[0];
    const verified = await this.#verify(originProbeUrl(this.#tunnel.endpoint), urls[0] as string);
    if (!verified.up) {
      if (this.#d.signal.aborted) throw new SetupAborted("cancelled while verifying");
      const last = verified.status !== null ? `last answer: HTTP ${verified.status}` : (verified.error ?? undefined);
      const message = `the public URL ${verified.url} did not answer below 500 within ${Math.round(PUBLIC_PROBE_BUDGET_MS / 60_000)} minutes`;
      if (!this.#d.keepServing) throw new Rejected(message, last);
      // A group's service stays: degraded with the reason, re-verified at every runtime poll.
      this.#pathFailing = "setup";
      this.#emit({ type: "path_checked", check: { ok: false, after: "setup", reason: last ?? message } });
      this.#settleWith(false, urls, last ? `${message} (${last})` : message);
      return;
    }
    this.#becameReady(urls);
  }

  #becameReady(urls: readonly string[]): void {
    this.#ready = true;
    this.#d.agent.resync(); // re-patch the connection details after setup (as upstream)
    this.#emit({ type: "ready", tunnel: this.#tunnel, urls, endpointId: this.#d.agent.endpointId, elapsedMs: performance.now() - this.#started });
    this.#settleWith(true, urls, "verified");
  }

  async #verify(originUrl: string | null, url: string): Promise<ProbeSummary> {
    const { agent } = this.#d;
    this.#emit({ type: "verifying" });
    const result = await agent.verifier.verify(
      { originUrl, originBudgetMs: ORIGIN_PROBE_BUDGET_MS, publicUrl: url, publicBudgetMs: PUBLIC_PROBE_BUDGET_MS, proxy: agent.proxy },
      {
        signal: this.#d.signal,
        log: agent.fromWorker,
        onReport: (msg) => {
          if (msg.type === "probed") {
            // A group's service whose origin does not answer settles degraded at once; its public
            // URL keeps being probed, and it turns ready when the origin comes up.
            if (msg.target === "origin" && !msg.result.up && this.#d.keepServing) {
              const why = msg.result.status !== null ? `HTTP ${msg.result.status}` : (msg.result.error ?? "no answer");
              this.#settleWith(false, [url], `origin ${this.#tunnel.endpoint} does not answer: ${why}`);
            }
            return this.#emit({ type: "probed", target: msg.target, result: msg.result });
          }
          if (msg.target === "public" && (msg.status === null || msg.status >= 500)) agent.repatchAfterFailedProbe();
          this.#emit({ type: "probe_attempt", target: msg.target, url: msg.url, elapsedMs: msg.elapsedMs, status: msg.status, error: msg.error });
        },
      },
    );
    return result.public;
  }

  /**
   * Something that can break the path from the edge to this device happened (`after` says what):
   * re-verify the public URL. While it fails the tunnel is recorded degraded, with the reason, and
   * recovered once it answers (readiness.ts). Before ready, setup's own verification covers it.
   */
  pathEvent(after: string): void {
    if (this.#publicUrl === undefined || this.#d.signal.aborted) return;
    if (!this.#ready && this.#pathFailing === undefined) return;
    this.#recheckAfter = after;
    if (!this.#rechecking) void this.#recheckLoop();
  }

  async #recheckLoop(): Promise<void> {
    this.#rechecking = true;
    try {
      while (this.#recheckAfter !== undefined && !this.#d.signal.aborted) {
        const after = this.#recheckAfter;
        this.#recheckAfter = undefined;
        await this.#recheck(after).catch((err: unknown) => log.withTag("verify").debug(`re-verification failed to run: ${err instanceof Error ? err.message : String(err)}`));
      }
    } finally {
      this.#rechecking = false;
    }
  }

  async #recheck(after: string): Promise<void> {
    const { agent } = this.#d;
    const url = this.#publicUrl as string;
    log.withTag("verify").debug(`re-verifying ${url} after ${after}`);
    await agent.verifier.verify(
      { originUrl: null, originBudgetMs: 0, publicUrl: url, publicBudgetMs: PATH_RECHECK_BUDGET_MS, proxy: agent.proxy },
      {
        signal: this.#d.signal,
        log: agent.fromWorker,
        onReport: (msg) => {
          if (msg.type !== "attempt" || msg.target !== "public") return;
          const failed = msg.status === null || msg.status >= 500;
          if (failed) {
            agent.repatchAfterFailedProbe();
            const reason = msg.status !== null ? `HTTP ${msg.status}` : (msg.error ?? "no answer");
            if (this.#pathFailing === undefined) this.#emit({ type: "path_checked", check: { ok: false, after, reason } });
            this.#pathFailing = after;
          } else if (this.#pathFailing !== undefined) {
            this.#pathFailing = undefined;
            this.#emit({ type: "path_checked", check: { ok: true, after, reason: null } });
            // A group's service that was never verified (its origin was down at setup) is now.
            if (!this.#ready) this.#becameReady([url]);
          }
        },
      },
    );
  }

  /**
   * The 10 s runtime watch (docs/architecture.md#listen-flow) until the signal (0), or until the
   * tunnel fails terminally or is deleted upstream (64).
   */
  async watch(): Promise<number> {
    const { service } = this.#d;
    const id = this.#tunnel.id;
    let objects: string | undefined;
    let restarts = this.#d.agent.workerRestarts();
    for (;;) {
      try {
        await abortableSleep(RUNTIME_POLL_MS, this.#d.signal);
      } catch {
        return 0;
      }
      let progress;
      try {
        progress = await service.progress(id, { advertisement: true });
      } catch (err) {
        // Recorded: consecutive failed polls make the tunnel not ready (readiness.ts).
        const message = err instanceof Error ? err.message : String(err);
        log.withTag("watch").debug(`progress poll failed: ${message}`);
        this.#emit({ type: "watched", poll: { ok: false, message } });
        continue;
      }
      if (this.#d.signal.aborted) return 0;
      if (!progress) {
        this.#emit({ type: "ended", kind: "deleted_upstream", id, message: `Tunnel ${id} no longer exists on the server. Stopping.` });
        return 64;
      }
      const failed = terminalFailure(progress);
      if (failed) {
        this.#emit({ type: "ended", kind: "terminal_failure", id, message: `  Tunnel is no longer reachable from the edge.\n${formatTerminalFailure(failed)}` });
        return 64;
      }
      if (progress.endpoint && progress.endpoint !== normalizeEndpoint(this.#tunnel.endpoint)) {
        await this.#followEndpoint(progress.endpoint);
      }
      this.#emit({ type: "watched", poll: { ok: true, progress } });
      // The tunnel's objects changed upstream, or a worker restarted: re-verify the public URL;
      // one that still fails is re-verified at every poll until it answers.
      const now = JSON.stringify([progress.hostnames, progress.endpoint, progress.advertised, progress.steps.map((s) => [s.step, s.status])]);
      const restartsNow = this.#d.agent.workerRestarts();
      if (objects !== undefined && now !== objects) this.pathEvent("the tunnel's objects changed upstream");
      else if (restartsNow > restarts) this.pathEvent("a worker restarted");
      else if (this.#pathFailing !== undefined) this.pathEvent(this.#pathFailing);
      objects = now;
      restarts = restartsNow;
    }
  }

  /**
   * The tunnel's endpoint was changed elsewhere (`tunnel update --endpoint`): serve the new one
   * from the next request on, within one runtime poll, instead of answering 403 until a restart.
   */
  async #followEndpoint(endpoint: string): Promise<void> {
    const tunnel = this.#tunnel;
    let target;
    try {
      target = parseTarget(endpoint);
    } catch {
      this.#emit({ type: "notice", line: `warning: tunnel ${tunnel.id} now names endpoint ${endpoint}, which this agent cannot serve; still serving ${tunnel.endpoint}` });
      return;
    }
    const path = slotFiles(this.#d.slotDir).allowList;
    await updateAllowList(path, (entries) => upsertEntry(entries, { id: tunnel.id, label: tunnel.label, host: target.host, port: target.port, enabled: true }));
    await this.#d.agent.syncAllowList();
    this.#tunnel = { ...tunnel, endpoint };
    this.#emit({ type: "notice", line: `tunnel ${tunnel.id} now forwards to ${endpoint} (changed on the platform)` });
  }

  /** A reload changed this service's endpoint or label: update the tunnel in place, re-verify if the endpoint moved. */
  async update(changes: { endpoint?: string; label?: string }): Promise<void> {
    const { agent, service } = this.#d;
    const updated = await service.update(this.#tunnel.id, changes);
    await agent.syncAllowList();
    this.#tunnel = { ...this.#tunnel, label: updated.label, endpoint: updated.endpoint };
    this.#emit({ type: "tunnel", kind: "updated", tunnel: this.#tunnel });
    if (changes.endpoint !== undefined) this.pathEvent("the endpoint changed");
  }

  /**
   * Withdraw the advertisement (unless the tunnel is gone or serves another Connector now). The
   * owner has stopped this run's watch (its signal) before.
   */
  async withdraw(quiet = false): Promise<void> {
    this.#unsubscribe();
    const id = this.#tunnel.id;
    try {
      const withdrawn = await this.#d.service.withdraw(id);
      await this.#d.agent.syncAllowList();
      if (withdrawn.outcome === "moved") {
        this.#emit({ type: "notice", line: `tunnel ${id} is now served by Connector ${withdrawn.connectorName ?? "(none)"}; left enabled for it` });
      } else if (!quiet) this.#emit({ type: "disabled", id });
    } catch (err) {
      if (!(err instanceof Rejected)) {
        this.#emit({ type: "disable_failed", id, message: err instanceof Error ? err.message : String(err), exit: err instanceof CliError ? err.exit : undefined });
      }
    }
  }

  /** Stop hearing path events (a run that never started, or one deleted by a reload). */
  detach(): void {
    this.#unsubscribe();
  }
}
