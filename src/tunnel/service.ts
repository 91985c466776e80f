/**
 * Tunnel management for one project (docs/wire-facts.md#tunnel-operations, upstream's newer behaviour): a
 * tunnel is an HTTPProxy `tunnel-*`, a ConnectorAdvertisement of the same name while enabled, optionally
 * a TrafficProtectionPolicy of the same name, all pointing at this device identity's Connector; plus the
 * identity's local allow-list entry.
 *
 * Decisions beyond upstream, each to avoid leaving the platform in a state nobody asked for:
 * - `create` cleans up after itself: when a later object fails, the ones made in this call are
 *   deleted again (upstream left the HTTPProxy behind, holding quota and a hostname).
 * - Only a caller with a live data plane (`details` given) or `create` may make a new Connector.
 *   `update`, `disable`, and `enable` without details reuse this identity's Connector or else keep
 *   the tunnel's current one: a Connector created without connection details can never be found
 *   again by endpoint id, and pointing a tunnel at it would take the tunnel offline.
 * - No-op writes are skipped by comparing what would be written with what is there (docs/wire-facts.md#writes).
 */
import { log } from "../log.ts";
import { CliError, Malformed, Rejected, Unreachable, UsageError } from "../errors.ts";
import type { ControlPlaneClient, ReadOptions } from "../controlplane/client.ts";
import type { Connector, HTTPProxy } from "../controlplane/schemas.ts";
import { removeEntry, setEntryEnabled, upsertEntry, updateAllowList } from "../state/allowlist.ts";
import { deviceAnnotations, DEVICE_NAME_ANNOTATION } from "./device.ts";
import { advertisementSpec, normalizeEndpoint, parseTarget, type Target } from "./endpoint.ts";
import {
  ADVERTISEMENT_CONNECTOR_FIELD,
  advertisementBody,
  CONNECTOR_ENDPOINT_FIELD,
  conditionTrue,
  connectorBody,
  connectorReady,
  covers,
  DEFAULT_CONNECTOR_CLASS,
  httpProxyBody,
  isDeleting,
  LABEL_ANNOTATION,
  proxyConnectorName,
  proxyEndpoint,
  proxyLabel,
  proxyRules,
  CONNECTOR_NAME_PREFIX,
  trafficProtectionEnabled,
  trafficProtectionPolicyBody,
  tunnelShape,
} from "./objects.ts";
import { computeProgress, proxyHostnames, type TunnelProgress } from "./progress.ts";
import { decideAdoption, type AdoptionDecision, type LiveIdentity } from "./adoption.ts";

export interface TunnelSummary {
  /** The HTTPProxy name, `tunnel-…`. */
  readonly id: string;
  readonly label: string;
  /** Normalized endpoint, e.g. `http://127.0.0.1:3000`. */
  readonly endpoint: string;
  readonly hostnames: string[];
  /** A ConnectorAdvertisement of the same name exists. */
  readonly enabled: boolean;
  readonly accepted: boolean;
  readonly programmed: boolean;
  /** `ConnectorMetadataProgrammed` is True or absent (absent outside EnvoyPatchPolicy mode). */
  readonly connectorMetadataProgrammed: boolean;
  readonly connectorName?: string;
  readonly connectorReady: boolean;
  /** The Connector's `datum.net/device-name`. */
  readonly deviceName?: string;
  /** The endpoint id in the Connector's status: the identity that serves (or last served) it. */
  readonly connectorEndpointId?: string;
  /** Marked for deletion, still listed until the platform's finalizers finish (docs/wire-facts.md#connector-resolution). */
  readonly deleting: boolean;
}

/** A Connector no tunnel references (left behind by an agent that never cleaned up). */
export interface OrphanedConnector {
  readonly name: string;
  readonly ready: boolean;
  readonly deviceName?: string;
}

/** Where the device can be reached, as the data plane knows it; written to the Connector's status. */
export interface DeviceAddress {
  /** Home relay URL; without one, the Connector status cannot be written (the CRD requires it). */
  readonly homeRelay?: string;
  readonly addresses: readonly { readonly address: string; readonly port: number }[];
}

