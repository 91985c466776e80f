/**
 * The heartbeat of one project (docs/wire-facts.md#heartbeat): keep the Connector's
 * `status.connectionDetails` equal to what the local endpoint really has, and keep its Lease fresh
 * so the platform keeps the Connector Ready. It runs inside `workers/heartbeat.ts`; time, the
 * client and the endpoint's details are injected so tests drive it against the local Datum with a
 * short lease and no sleeping of their own.
 */
import type { ControlPlaneClient } from "../controlplane/client.ts";
import { isCelIP, type ConnectionDetails } from "../controlplane/schemas.ts";
import { CliError } from "../errors.ts";
import type { AbortableClock } from "../retry/sleep.ts";
import {
  DEFAULT_LEASE_DURATION_S,
  heartbeatBackoffMs,
  leaseLapsed,
  microTime,
  renewalIntervalMs,
} from "./schedule.ts";

/** What the data plane currently knows about this endpoint. */
export interface EndpointDetails {
  readonly endpointId: string;
  /** Direct socket addresses, as the data plane reports them. */
  readonly addresses: readonly { readonly address: string; readonly port: number }[];
  readonly homeRelay: string | null;
}

export type HeartbeatEvent =
  | { type: "resolved"; connector: string; lease: string | undefined }
  | { type: "patched"; at: number }
  | { type: "renewed"; at: number; leaseDurationS: number }
  | { type: "lease_lapsed"; at: number; sinceMs: number }
  | { type: "failed"; at: number; step: string; message: string; attempt: number; retryInMs: number };

export interface HeartbeatOptions {
  readonly client: Pick<ControlPlaneClient, "list" | "get" | "patch" | "patchStatus">;
  readonly details: () => EndpointDetails | undefined;
  /**
   * The local Datum's declared placeholder relay, published while iroh reports none. Nothing else
   * is ever published as a home relay but what iroh reported (docs/relays.md).
   */
  readonly placeholderRelay?: string | undefined;
  readonly clock: AbortableClock;
  readonly random?: () => number;
  readonly onEvent: (event: HeartbeatEvent) => void;
  readonly log: (level: "debug" | "info" | "warn", msg: string) => void;
}

interface Cache {
  connector: string;
  lease?: string;
  leaseDurationS?: number;
  /** The relay iroh last reported, kept while it briefly reports none. */
  homeRelay?: string;
  /** Serialized details of the last successful status patch. */
  lastDetails?: string;
}

/** A step failed in a way that tells us the cached names are stale (Lease or Connector gone). */
class Stale extends Error {}

const MAX_ADDRESSES = 16;
const NO_CONNECTOR_YET = "no connector yet";

/** The Connector status the platform expects (docs/wire-facts.md#connector), or why there is none. */
export function connectionDetails(details: EndpointDetails, homeRelay: string | undefined): ConnectionDetails | undefined {
  if (!homeRelay) return undefined;
  // The CRD takes at most 16 addresses, each a plain IP (no IPv6 zone): skip what it would reject.
  const addresses = details.addresses
    .filter((a) => isCelIP(a.address) && a.port >= 1 && a.port <= 65535)
    .map((a) => ({ address: a.address, port: a.port }))
    .slice(0, MAX_ADDRESSES);
  return {
    type: "PublicKey",
    publicKey: { id: details.endpointId, discoveryMode: "DNS", homeRelay, addresses },
  };
}

function isNotFound(err: unknown): boolean {
  return err instanceof CliError && err.code === "not_found";
}

