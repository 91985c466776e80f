/**
 * One `tunnel listen` from start to teardown (docs/architecture.md#listen-flow):
 *
 *   lock the identity slot → start the ListenNode (iroh) → start the heartbeat → wait for a home
 *   relay → find, create or update the tunnel → enable → wait for setup (750 ms polls) → verify
 *   origin and public URL → ready → watch every 10 s until a signal → disable the advertisement →
 *   stop the workers.
 *
 * The main thread owns the token source and the control plane; workers own the data plane, the
 * heartbeat and the probes, and talk to us only in typed messages (workers/messages.ts).
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import * as v from "valibot";
import type { ProbeSummary } from "../../workers/messages.ts";
import { HeartbeatClient, type HeartbeatReport } from "../heartbeat/client.ts";
import type { TokenSource } from "../auth/token-source.ts";
import type { DataPlane, DataPlaneEndpoint } from "../dataplane/client.ts";
import { loadDataPlane } from "../dataplane/client.ts";
import { placeholderRelay, relayUrls } from "../dataplane/relays.ts";
import { CliError, Rejected, UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { proxySettingsFrom } from "../net/proxy.ts";
import { readAllowList, updateAllowList, upsertEntry, type AllowEntry } from "../state/allowlist.ts";
import { acquireSlotLock, type SlotLock } from "../state/lock.ts";
import { slotFiles, stateRoot } from "../state/paths.ts";
import { liveIdentities } from "../state/live-identities.ts";
import { passedOverLine } from "../tunnel/adoption.ts";
import { trimAfterStart } from "../supervise/heap-trim.ts";
import { normalizeEndpoint, originProbeUrl, parseTarget, validateEndpoint } from "../tunnel/endpoint.ts";
import { formatTerminalFailure, terminalFailure } from "../tunnel/progress.ts";
import type { DeviceAddress, TunnelService, TunnelSummary } from "../tunnel/service.ts";
import { verify } from "../verify/client.ts";
import { awaitSetup, SETUP_POLL_REQUEST_BUDGET, SetupAborted, TerminalFailure } from "./await-setup.ts";
import { publicUrl } from "./lines.ts";
import type { ListenEvent, ListenSink } from "./events.ts";
import type { LiveFigures } from "./run-recorder.ts";
import { abortableSleep } from "../retry/sleep.ts";
import { checkDataPlane, type WatchdogCheck } from "../service/watchdog.ts";

/** The runtime watch re-reads progress this often (upstream `RUNTIME_POLL_INTERVAL`). */
export const RUNTIME_POLL_MS = 10_000;
/** How long the foreground listen keeps probing the public URL before it gives up. */
export const PUBLIC_PROBE_BUDGET_MS = 10 * 60_000;
/** The origin probe is best effort: this long, then a warning (docs/wire-facts.md#verify: half the verify budget). */
export const ORIGIN_PROBE_BUDGET_MS = 5_000;
/** Before the first connection details: iroh gets 40 × 250 ms to report a home relay (upstream). */
const HOME_RELAY_POLLS = 40;
const HOME_RELAY_POLL_MS = 250;
/** A re-verification after a path-breaking event probes this long before it waits for the next runtime poll. */
export const PATH_RECHECK_BUDGET_MS = 60_000;
/** Connection details are re-patched after a failed public-URL probe at most this often. */
const REPATCH_EVERY_MS = 10_000;

export interface ListenRequest {
  readonly endpoint?: string | undefined;
  readonly id?: string | undefined;
  /** An explicit `--label`: the only thing that may change an existing tunnel's label. */
  readonly label?: string | undefined;
  /** The label a tunnel gets if this run creates it (a named tunnel's `tunnel.yaml`); never applied to an existing one. */
  readonly createLabel?: string | undefined;
  /** Accept label changes without asking. */
  readonly yes: boolean;
  /** Ask the user a yes/no question (only on a terminal); undefined = not interactive. */
  readonly confirm?: ((question: string) => Promise<boolean>) | undefined;
}