export interface EnsuredConnector {
  readonly connector: Connector;
  readonly name: string;
  /** Created by this call (rather than found). */
  readonly created: boolean;
}

export interface TunnelDeleteOutcome {
  readonly id: string;
  readonly proxyDeleted: boolean;
  readonly advertisementDeleted: boolean;
  readonly policyDeleted: boolean;
  /** This identity's Connector was deleted because no tunnel uses it any more (stop its heartbeat). */
  readonly connectorDeleted: boolean;
  readonly connectorName?: string;
}

export interface ServiceLog {
  warn(message: string): void;
  debug(message: string): void;
}

export interface TunnelServiceOptions {
  readonly client: ControlPlaneClient;
  /** This device identity's endpoint id (64 hex), from the slot's `listen_key`. */
  readonly endpointId: string;
  /** The identity slot's `state.yml`. */
  readonly allowListPath: string;
  /** Connector device annotations; the machine's own by default. */
  readonly deviceAnnotations?: Record<string, string>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly log?: ServiceLog;
}

export class TunnelService {
  readonly project: string;
  readonly endpointId: string;
  readonly #client: ControlPlaneClient;
  readonly #allowListPath: string;
  readonly #annotations: Record<string, string>;
  readonly #createPolicies: boolean;
  readonly #log: ServiceLog;
  /** The Connector this instance created for its identity (findable by name until it publishes details). */
  #createdConnector: string | undefined;

  constructor(options: TunnelServiceOptions) {
    this.#client = options.client;
    this.project = options.client.project;
    this.endpointId = options.endpointId;
    this.#allowListPath = options.allowListPath;
    this.#annotations = options.deviceAnnotations ?? deviceAnnotations();
    this.#createPolicies = trafficProtectionEnabled(options.env ?? process.env);
    this.#log = options.log ?? log.withTag("tunnel");
  }

  // ---------- connector ----------

  /**
   * This identity's Connector, found by the endpoint id in its status (never by adopting some other
   * Connector, docs/wire-facts.md#connector-resolution). Device annotations are merge-patched when they differ.
   */
  async findConnector(endpointId: string = this.endpointId, options: { patchAnnotations?: boolean } = {}): Promise<Connector | undefined> {
    const found = await this.#client.list("Connector", { fieldSelector: { [CONNECTOR_ENDPOINT_FIELD]: endpointId } });
    // Filtered again here: a server that ignored the selector must not hand us another device's Connector.
    const matches = found.filter((c) => c.status?.connectionDetails?.publicKey?.id === endpointId);
    if (matches.length === 0 && endpointId === this.endpointId && this.#createdConnector) {
      // Made by this process but never published (no relay reached yet): its status has no id to find it by.
      const made = await this.#client.get("Connector", this.#createdConnector);
      const id = made?.status?.connectionDetails?.publicKey?.id;
      if (made && (id === undefined || id === endpointId)) matches.push(made);
    }
    if (matches.length > 1) this.#log.debug(`Multiple connectors found for endpoint ${endpointId}, using first`);
    const connector = matches[0];
    if (!connector || options.patchAnnotations === false) return connector;
    return await this.#patchDeviceAnnotations(connector);
  }

  /**
   * Find this identity's Connector or create one; never delete and recreate it
   * (docs/wire-facts.md#connector). With `details`, its `status.connectionDetails` is (re)written, which
   * also nudges the platform's status replication after a restart.
   */
  async ensureConnector(endpointId: string = this.endpointId, details?: DeviceAddress): Promise<EnsuredConnector> {
    const existing = await this.findConnector(endpointId);
    if (existing) {
      const name = requireName(existing, "Connector");
      if (details) await this.#patchConnectionDetails(name, endpointId, details);
      return { connector: existing, name, created: false };
    }
    const className = await this.#resolveConnectorClass();
    const created = await this.#client.create("Connector", connectorBody(className, this.#annotations));
    const name = requireName(created, "Connector");
    if (endpointId === this.endpointId) this.#createdConnector = name;
    if (details) await this.#patchConnectionDetails(name, endpointId, details);
    return { connector: created, name, created: true };
  }