export class HeartbeatLoop {
  readonly #o: HeartbeatOptions;
  readonly #random: () => number;
  #cache: Cache | undefined;
  #failures = 0;
  #lastRenewedAt: number | undefined;
  #resyncRequested = false;
  /** The Connector's name as setup knows it, for when its status carries no endpoint id to find it by. */
  #connectorHint: string | undefined;
  #wake: AbortController | undefined;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Publish the connection details again now, even if unchanged, and cut the current wait short:
   * the session calls it once the tunnel's Connector exists, after setup, and after a failed
   * public-URL probe (docs/wire-facts.md#relays).
   */
  resync(connector?: string): void {
    if (connector) this.#connectorHint = connector;
    this.#resyncRequested = true;
    this.#wake?.abort();
  }

  /** Run until `signal` aborts. Never throws for control-plane trouble: it backs off and retries. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let waitMs: number;
      try {
        waitMs = await this.#iteration();
        this.#failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof Stale) this.#cache = undefined;
        waitMs = this.#failed(err);
      }
      if (this.#resyncRequested) continue; // asked for while this pass ran: go again at once
      const wake = new AbortController();
      this.#wake = wake;
      const onAbort = () => wake.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await this.#o.clock.sleep(waitMs, wake.signal);
      } catch {
        if (signal.aborted) return;
      } finally {
        signal.removeEventListener("abort", onAbort);
        this.#wake = undefined;
      }
    }
  }

  #failed(err: unknown): number {
    const attempt = this.#failures++;
    const retryInMs = heartbeatBackoffMs(attempt);
    const message = err instanceof Error ? err.message : String(err);
    const step = err instanceof StepError ? err.step : "heartbeat";
    this.#o.onEvent({ type: "failed", at: this.#o.clock.now(), step, message, attempt, retryInMs });
    // One line per backoff step, never a flood: the attempt count and the next wait are in it.
    // No Connector yet is the normal state until setup creates it (the session resyncs then).
    const level = err instanceof StepError && err.step === "connector lookup" && err.message === NO_CONNECTOR_YET ? "debug" : "warn";
    this.#o.log(level, `heartbeat: ${step} failed (attempt ${attempt + 1}, retrying in ${Math.round(retryInMs / 1000)}s): ${message}`);
    return retryInMs;
  }

  /** One pass of docs/wire-facts.md#heartbeat; returns how long to wait before the next. */
  async #iteration(): Promise<number> {
    const details = this.#o.details();
    const resync = this.#resyncRequested;
    this.#resyncRequested = false;
    if (!details) throw new StepError("endpoint", "the data plane has not reported its endpoint yet");
    if (resync && this.#cache) this.#cache.lastDetails = undefined;
    const cache = this.#cache ?? (await this.#resolve(details.endpointId));

    if (cache.lease === undefined) {
      const connector = await step("connector", () => this.#o.client.get("Connector", cache.connector));
      if (!connector) throw new Stale(`connector ${cache.connector} no longer exists`);
      const lease = connector.status?.leaseRef?.name;
      if (!lease) throw new StepError("lease", `connector ${cache.connector} has no lease yet`);
      cache.lease = lease;
    }

    const homeRelay = details.homeRelay ?? cache.homeRelay ?? this.#o.placeholderRelay;
    const wanted = connectionDetails(details, homeRelay ?? undefined);
    if (!wanted) throw new StepError("details", "missing home relay");
    const serialized = JSON.stringify(wanted);
    if (serialized !== cache.lastDetails) {
      try {
        await this.#o.client.patchStatus("Connector", cache.connector, { status: { connectionDetails: wanted } });
        cache.lastDetails = serialized;
        if (details.homeRelay) cache.homeRelay = details.homeRelay;
        this.#o.onEvent({ type: "patched", at: this.#o.clock.now() });
      } catch (err) {
        if (isNotFound(err)) throw new Stale(`connector ${cache.connector} no longer exists`);
        // A failed status patch is retried next round; the lease renewal still goes ahead.
        this.#o.log("warn", `heartbeat: connection details patch failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    const leaseName = cache.lease;
    if (cache.leaseDurationS === undefined) {
      const lease = await step("lease", () => this.#o.client.get("Lease", leaseName));
      if (!lease) throw new Stale(`lease ${leaseName} not found`);
      cache.leaseDurationS = lease.spec?.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_S;
    }

    const now = this.#o.clock.now();
    // Only a lapse nobody saw coming is news (the process or machine slept). After failed renewals
    // (an outage, a revoked login) each failure already said so, once per backoff step; repeating
    // "lease lost during sleep" on every retry would be wrong and a second line per step.
    if (this.#failures === 0 && leaseLapsed(this.#lastRenewedAt, cache.leaseDurationS, now)) {
      const sinceMs = now - (this.#lastRenewedAt ?? now);
      this.#o.onEvent({ type: "lease_lapsed", at: now, sinceMs });
      // Detail only: the event is what the user hears about, as one line (issue 8 item 4), from the
      // session ("lease lost during sleep (…); re-enabling"); a warning here would say it twice.
      this.#o.log("debug", `heartbeat: lease lost during sleep (${Math.round(sinceMs / 1000)}s since the last renewal); renewing`);
    }
    try {
      await this.#o.client.patch("Lease", leaseName, { spec: { renewTime: microTime(now) } });
    } catch (err) {
      if (isNotFound(err)) throw new Stale(`lease ${leaseName} not found`);
      throw new StepError("lease renewal", err instanceof Error ? err.message : String(err));
    }
    this.#lastRenewedAt = now;
    this.#o.onEvent({ type: "renewed", at: now, leaseDurationS: cache.leaseDurationS });
    return renewalIntervalMs(cache.leaseDurationS, this.#random);
  }

  async #resolve(endpointId: string): Promise<Cache> {
    const listed = await step("connector lookup", () =>
      this.#o.client.list("Connector", { fieldSelector: { "status.connectionDetails.publicKey.id": endpointId } }),
    );
    // Filtered again here, as `TunnelService.findConnector` does: a server that ignored the selector
    // must not hand us another device's Connector to overwrite (docs/wire-facts.md#connector-resolution).
    const connectors = listed.filter((c) => c.status?.connectionDetails?.publicKey?.id === endpointId);
    if (connectors.length === 0 && this.#connectorHint) {
      // Never published (no relay reached yet): found by the name setup gave, if it is not another endpoint's.
      const hinted = await step("connector lookup", () => this.#o.client.get("Connector", this.#connectorHint as string));
      const id = hinted?.status?.connectionDetails?.publicKey?.id;
      if (hinted && (id === undefined || id === endpointId)) connectors.push(hinted);
    }
    const first = connectors[0];
    if (!first?.metadata.name) throw new StepError("connector lookup", NO_CONNECTOR_YET);
    if (connectors.length > 1) this.#o.log("debug", "heartbeat: several connectors carry this endpoint id; using the first");
    const cache: Cache = { connector: first.metadata.name };
    const lease = first.status?.leaseRef?.name;
    if (lease) cache.lease = lease;
    // The relay in the Connector's status is not taken over: it may be a previous run's, which
    // iroh has not reached this time (docs/wire-facts.md#relays: never publish a guess).
    this.#cache = cache;
    this.#o.onEvent({ type: "resolved", connector: cache.connector, lease: cache.lease });
    return cache;
  }
}

class StepError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StepError || err instanceof Stale) throw err;
    throw new StepError(name, err instanceof Error ? err.message : String(err));
  }
}