export interface ListenDeps {
  readonly project: string;
  readonly apiBase: string;
  readonly service: TunnelService;
  readonly tokens: TokenSource;
  readonly slotDir: string;
  /** The datumctl session, for status. */
  readonly session?: string | undefined;
  /** `run.json` of the slot: its `boundPort` is reused so a restart keeps its addresses. */
  readonly runPath: string;
  /** What the slot is, for messages: `project web` or `tunnel dev-app`. */
  readonly slotLabel: string;
  readonly secretKey: Uint8Array;
  readonly endpointId: string;
  /** Where everything this listen reports goes: one event stream (events.ts). */
  readonly events: ListenSink;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted by the first SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** The slot's lock, when the caller took it before writing anything (foreground.ts). */
  readonly lock?: SlotLock | undefined;
}

/** Remembered per identity slot so a restart binds the same UDP port (docs/architecture.md#local-state). */
const RunFile = v.object({ boundPort: v.optional(v.nullable(v.number())) });

async function rememberedPort(path: string): Promise<number | undefined> {
  try {
    const parsed = v.safeParse(RunFile, JSON.parse(await readFile(path, "utf8")));
    return parsed.success ? (parsed.output.boundPort ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}

function workerEntries(entries: readonly AllowEntry[]) {
  return entries.map((e) => ({ id: e.id, host: e.host, port: e.port, enabled: e.enabled }));
}


/** Pure: which tunnel to use, given the flags and what the project has (docs/adoption.md). */
export function checkListenFlags(req: Pick<ListenRequest, "endpoint" | "id">): void {
  if (!req.endpoint && !req.id) {
    throw new UsageError("--endpoint or --id is required", "e.g. tunnel listen --endpoint 127.0.0.1:3000");
  }
  if (req.endpoint !== undefined) validateEndpoint(req.endpoint);
}

export class ListenSession {
  readonly #d: ListenDeps;
  readonly #req: ListenRequest;
  readonly #workerLog = log.withTag("worker");
  readonly #fromWorker = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void => {
    this.#workerLog[level](fields ? `${msg} ${JSON.stringify(fields)}` : msg);
  };
  #lock: SlotLock | undefined;
  #dataPlane: DataPlane | undefined;
  #endpoint: DataPlaneEndpoint | undefined;
  #heartbeat: HeartbeatClient | undefined;
  #tunnel: TunnelSummary | undefined;
  #hb: LiveFigures["heartbeat"] = { connector: null, lastRenewalAt: null, renewals: 0, failures: 0, lastError: null };
  /** The Lease's duration as the heartbeat last read it (30 s until it says otherwise). */
  #leaseDurationS = 30;
  #started = performance.now();
  #lastRepatchAt = -Infinity;
  /** The public URL once ready: re-verified after every event that can break the path. */
  #publicUrl: string | undefined;
  /** The latest path-breaking event not yet re-verified, and whether a re-verification runs. */
  #recheckAfter: string | undefined;
  #rechecking = false;
  /** The last re-verification failed (recorded: the tunnel is degraded until one succeeds). */
  #pathFailing: string | undefined;
  #leaseLapsed = false;

  constructor(deps: ListenDeps, request: ListenRequest) {
    this.#d = deps;
    this.#req = request;
  }

  #emit(event: ListenEvent): void {
    this.#d.events.on(event);
  }

  get tunnel(): TunnelSummary | undefined {
    return this.#tunnel;
  }

  /** The session's live figures for `run.json`, `status` and `/metrics` (see RunRecorder). */
  async liveFigures(): Promise<LiveFigures> {
    const t = this.#d.tokens.state();
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const workers = [this.#dataPlane?.status(), this.#heartbeat?.status()]
      .filter((w) => w !== undefined)
      .map((w) => ({ name: w.name, state: w.state, restarts: w.restarts, deaths: w.deaths, lastDeath: w.lastDeath ? { at: w.lastDeath.at, reason: w.lastDeath.reason } : null }));
    let counters: LiveFigures["counters"];
    if (this.#dataPlane && this.#endpoint) {
      const stats = await Promise.race([this.#dataPlane.stats(), Bun.sleep(2_000).then(() => undefined)]).catch(() => undefined);
      if (stats) counters = { targets: stats.counters, connectionsAccepted: stats.connectionsAccepted, connectionsCompleted: stats.connectionsCompleted, ...(stats.paths ? { paths: stats.paths } : {}) };
    }
    const ep = this.#endpoint;
    return {
      auth: {
        session: this.#d.session ?? null,
        lastRefreshAt: iso(t.lastRefreshAt),
        expiresAt: iso(t.expiresAt),
        refreshes: { ...t.counts },
        lastError: t.lastError ? { message: t.lastError.message, ...(t.lastError.hint ? { hint: t.lastError.hint } : {}), at: new Date(t.lastError.at).toISOString() } : null,
      },
      heartbeat: { ...this.#hb, leaseDurationS: this.#leaseDurationS },
      workers,
      ...(counters ? { counters } : {}),
      ...(ep ? { endpoint: { endpointId: ep.endpointId, boundPort: ep.boundPort, addresses: ep.addresses, homeRelay: ep.homeRelay } } : {}),
    };
  }

  /** Whether the service watchdog gets its ping: while setting up, or while the ListenNode worker answers (src/service/watchdog.ts). */
  dataPlaneHealth(): Promise<WatchdogCheck> {
    return checkDataPlane(this.#dataPlane);
  }

  /** Run until the signal; resolves with the exit code after teardown. */
  async run(): Promise<number> {
    const d = this.#d;
    try {
      await this.#setUp();
      if (d.signal.aborted) return await this.#tearDown(0);
      const code = await this.#watch();
      return await this.#tearDown(code);
    } catch (err) {
      if (err instanceof SetupAborted || (d.signal.aborted && !(err instanceof TerminalFailure))) return await this.#tearDown(0);
      await this.#tearDown(0, true).catch(() => undefined);
      throw err;
    }
  }

  async #setUp(): Promise<void> {
    const d = this.#d;
    const files = slotFiles(d.slotDir);
    this.#lock = d.lock ?? acquireSlotLock(
      files.lock,
      `the identity of ${d.slotLabel}`,
      `another 'tunnel listen' serves ${d.slotLabel} from this machine; stop it first (one ListenNode per key)`,
    );

    d.tokens.start(d.signal);
    await d.tokens.token(); // a login that does not work fails here, before anything is bound

    const relays = relayUrls(d.env);
    if (relays.invalid.length > 0) throw new UsageError(`invalid relay URL in DATUM_CONNECT_RELAY_URLS: ${relays.invalid.join(", ")}`);
    const bindPort = await rememberedPort(d.runPath);
    const dataPlane = await loadDataPlane({ log: this.#fromWorker });
    this.#dataPlane = dataPlane;
    this.#endpoint = await dataPlane.start({
      secretKey: d.secretKey,
      ...(bindPort !== undefined ? { bindPort } : {}),
      relayUrls: relays.urls,
      allowList: workerEntries(await readAllowList(files.allowList)),
    });
    if (this.#endpoint.endpointId !== d.endpointId) {
      throw new Error(`the data plane reports endpoint ${this.#endpoint.endpointId}, expected ${d.endpointId}`);
    }
    dataPlane.onEndpointChange((change) => {
      const relayBefore = this.#endpoint?.homeRelay ?? null;
      const addressesBefore = JSON.stringify(this.#endpoint?.addresses ?? []);
      if (this.#endpoint) this.#endpoint = { ...this.#endpoint, ...change };
      this.#heartbeat?.endpointChanged(change.addresses, change.homeRelay);
      // A relay reached late (it was down at start) or a new one, and new addresses (the machine
      // moved), are published now, not at the next lease renewal or after the heartbeat's backoff
      // for "missing home relay" (up to 30 s) runs out.
      const relayChanged = change.homeRelay !== null && change.homeRelay !== relayBefore;
      const addressesChanged = JSON.stringify(change.addresses) !== addressesBefore;
      if (relayChanged || addressesChanged) this.#heartbeat?.resync();
      if (relayChanged || addressesChanged) this.#pathEvent(relayChanged ? "the home relay changed" : "the addresses changed");
    });
    this.#emit({ type: "endpoint_id", endpointId: d.endpointId });

    // Only a relay iroh reports is ever published; the one exception is a placeholder the local
    // Datum declares for itself (docs/relays.md).
    const placeholder = placeholderRelay(d.env);
    const details = (): DeviceAddress => {
      const ep = this.#endpoint;
      const homeRelay = ep?.homeRelay ?? placeholder ?? undefined;
      return { ...(homeRelay ? { homeRelay } : {}), addresses: ep?.addresses ?? [] };
    };

    // The heartbeat runs before the tunnel is found or created, and the first connection details
    // wait (up to 10 s) for the relay iroh actually reaches.
    await this.#startHeartbeat(placeholder);
    if (!placeholder) await this.#awaitHomeRelay();

    const { tunnel, kind } = await this.#resolveTunnel(details());
    this.#tunnel = tunnel;
    this.#emit({ type: "tunnel", kind, tunnel });
    await this.#syncAllowList();

    this.#tunnel = await d.service.setEnabled(tunnel.id, true, { details: details() });
    await this.#syncAllowList();
    // The Connector exists now: the heartbeat stops waiting for it and publishes at once.
    const connector = this.#tunnel.connectorName;
    this.#heartbeat?.resync(connector);
    this.#emit({ type: "setting_up" });
    this.#started = performance.now();

    const progress = await awaitSetup({
      id: tunnel.id,
      poll: () => d.service.progress(tunnel.id, { budget: SETUP_POLL_REQUEST_BUDGET }),
      clock: { now: () => performance.now(), sleep: abortableSleep },
      signal: d.signal,
      onProgress: (p) => this.#emit({ type: "progress", progress: p, elapsedMs: performance.now() - this.#started }),
      onPollFailed: (message, n) => this.#emit({ type: "poll_failed", message, consecutive: n }),
    });

    const urls = progress.hostnames.map((h) => publicUrl(h, d.env));
    const verified = await this.#verify(originProbeUrl(this.#tunnel.endpoint), urls[0] as string);
    if (!verified.up) {
      if (d.signal.aborted) throw new SetupAborted("cancelled while verifying");
      throw new Rejected(
        `the public URL ${verified.url} did not answer below 500 within ${Math.round(PUBLIC_PROBE_BUDGET_MS / 60_000)} minutes`,
        verified.status !== null ? `last answer: HTTP ${verified.status}` : (verified.error ?? undefined),
      );
    }
    this.#tunnel = { ...this.#tunnel, hostnames: progress.hostnames };
    this.#heartbeat?.resync(); // re-patch the connection details after setup (as upstream)
    this.#emit({ type: "ready", tunnel: this.#tunnel, urls, endpointId: d.endpointId, elapsedMs: performance.now() - this.#started });
    this.#publicUrl = urls[0];
    trimAfterStart(); // the main thread's heap, past setup and verification (heap-trim.ts)
  }

  /** Find by endpoint or create; or use `--id` (which must exist and agree with `--endpoint`). */
  async #resolveTunnel(details: DeviceAddress): Promise<{ tunnel: TunnelSummary; kind: "created" | "found" | "updated" }> {
    const { service, project } = this.#d;
    const req = this.#req;
    let existing: TunnelSummary | undefined;
    if (req.id) {
      existing = await service.get(req.id);
      if (!existing) throw new Rejected(`Tunnel '${req.id}' not found in project ${project}`, "run 'tunnel list' to see this project's tunnels", "not_found");
      if (req.endpoint !== undefined && normalizeEndpoint(req.endpoint) !== existing.endpoint) {
        throw new UsageError(
          `--id '${req.id}' references endpoint '${existing.endpoint}' but --endpoint was '${normalizeEndpoint(req.endpoint)}' — they must agree (or omit --endpoint to inherit from the tunnel)`,
        );
      }
    } else if (req.endpoint !== undefined) {
      const roots = [...new Set([resolve(this.#d.slotDir, "..", ".."), stateRoot("user", { env: this.#d.env }), stateRoot("system", { env: this.#d.env })])];
      const decision = await service.findAdoptable(req.endpoint, await liveIdentities(roots, this.#d.slotDir));
      if (decision.kind === "adopt") existing = decision.tunnel;
      else {
        const line = passedOverLine(normalizeEndpoint(req.endpoint), decision.passedOver);
        if (line) this.#emit({ type: "notice", line });
      }
    }
    if (!existing) {
      const endpoint = normalizeEndpoint(req.endpoint as string);
      const tunnel = await service.create({ label: req.label ?? req.createLabel ?? (req.endpoint as string).trim(), endpoint, details });
      return { tunnel, kind: "created" };
    }
    if (req.label === undefined || req.label === existing.label) return { tunnel: existing, kind: "found" };
    const question = `Update tunnel label to '${req.label}'? [y/N] `;
    if (!req.yes) {
      if (!req.confirm) {
        log.warn(`tunnel ${existing.id} keeps its label '${existing.label}'; pass --yes to change it to '${req.label}'`);
        return { tunnel: existing, kind: "found" };
      }
      if (!(await req.confirm(question))) return { tunnel: existing, kind: "found" };
    }
    return { tunnel: await service.update(existing.id, { label: req.label }), kind: "updated" };
  }

  /** The ListenNode reads the allow-list the service just wrote (docs/wire-facts.md#allow-list: updated with the file). */
  async #syncAllowList(): Promise<void> {
    const entries = await readAllowList(slotFiles(this.#d.slotDir).allowList);
    this.#dataPlane?.setAllowList(workerEntries(entries));
  }

  /** Upstream's wait: 40 × 250 ms for iroh to report a home relay; then go on without one. */
  async #awaitHomeRelay(): Promise<void> {
    for (let i = 0; i < HOME_RELAY_POLLS && !this.#endpoint?.homeRelay; i++) {
      if (i === 0) log.withTag("relay").debug("waiting for iroh to reach a relay");
      try {
        await abortableSleep(HOME_RELAY_POLL_MS, this.#d.signal);
      } catch {
        return;
      }
    }
    if (!this.#endpoint?.homeRelay) {
      this.#emit({ type: "notice", line: `warning: no relay reached within ${(HOME_RELAY_POLLS * HOME_RELAY_POLL_MS) / 1000}s; the Connector's connection details wait until iroh reaches one` });
    }
  }

  async #startHeartbeat(placeholder: string | null): Promise<void> {
    const d = this.#d;
    const heartbeat = new HeartbeatClient({
      apiBase: d.apiBase,
      project: d.project,
      endpointId: d.endpointId,
      endpoint: () => this.#endpoint as DataPlaneEndpoint,
      placeholderRelay: placeholder,
      proxy: proxySettingsFrom(d.env),
      tokens: d.tokens,
      log: this.#fromWorker,
      onReport: (report) => this.#onHeartbeat(report),
      onRespawn: () => this.#pathEvent("the heartbeat worker restarted"),
    });
    this.#heartbeat = heartbeat;
    await heartbeat.start();
  }

  #onHeartbeat(msg: HeartbeatReport): void {
    switch (msg.type) {
      case "resolved":
        this.#hb = { ...this.#hb, connector: msg.connector };
        return;
      case "renewed":
        this.#hb = { ...this.#hb, renewals: this.#hb.renewals + 1, lastRenewalAt: new Date(msg.at).toISOString() };
        this.#leaseDurationS = msg.leaseDurationS;
        if (this.#leaseLapsed) {
          this.#leaseLapsed = false;
          this.#pathEvent("the lease was lost and regained");
        }
        return;
      case "lease_lapsed":
        this.#leaseLapsed = true;
        this.#emit({ type: "notice", line: `lease lost during sleep (${Math.round(msg.sinceMs / 1000)}s since the last renewal); re-enabling` });
        return;
      case "heartbeat_failed":
        this.#hb = { ...this.#hb, failures: this.#hb.failures + 1, lastError: { message: `${msg.step}: ${msg.message}`, at: new Date(msg.at).toISOString() } };
        log.withTag("heartbeat").debug(`${msg.step} failed: ${msg.message}`);
        return;
      default:
        log.withTag("heartbeat").debug(msg.type);
    }
  }

  async #verify(originUrl: string | null, url: string): Promise<ProbeSummary> {
    const d = this.#d;
    this.#emit({ type: "verifying" });
    const result = await verify(
      { originUrl, originBudgetMs: ORIGIN_PROBE_BUDGET_MS, publicUrl: url, publicBudgetMs: PUBLIC_PROBE_BUDGET_MS, proxy: proxySettingsFrom(d.env) },
      {
        signal: d.signal,
        log: this.#fromWorker,
        onReport: (msg) => {
          if (msg.type === "probed") return this.#emit({ type: "probed", target: msg.target, result: msg.result });
          if (msg.target === "public" && (msg.status === null || msg.status >= 500)) this.#repatchAfterFailedProbe();
          this.#emit({ type: "probe_attempt", target: msg.target, url: msg.url, elapsedMs: msg.elapsedMs, status: msg.status, error: msg.error });
        },
      },
    );
    return result.public;
  }

  /** After a failed public-URL probe the connection details are re-patched, at most once per 10 s (as upstream). */
  #repatchAfterFailedProbe(): void {
    const now = performance.now();
    if (now - this.#lastRepatchAt < REPATCH_EVERY_MS) return;
    this.#lastRepatchAt = now;
    this.#heartbeat?.resync();
  }

  #workerRestarts(): number {
    return (this.#dataPlane?.status().restarts ?? 0) + (this.#heartbeat?.status()?.restarts ?? 0);
  }

  /**
   * Something that can break the path from the edge to this device happened (`after` says what):
   * re-verify the public URL. While it fails the tunnel is recorded degraded, with the reason, and
   * recovered once it answers (readiness.ts). Before ready, setup's own verification covers it.
   */
  #pathEvent(after: string): void {
    if (this.#publicUrl === undefined || this.#d.signal.aborted) return;
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
    const d = this.#d;
    const url = this.#publicUrl as string;
    log.withTag("verify").debug(`re-verifying ${url} after ${after}`);
    await verify(
      { originUrl: null, originBudgetMs: 0, publicUrl: url, publicBudgetMs: PATH_RECHECK_BUDGET_MS, proxy: proxySettingsFrom(d.env) },
      {
        signal: d.signal,
        log: this.#fromWorker,
        onReport: (msg) => {
          if (msg.type !== "attempt" || msg.target !== "public") return;
          const failed = msg.status === null || msg.status >= 500;
          if (failed) {
            this.#repatchAfterFailedProbe();
            const reason = msg.status !== null ? `HTTP ${msg.status}` : (msg.error ?? "no answer");
            if (this.#pathFailing === undefined) this.#emit({ type: "path_checked", check: { ok: false, after, reason } });
            this.#pathFailing = after;
          } else if (this.#pathFailing !== undefined) {
            this.#pathFailing = undefined;
            this.#emit({ type: "path_checked", check: { ok: true, after, reason: null } });
          }
        },
      },
    );
  }

  /** The 10 s runtime watch (docs/architecture.md#listen-flow): terminal failure or upstream deletion ends the listen. */
  async #watch(): Promise<number> {
    const d = this.#d;
    const id = (this.#tunnel as TunnelSummary).id;
    let objects: string | undefined;
    let restarts = this.#workerRestarts();
    for (;;) {
      try {
        await abortableSleep(RUNTIME_POLL_MS, d.signal);
      } catch {
        return 0;
      }
      let progress;
      try {
        progress = await d.service.progress(id, { advertisement: true });
      } catch (err) {
        // Recorded: consecutive failed polls make the tunnel not ready (readiness.ts).
        const message = err instanceof Error ? err.message : String(err);
        log.withTag("watch").debug(`progress poll failed: ${message}`);
        this.#emit({ type: "watched", poll: { ok: false, message } });
        continue;
      }
      if (!progress) {
        this.#emit({ type: "ended", kind: "deleted_upstream", id, message: `Tunnel ${id} no longer exists on the server. Stopping.` });
        return 64;
      }
      const failed = terminalFailure(progress);
      if (failed) {
        this.#emit({ type: "ended", kind: "terminal_failure", id, message: `  Tunnel is no longer reachable from the edge.\n${formatTerminalFailure(failed)}` });
        return 64;
      }
      if (progress.endpoint && progress.endpoint !== normalizeEndpoint((this.#tunnel as TunnelSummary).endpoint)) {
        await this.#followEndpoint(progress.endpoint);
      }
      this.#emit({ type: "watched", poll: { ok: true, progress } });
      // The tunnel's objects changed upstream, or a worker restarted: re-verify the public URL;
      // one that still fails is re-verified at every poll until it answers.
      const now = JSON.stringify([progress.hostnames, progress.endpoint, progress.advertised, progress.steps.map((s) => [s.step, s.status])]);
      const restartsNow = this.#workerRestarts();
      if (objects !== undefined && now !== objects) this.#pathEvent("the tunnel's objects changed upstream");
      else if (restartsNow > restarts) this.#pathEvent("a worker restarted");
      else if (this.#pathFailing !== undefined) this.#pathEvent(this.#pathFailing);
      objects = now;
      restarts = restartsNow;
    }
  }

  /**
   * The tunnel's endpoint was changed elsewhere (`tunnel update --endpoint`): serve the new one
   * from the next request on, within one runtime poll, instead of answering 403 until a restart.
   */
  async #followEndpoint(endpoint: string): Promise<void> {
    const tunnel = this.#tunnel as TunnelSummary;
    let target;
    try {
      target = parseTarget(endpoint);
    } catch {
      this.#emit({ type: "notice", line: `warning: tunnel ${tunnel.id} now names endpoint ${endpoint}, which this agent cannot serve; still serving ${tunnel.endpoint}` });
      return;
    }
    const path = slotFiles(this.#d.slotDir).allowList;
    await updateAllowList(path, (entries) => upsertEntry(entries, { id: tunnel.id, label: tunnel.label, host: target.host, port: target.port, enabled: true }));
    await this.#syncAllowList();
    this.#tunnel = { ...tunnel, endpoint };
    this.#emit({ type: "notice", line: `tunnel ${tunnel.id} now forwards to ${endpoint} (changed on the platform)` });
  }

  /** Disable the advertisement (unless the tunnel is gone), stop workers, release the slot. */
  async #tearDown(code: number, quiet = false): Promise<number> {
    const d = this.#d;
    this.#emit({ type: "closing" });
    const id = this.#tunnel?.id;
    if (id) {
      if (!quiet) this.#emit({ type: "disabling" });
      try {
        const withdrawn = await d.service.withdraw(id);
        await this.#syncAllowList();
        if (withdrawn.outcome === "moved") {
          this.#emit({ type: "notice", line: `tunnel ${id} is now served by Connector ${withdrawn.connectorName ?? "(none)"}; left enabled for it` });
        } else if (!quiet) this.#emit({ type: "disabled", id });
      } catch (err) {
        if (!(err instanceof Rejected)) {
          this.#emit({ type: "disable_failed", id, message: err instanceof Error ? err.message : String(err), exit: err instanceof CliError ? err.exit : undefined });
        }
      }
    }
    await this.#heartbeat?.stop();
    await this.#dataPlane?.stop();
    await d.tokens.stop();
    this.#lock?.release();
    return code;
  }
}