  // ---------- reading ----------

  /** Every `tunnel-*` HTTPProxy in the project, whichever device serves it. */
  async list(): Promise<TunnelSummary[]> {
    return (await this.listWithOrphans()).tunnels;
  }

  async listWithOrphans(): Promise<{ tunnels: TunnelSummary[]; orphanedConnectors: OrphanedConnector[] }> {
    const [proxies, ads, connectors] = await Promise.all([
      this.#client.list("HTTPProxy"),
      this.#client.list("ConnectorAdvertisement"),
      this.#client.list("Connector"),
    ]);
    const adNames = new Set(ads.map((ad) => ad.metadata.name));
    const connectorsByName = new Map(connectors.map((c) => [c.metadata.name, c]));
    // The project may hold HTTPProxies no tunnel agent wrote: skipped, never a failed listing.
    const tunnels: TunnelSummary[] = [];
    for (const p of proxies) {
      const shape = tunnelShape(p);
      if (!shape.tunnel) {
        this.#log.debug(`skipping HTTPProxy ${p.metadata.name ?? "<unnamed>"}: not a tunnel (${shape.reason})`);
        continue;
      }
      tunnels.push(summarize(p, adNames.has(p.metadata.name), connectorsByName.get(shape.connectorName), shape.connectorName));
    }
    // In use is in use, whoever's proxy routes through it; only an agent's own Connectors can be orphans.
    const referenced = new Set(proxies.map(proxyConnectorName));
    const orphanedConnectors = connectors
      .filter((c) => c.metadata.name?.startsWith(CONNECTOR_NAME_PREFIX) && !isDeleting(c) && !referenced.has(c.metadata.name))
      .map((c) => {
        const deviceName = c.metadata.annotations?.[DEVICE_NAME_ANNOTATION];
        return { name: c.metadata.name ?? "", ready: connectorReady(c), ...(deviceName ? { deviceName } : {}) };
      });
    return { tunnels, orphanedConnectors };
  }

  /** The tunnel, `undefined` when no such HTTPProxy exists; `Rejected` when one exists but is not a tunnel. */
  async get(id: string): Promise<TunnelSummary | undefined> {
    const proxy = await this.#client.get("HTTPProxy", id);
    if (!proxy) return undefined;
    const { connectorName } = requireTunnel(proxy);
    const [ad, connector] = await Promise.all([
      this.#client.get("ConnectorAdvertisement", id),
      this.#client.get("Connector", connectorName),
    ]);
    return summarize(proxy, ad !== undefined, connector, connectorName);
  }

  /** Every tunnel whose normalized endpoint equals `endpoint` normalized (exact spelling), in listing order. */
  async findByEndpoint(endpoint: string): Promise<TunnelSummary[]> {
    const wanted = normalizeEndpoint(endpoint);
    return (await this.list()).filter((t) => t.endpoint === wanted);
  }

  /**
   * The tunnel `listen --endpoint` may serve, or why none (docs/adoption.md): this identity's own,
   * else this device's when no running identity of this machine (`live`) holds it.
   */
  async findAdoptable(endpoint: string, live: readonly LiveIdentity[]): Promise<AdoptionDecision<TunnelSummary>> {
    const deviceName = this.#annotations[DEVICE_NAME_ANNOTATION] ?? "";
    return decideAdoption(await this.findByEndpoint(endpoint), { endpointId: this.endpointId, deviceName, live });
  }

