/**
 * What one identity runs, whatever it serves (docs/architecture.md#listen-flow): the slot's lock,
 * the token source, the ListenNode worker (one iroh endpoint), the heartbeat worker (one
 * Connector, one Lease) and a verifier shared by every verification in flight. A single tunnel
 * (`ListenSession`) and a group (`GroupSession`, docs/groups.md) both run one agent; each tunnel
 * they serve is a `ServiceRun` on top of it.
 *
 * Something that can break the path from the edge to this device (new addresses, another home
 * relay, a restarted worker, a lease lost and regained) is told to every subscriber, so each
 * tunnel re-verifies its own public URL.
 */
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { HeartbeatClient, type HeartbeatReport } from "../heartbeat/client.ts";
import type { TokenSource } from "../auth/token-source.ts";
import type { DataPlane, DataPlaneEndpoint } from "../dataplane/client.ts";
import { loadDataPlane } from "../dataplane/client.ts";
import { placeholderRelay, relayUrls } from "../dataplane/relays.ts";
import { UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { proxySettingsFrom, type ProxySettings } from "../net/proxy.ts";
import { readAllowList, type AllowEntry } from "../state/allowlist.ts";
import { acquireSlotLock, type SlotLock } from "../state/lock.ts";
import { slotFiles } from "../state/paths.ts";
import type { DeviceAddress } from "../tunnel/service.ts";
import { Verifier } from "../verify/client.ts";
import { abortableSleep } from "../retry/sleep.ts";
import { checkDataPlane, type WatchdogCheck } from "../service/watchdog.ts";
import type { ListenEvent } from "./events.ts";
import type { LiveFigures } from "./run-recorder.ts";

/** Before the first connection details: iroh gets 40 × 250 ms to report a home relay (upstream). */
const HOME_RELAY_POLLS = 40;
const HOME_RELAY_POLL_MS = 250;
/** Connection details are re-patched after a failed public-URL probe at most this often. */
const REPATCH_EVERY_MS = 10_000;

export interface AgentDeps {
  readonly project: string;
  readonly apiBase: string;
  readonly tokens: TokenSource;
  readonly slotDir: string;
  /** The datumctl session, for status. */
  readonly session?: string | undefined;
  /** `run.json` of the slot: its `boundPort` is reused so a restart keeps its addresses. */
  readonly runPath: string;
  /** What the slot is, for messages: `project web`, `tunnel dev-app` or `group web-stack`. */
  readonly slotLabel: string;
  readonly secretKey: Uint8Array;
  readonly endpointId: string;
  /** Where the agent's own events go (`endpoint_id`, notices). */
  readonly emit: (event: ListenEvent) => void;
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

export class ListenAgent {
  readonly #d: AgentDeps;
  readonly #workerLog = log.withTag("worker");
  readonly fromWorker = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void => {
    this.#workerLog[level](fields ? `${msg} ${JSON.stringify(fields)}` : msg);
  };
  readonly verifier = new Verifier(this.fromWorker);
  readonly proxy: ProxySettings;
  #lock: SlotLock | undefined;
  #dataPlane: DataPlane | undefined;
  #endpoint: DataPlaneEndpoint | undefined;
  #heartbeat: HeartbeatClient | undefined;
  #placeholder: string | null = null;
  #hb: LiveFigures["heartbeat"] = { connector: null, lastRenewalAt: null, renewals: 0, failures: 0, lastError: null };
  /** The Lease's duration as the heartbeat last read it (30 s until it says otherwise). */
  #leaseDurationS = 30;
  #leaseLapsed = false;
  #lastRepatchAt = -Infinity;
  readonly #pathListeners = new Set<(after: string) => void>();

  constructor(deps: AgentDeps) {
    this.#d = deps;
    this.proxy = proxySettingsFrom(deps.env);
  }

  get endpointId(): string {
    return this.#d.endpointId;
  }

  /** Lock the slot, log in, bind the endpoint, start the heartbeat, and give iroh its time to reach a relay. */
  async start(): Promise<void> {
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
    const dataPlane = await loadDataPlane({ log: this.fromWorker });
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
    d.emit({ type: "endpoint_id", endpointId: d.endpointId });

    // Only a relay iroh reports is ever published; the one exception is a placeholder the local
    // Datum declares for itself (docs/relays.md). The heartbeat runs before any tunnel is found or
    // created, and the first connection details wait (up to 10 s) for the relay iroh reaches.
    this.#placeholder = placeholderRelay(d.env);
    await this.#startHeartbeat();
    if (!this.#placeholder) await this.#awaitHomeRelay();
  }

  /** The connection details to publish now: iroh's relay (or the declared placeholder) and addresses. */
  details(): DeviceAddress {
    const ep = this.#endpoint;
    const homeRelay = ep?.homeRelay ?? this.#placeholder ?? undefined;
    return { ...(homeRelay ? { homeRelay } : {}), addresses: ep?.addresses ?? [] };
  }

  /** The ListenNode reads the allow-list the service just wrote (docs/wire-facts.md#allow-list: updated with the file). */
  async syncAllowList(): Promise<void> {
    const entries = await readAllowList(slotFiles(this.#d.slotDir).allowList);
    this.#dataPlane?.setAllowList(workerEntries(entries));
  }

  /** Publish the connection details again now (optionally naming the Connector setup made or found). */
  resync(connector?: string): void {
    this.#heartbeat?.resync(connector);
  }

  /** After a failed public-URL probe the connection details are re-patched, at most once per 10 s (as upstream). */
  repatchAfterFailedProbe(): void {
    const now = performance.now();
    if (now - this.#lastRepatchAt < REPATCH_EVERY_MS) return;
    this.#lastRepatchAt = now;
    this.#heartbeat?.resync();
  }

  workerRestarts(): number {
    return (this.#dataPlane?.status().restarts ?? 0) + (this.#heartbeat?.status()?.restarts ?? 0);
  }

  /** Hear every event that can break the path from the edge to this device; returns the unsubscribe. */
  onPathEvent(listener: (after: string) => void): () => void {
    this.#pathListeners.add(listener);
    return () => this.#pathListeners.delete(listener);
  }

  #pathEvent(after: string): void {
    for (const listener of this.#pathListeners) listener(after);
  }

  /** The agent's live figures for `run.json`, `status` and `/metrics` (see RunRecorder). */
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

  /** Stop the workers and the token source, release the slot. */
  async stop(): Promise<void> {
    await this.#heartbeat?.stop();
    await this.#dataPlane?.stop();
    await this.#d.tokens.stop();
    this.#lock?.release();
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
      this.#d.emit({ type: "notice", line: `warning: no relay reached within ${(HOME_RELAY_POLLS * HOME_RELAY_POLL_MS) / 1000}s; the Connector's connection details wait until iroh reaches one` });
    }
  }

  async #startHeartbeat(): Promise<void> {
    const d = this.#d;
    const heartbeat = new HeartbeatClient({
      apiBase: d.apiBase,
      project: d.project,
      endpointId: d.endpointId,
      endpoint: () => this.#endpoint as DataPlaneEndpoint,
      placeholderRelay: this.#placeholder,
      proxy: this.proxy,
      tokens: d.tokens,
      log: this.fromWorker,
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
        this.#d.emit({ type: "notice", line: `lease lost during sleep (${Math.round(msg.sinceMs / 1000)}s since the last renewal); re-enabling` });
        return;
      case "heartbeat_failed":
        this.#hb = { ...this.#hb, failures: this.#hb.failures + 1, lastError: { message: `${msg.step}: ${msg.message}`, at: new Date(msg.at).toISOString() } };
        log.withTag("heartbeat").debug(`${msg.step} failed: ${msg.message}`);
        return;
      default:
        log.withTag("heartbeat").debug(msg.type);
    }
  }
}