  /**
   * Setup progress from the HTTPProxy and its Connector; `undefined` when the tunnel does not exist.
   * `budget` replaces the client's transient budget for these reads (a polling caller's own).
   */
  async progress(id: string, options: ReadOptions & { advertisement?: boolean } = {}): Promise<TunnelProgress | undefined> {
    const proxy = await this.#client.get("HTTPProxy", id, options);
    if (!proxy) return undefined;
    const connectorName = proxyConnectorName(proxy);
    // The runtime watch also asks whether the tunnel is still advertised (disabled from elsewhere).
    const [connector, ad] = await Promise.all([
      connectorName ? this.#client.get("Connector", connectorName, options) : Promise.resolve(undefined),
      options.advertisement ? this.#client.get("ConnectorAdvertisement", id, options) : Promise.resolve(undefined),
    ]);
    const progress = computeProgress(proxy, connector, options.advertisement ? ad !== undefined : undefined);
    // The runtime watch follows the endpoint: `tunnel update --endpoint` elsewhere must not leave
    // the running data plane allowing only the old one.
    return options.advertisement ? { ...progress, endpoint: proxyEndpoint(proxy) } : progress;
  }

  // ---------- writing ----------

  async create(input: {
    label: string;
    endpoint: string;
    endpointId?: string;
    details?: DeviceAddress;
  }): Promise<TunnelSummary> {
    const endpoint = normalizeEndpoint(input.endpoint);
    const target = parseTarget(endpoint);
    const ensured = await this.ensureConnector(input.endpointId ?? this.endpointId, input.details);

    let proxy: HTTPProxy;
    try {
      proxy = await this.#client.create("HTTPProxy", httpProxyBody(input.label, endpoint, ensured.name));
    } catch (err) {
      await this.#rollback(undefined, ensured);
      throw err;
    }
    const id = requireName(proxy, "HTTPProxy");
    try {
      await this.#client.create("ConnectorAdvertisement", advertisementBody(id, advertisementSpec(ensured.name, endpoint)));
      if (this.#createPolicies) await this.#client.create("TrafficProtectionPolicy", trafficProtectionPolicyBody(id));
    } catch (err) {
      await this.#rollback(id, ensured);
      throw err;
    }

    await updateAllowList(this.#allowListPath, (entries) =>
      upsertEntry(entries, { id, label: input.label, host: target.host, port: target.port, enabled: true }),
    );
    return summarize(proxy, true, ensured.connector, ensured.name);
  }

  /** Change label and/or endpoint; writes nothing that already matches. */
  async update(id: string, changes: { label?: string; endpoint?: string }): Promise<TunnelSummary> {
    const proxy = await this.#requireProxy(id);
    const label = changes.label ?? proxyLabel(proxy);
    const endpoint = normalizeEndpoint(changes.endpoint ?? proxyEndpoint(proxy));
    const target = changes.endpoint === undefined ? storedTarget(proxy, endpoint) : parseTarget(endpoint);
    const connectorName = await this.#connectorFor(proxy);
    const current = await this.#alignProxy(proxy, label, endpoint, connectorName);

    const ad = await this.#client.get("ConnectorAdvertisement", id);
    if (ad) {
      const spec = advertisementSpec(connectorName, endpoint);
      if (!covers(ad.spec, spec)) await this.#client.patch("ConnectorAdvertisement", id, { spec });
    }
    await updateAllowList(this.#allowListPath, (entries) =>
      upsertEntry(entries, { id, label, host: target.host, port: target.port, enabled: ad !== undefined }),
    );
    return summarize(current, ad !== undefined, undefined, connectorName);
  }

  /**
   * Enable (advertise) or disable (withdraw) a tunnel. Only a caller with a live data plane
   * (`details`: `listen`/`run`, which decided to serve this tunnel) re-points the proxy at this
   * identity's Connector, creating it if needed; a management command leaves the tunnel on the
   * Connector it has, so `enable` never moves a tunnel off the device that serves it.
   */
  async setEnabled(id: string, enabled: boolean, options: { details?: DeviceAddress } = {}): Promise<TunnelSummary> {
    const proxy = await this.#requireProxy(id);
    const label = proxyLabel(proxy);
    const endpoint = proxyEndpoint(proxy);
    const target = storedTarget(proxy, endpoint);

    let current = proxy;
    if (enabled) {
      const connectorName = await this.#connectorFor(proxy, options.details);
      current = await this.#alignProxy(proxy, label, endpoint, connectorName);
      const spec = advertisementSpec(connectorName, endpoint);
      const ad = await this.#client.get("ConnectorAdvertisement", id);
      if (!ad) await this.#client.create("ConnectorAdvertisement", advertisementBody(id, spec));
      else if (!covers(ad.spec, spec)) await this.#client.patch("ConnectorAdvertisement", id, { spec });
    } else {
      // Withdrawing needs no Connector and changes none.
      await this.#client.delete("ConnectorAdvertisement", id);
    }

    await updateAllowList(this.#allowListPath, (entries) =>
      entries.some((e) => e.id === id)
        ? setEntryEnabled(entries, id, enabled)
        : enabled
          ? upsertEntry(entries, { id, label, host: target.host, port: target.port, enabled })
          : entries,
    );
    return summarize(current, enabled, undefined, proxyConnectorName(current));
  }

  /**
   * A listen's teardown: disable the tunnel only while it is still on this identity's Connector.
   * When someone re-pointed it meanwhile (`listen --id` elsewhere), its advertisement is theirs now.
   */
  async withdraw(id: string): Promise<{ outcome: "disabled" } | { outcome: "moved"; connectorName: string | undefined } | { outcome: "gone" }> {
    const proxy = await this.#client.get("HTTPProxy", id);
    if (!proxy) return { outcome: "gone" };
    const ours = await this.findConnector(this.endpointId, { patchAnnotations: false });
    const current = proxyConnectorName(proxy);
    if (!ours || current !== ours.metadata.name) return { outcome: "moved", connectorName: current };
    await this.setEnabled(id, false);
    return { outcome: "disabled" };
  }

  /**
   * Delete the tunnel's objects; then, if no remaining (non-deleting) tunnel uses this identity's
   * Connector, delete its advertisements and the Connector itself (not with `keepConnector`: a
   * running group deleting one of its services keeps the Connector its agent serves on).
   */
  async delete(id: string, options: { keepConnector?: boolean } = {}): Promise<TunnelDeleteOutcome> {
    // Someone else's HTTPProxy (and its namesake advertisement and policy) is not ours to delete.
    const proxy = await this.#client.get("HTTPProxy", id);
    if (proxy) requireTunnel(proxy);
    const ours = await this.findConnector(this.endpointId, { patchAnnotations: false });
    const proxyDeleted = await this.#client.delete("HTTPProxy", id);
    const advertisementDeleted = await this.#client.delete("ConnectorAdvertisement", id);
    const policyDeleted = await this.#client.delete("TrafficProtectionPolicy", id);
    await updateAllowList(this.#allowListPath, (entries) => removeEntry(entries, id));
    if (!proxyDeleted && !advertisementDeleted && !policyDeleted) throw tunnelNotFound(id);

    const connectorName = ours?.metadata.name;
    // A running agent keeps its Connector (its heartbeat holds the lease) even with no tunnel left on it for now.
    const connectorDeleted = connectorName && !options.keepConnector ? await this.#deleteConnectorIfUnused(connectorName) : false;
    return {
      id,
      proxyDeleted,
      advertisementDeleted,
      policyDeleted,
      connectorDeleted,
      ...(connectorName ? { connectorName } : {}),
    };
  }

  // ---------- internals ----------

  async #requireProxy(id: string): Promise<HTTPProxy> {
    const proxy = await this.#client.get("HTTPProxy", id);
    if (!proxy) throw tunnelNotFound(id);
    requireTunnel(proxy);
    return proxy;
  }

  /**
   * The Connector a tunnel should point at. A caller with a live data plane (`details`) serves it:
   * this identity's Connector, created if needed. Anyone else keeps the one the tunnel names, so a
   * management command never moves a tunnel onto a Connector that does not serve it; only a tunnel
   * that names none gets this identity's (or a new one).
   */
  async #connectorFor(proxy: HTTPProxy, details?: DeviceAddress): Promise<string> {
    if (details) return (await this.ensureConnector(this.endpointId, details)).name;
    const current = proxyConnectorName(proxy);
    if (current) return current;
    return (await this.ensureConnector(this.endpointId)).name;
  }

  /** Patch label and rules when they differ from `[redirect, backend(endpoint, connector)]`. */
  async #alignProxy(proxy: HTTPProxy, label: string, endpoint: string, connectorName: string): Promise<HTTPProxy> {
    const rules = proxyRules(endpoint, connectorName);
    const id = requireName(proxy, "HTTPProxy");
    if (proxy.metadata.annotations?.[LABEL_ANNOTATION] === label && covers(proxy.spec.rules, rules)) {
      this.#log.debug(`HTTPProxy ${id} already matches; skipping patch`);
      return proxy;
    }
    return await this.#client.patch("HTTPProxy", id, {
      metadata: { annotations: { [LABEL_ANNOTATION]: label } },
      spec: { hostnames: proxy.spec.hostnames ?? [], rules },
    });
  }

  async #patchDeviceAnnotations(connector: Connector): Promise<Connector> {
    const current = connector.metadata.annotations ?? {};
    const stale = Object.entries(this.#annotations).some(([key, value]) => current[key] !== value);
    if (!stale) return connector;
    const name = requireName(connector, "Connector");
    try {
      return await this.#client.patch("Connector", name, { metadata: { annotations: this.#annotations } });
    } catch (err) {
      // Cosmetic: the device name in `tunnel list`; never worth failing the command for.
      if (!(err instanceof CliError)) throw err;
      this.#log.warn(`Failed to update device annotations on Connector ${name}: ${err.message}`);
      return connector;
    }
  }

  async #patchConnectionDetails(name: string, endpointId: string, details: DeviceAddress): Promise<void> {
    if (!details.homeRelay) {
      this.#log.warn(`No home relay yet; Connector ${name} connection details left for the heartbeat to publish`);
      return;
    }
    const connectionDetails = {
      type: "PublicKey",
      publicKey: {
        id: endpointId,
        discoveryMode: "DNS",
        homeRelay: details.homeRelay,
        addresses: details.addresses.slice(0, 16).map((a) => ({ address: a.address, port: a.port })),
      },
    };
    try {
      await this.#client.patchStatus("Connector", name, { status: { connectionDetails } });
    } catch (err) {
      // The heartbeat republishes these within seconds; a failure here must not fail setup (upstream logs it too).
      if (!(err instanceof CliError)) throw err;
      this.#log.warn(`Failed to patch connection details of Connector ${name}: ${err.message}`);
    }
  }

  /** `datum-connect` when the platform has it, else the first class found (warned), else `datum-connect`. */
  async #resolveConnectorClass(): Promise<string> {
    let names: string[];
    try {
      names = (await this.#client.list("ConnectorClass")).map((c) => c.metadata.name ?? "").filter(Boolean);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      this.#log.warn(`Failed to list ConnectorClasses (using default '${DEFAULT_CONNECTOR_CLASS}'): ${err.message}`);
      return DEFAULT_CONNECTOR_CLASS;
    }
    if (names.includes(DEFAULT_CONNECTOR_CLASS)) return DEFAULT_CONNECTOR_CLASS;
    const fallback = names[0];
    if (fallback === undefined) {
      this.#log.warn(`No ConnectorClass found; using default '${DEFAULT_CONNECTOR_CLASS}'`);
      return DEFAULT_CONNECTOR_CLASS;
    }
    this.#log.warn(`ConnectorClass '${DEFAULT_CONNECTOR_CLASS}' not found, using '${fallback}'`);
    return fallback;
  }

  /**
   * Undo a failed create: the tunnel's own objects, and a Connector this very call created. Once
   * the control plane proves unreachable the remaining steps are only reported, not tried: each
   * would spend the whole retry budget again before the user sees the original error.
   */
  async #rollback(id: string | undefined, ensured: EnsuredConnector): Promise<void> {
    let unreachable = false;
    const attempt = async (what: string, run: () => Promise<unknown>) => {
      if (unreachable) {
        this.#log.warn(`Cleanup after failed create: ${what} may be left behind (control plane unreachable)`);
        return;
      }
      try {
        await run();
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        unreachable = err instanceof Unreachable;
        this.#log.warn(`Cleanup after failed create: could not delete ${what}: ${err.message}`);
      }
    };
    if (id !== undefined) {
      if (this.#createPolicies) {
        await attempt(`TrafficProtectionPolicy ${id}`, () => this.#client.delete("TrafficProtectionPolicy", id));
      }
      await attempt(`ConnectorAdvertisement ${id}`, () => this.#client.delete("ConnectorAdvertisement", id));
      await attempt(`HTTPProxy ${id}`, () => this.#client.delete("HTTPProxy", id));
    }
    if (ensured.created) {
      await attempt(`Connector ${ensured.name}`, () => this.#deleteConnectorIfUnused(ensured.name));
    }
  }

  /** Delete a Connector and its advertisements when no non-deleting HTTPProxy references it (docs/wire-facts.md#connector-resolution). */
  async #deleteConnectorIfUnused(name: string): Promise<boolean> {
    const proxies = await this.#client.list("HTTPProxy");
    if (proxies.some((p) => !isDeleting(p) && proxyConnectorName(p) === name)) return false;
    const ads = await this.#client.list("ConnectorAdvertisement", { fieldSelector: { [ADVERTISEMENT_CONNECTOR_FIELD]: name } });
    for (const ad of ads) {
      const adName = ad.metadata.name;
      if (!adName || ad.spec.connectorRef.name !== name) continue;
      try {
        await this.#client.delete("ConnectorAdvertisement", adName);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        this.#log.warn(`Failed to delete ConnectorAdvertisement ${adName}: ${err.message}`);
      }
    }
    return await this.#client.delete("Connector", name);
  }
}

function summarize(
  proxy: HTTPProxy,
  enabled: boolean,
  connector: Connector | undefined,
  connectorName: string | undefined,
): TunnelSummary {
  const conditions = proxy.status?.conditions;
  const deviceName = connector?.metadata.annotations?.[DEVICE_NAME_ANNOTATION];
  const connectorEndpointId = connector?.status?.connectionDetails?.publicKey?.id;
  return {
    id: proxy.metadata.name ?? "",
    label: proxyLabel(proxy),
    endpoint: proxyEndpoint(proxy),
    hostnames: proxyHostnames(proxy),
    enabled,
    accepted: conditionTrue(conditions, "Accepted"),
    programmed: conditionTrue(conditions, "Programmed"),
    connectorMetadataProgrammed: conditionTrue(conditions, "ConnectorMetadataProgrammed", true),
    ...(connectorName ? { connectorName } : {}),
    connectorReady: connectorReady(connector),
    ...(deviceName ? { deviceName } : {}),
    ...(connectorEndpointId ? { connectorEndpointId } : {}),
    deleting: isDeleting(proxy),
  };
}

/** The target of an endpoint read from the platform: unusable data there is Malformed, not a usage error. */
function storedTarget(proxy: HTTPProxy, endpoint: string): Target {
  try {
    return parseTarget(endpoint);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    throw new Malformed(
      `HTTPProxy ${proxy.metadata.name ?? ""} has an unusable endpoint '${endpoint}': ${err.message}`,
      "give it a new one with 'tunnel update --endpoint host:port'",
    );
  }
}

/** The proxy's tunnel shape; `Rejected` (64) for an HTTPProxy no tunnel agent wrote, which commands never rewrite or delete. */
function requireTunnel(proxy: HTTPProxy): { endpoint: string; connectorName: string } {
  const shape = tunnelShape(proxy);
  if (shape.tunnel) return shape;
  throw new Rejected(
    `HTTPProxy ${proxy.metadata.name ?? ""} is not a tunnel: ${shape.reason}`,
    "tunnel commands manage only what 'datumctl connect tunnel list' shows; change this HTTPProxy with datumctl or kubectl",
    "rejected",
  );
}

function requireName(object: { metadata: { name?: string } }, kind: string): string {
  const name = object.metadata.name;
  if (!name) throw new Malformed(`The control plane returned a ${kind} without a name`);
  return name;
}

function tunnelNotFound(id: string): Rejected {
  return new Rejected(`Tunnel ${id} not found`, "run 'datumctl connect tunnel list' to see this project's tunnels", "not_found");
}
