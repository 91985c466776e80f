/**
 * The operator's part (docs/architecture.md#local-datum, after NSO's connector, iroh-dns and httpproxy
 * controllers): level-triggered reconcilers on timers. Store events enqueue work; every reconcile
 * reads the current objects, computes the status it wants and writes it only when it differs, then
 * schedules its own next look (phase delays, lease expiry). Writes never happen inside the request
 * that caused them: even with zero delays the work runs on a later tick, as a real controller's.
 */
import { type DevCloud, DATUM_CONNECT_CONTROLLER } from "./cloud.ts";
import { type DesiredCondition, conditionsOf, isConditionTrue, removeCondition, setCondition } from "./conditions.ts";
import { type JsonObject, isJsonObject, objectAt, stringAt, valueAtPath } from "./json.ts";
import { generateHostname } from "./names.ts";
import { finalizersOf, generationOf, isDeleting, metadataOf, nameOf, ownerReferencesOf, uidOf } from "./objects.ts";
import { resourceOf } from "./resources.ts";
import { type DnsOwner, type Route, connectorBackend, routingTable } from "./routes.ts";
import { ApiError } from "./status.ts";
import type { ProjectStore, StoreEvent } from "./store.ts";
import { formatTime, parseTime } from "./time.ts";

const CONNECTOR = resourceOf("Connector");
const CONNECTOR_CLASS = resourceOf("ConnectorClass");
const HTTP_PROXY = resourceOf("HTTPProxy");
const ADVERTISEMENT = resourceOf("ConnectorAdvertisement");
const LEASE = resourceOf("Lease");

export const IROH_DNS_FINALIZER = "networking.datumapis.com/iroh-dns-cleanup";
export const HTTP_PROXY_FINALIZER = "networking.datumapis.com/httpproxy-cleanup";

/** ConnectorClass controller names NSO publishes iroh DNS for. */
const IROH_CONTROLLER_NAMES = new Set([DATUM_CONNECT_CONTROLLER, "networking.datumapis.com/iroh-quic-tunnel"]);

/** A reconcile that failed (a bug, or a write refused) is retried after this long. */
const RETRY_AFTER_MS = 1_000;

type Plural = "connectors" | "httpproxies" | "connectoradvertisements";

interface Observed {
  readonly generation: number;
  readonly since: number;
}

export interface Controllers {
  /** The routing table for the edge and gateway, computed from the current objects. */
  routes(): Route[];
  /** Who owns the iroh DNS record of an endpoint id, if anyone. */
  dnsOwnerOf(endpointId: string): DnsOwner | undefined;
  /** Re-examine every object now (after a configuration change, for instance). */
  resync(): void;
  stop(): void;
}

export function startControllers(cloud: DevCloud): Controllers {
  return new OperatorControllers(cloud);
}

class OperatorControllers implements Controllers {
  readonly #timers = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>();
  /** endpointId → the Connector whose claim won (first claimant across all projects). */
  readonly #dnsOwners = new Map<string, DnsOwner>();
  /** Connector uid → the endpoint id it holds a claim on. */
  readonly #claims = new Map<string, string>();
  /** HTTPProxy uid → the generation last reconciled and when it was first seen. */
  readonly #observed = new Map<string, Observed>();
  /** HTTPProxy uid → its hostname, stable across spec changes. */
  readonly #hostnames = new Map<string, string>();
  /** HTTPProxy uid → when its deletion was first seen (for the cleanup delay). */
  readonly #deletingSince = new Map<string, number>();
  readonly #unsubscribe: Array<() => void>;
  #stopped = false;

  constructor(private readonly cloud: DevCloud) {
    this.#unsubscribe = [cloud.subscribe((event) => this.#onEvent(event)), cloud.onConfigChange(() => this.resync())];
    this.resync();
  }

  routes(): Route[] {
    return routingTable(this.cloud, (id) => this.dnsOwnerOf(id));
  }

  dnsOwnerOf(endpointId: string): DnsOwner | undefined {
    return this.#dnsOwners.get(endpointId);
  }

  resync(): void {
    for (const project of this.cloud.projects()) {
      const store = this.cloud.project(project);
      for (const plural of ["connectors", "httpproxies", "connectoradvertisements"] as const) {
        for (const obj of store.list(resourceFor(plural))) this.#enqueue(project, plural, nameOf(obj), 0);
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }

  // ---------- event routing ----------

  #onEvent(event: StoreEvent): void {
    const { project, object } = event;
    const store = this.cloud.project(project);
    const delays = this.cloud.config.delays;
    switch (event.resource.plural) {
      case "connectors":
        if (event.type === "DELETED") this.#release(uidOf(object));
        this.#enqueue(project, "connectors", nameOf(object), delays.connector);
        // Proxies follow their Connector's readiness; ads follow its existence.
        for (const proxy of store.list(HTTP_PROXY)) this.#enqueue(project, "httpproxies", nameOf(proxy), 0);
        for (const ad of store.list(ADVERTISEMENT)) this.#enqueue(project, "connectoradvertisements", nameOf(ad), delays.advertisement);
        break;
      case "leases": {
        const owner = ownerReferencesOf(object).find((ref) => ref.kind === "Connector" && ref.controller === true);
        this.#enqueue(project, "connectors", owner?.name ?? nameOf(object), delays.connector);
        break;
      }
      case "httpproxies":
        if (event.type === "DELETED") this.#forgetProxy(uidOf(object));
        else this.#enqueue(project, "httpproxies", nameOf(object), 0);
        break;
      case "connectoradvertisements":
        if (event.type !== "DELETED") this.#enqueue(project, "connectoradvertisements", nameOf(object), delays.advertisement);
        break;
      case "connectorclasses":
        for (const connector of store.list(CONNECTOR)) this.#enqueue(project, "connectors", nameOf(connector), delays.connector);
        break;
    }
  }

  #enqueue(project: string, plural: Plural, name: string, delayMs: number): void {
    if (this.#stopped) return;
    const key = `${project}\u0000${plural}\u0000${name}`;
    const at = this.cloud.now() + delayMs;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.#run(project, plural, name);
    }, delayMs);
    this.#timers.set(key, { at, timer });
  }

  #run(project: string, plural: Plural, name: string): void {
    if (this.#stopped) return;
    const store = this.cloud.project(project);
    try {
      if (plural === "connectors") this.#reconcileConnector(store, name);
      else if (plural === "httpproxies") this.#reconcileProxy(store, name);
      else this.#reconcileAdvertisement(store, name);
    } catch (err) {
      const what = err instanceof ApiError ? `${err.code} ${err.message}` : String(err);
      console.error(`devcloud: reconcile ${project}/${plural}/${name} failed: ${what}`);
      this.#enqueue(project, plural, name, RETRY_AFTER_MS);
    }
  }

  // ---------- Connector: Accepted, Lease, Ready, IrohDNSPublished ----------

  #reconcileConnector(store: ProjectStore, name: string): void {
    const connector = store.find(CONNECTOR, name);
    if (!connector) return;
    const uid = uidOf(connector);
    if (isDeleting(connector)) {
      // iroh-dns: release the claim, then let the object go.
      if (finalizersOf(connector).includes(IROH_DNS_FINALIZER)) {
        this.#release(uid);
        store.update(CONNECTOR, name, (draft) => {
          metadataOf(draft).finalizers = finalizersOf(draft).filter((f) => f !== IROH_DNS_FINALIZER);
        });
      }
      return;
    }

    const now = this.cloud.now();
    const generation = generationOf(connector);
    const className = stringAt(connector, ["spec", "connectorClassName"]) ?? "";
    const connectorClass = store.find(CONNECTOR_CLASS, className);
    const accepted: Verdict = connectorClass
      ? { status: "True", reason: "Accepted", message: "Connector class resolved" }
      : { status: "False", reason: "ConnectorClassNotFound", message: `ConnectorClass "${className}" not found` };

    let leaseName = stringAt(connector, ["status", "leaseRef", "name"]) ?? "";
    let ready: Verdict;
    let recheckAt: number | undefined;
    if (accepted.status !== "True") {
      ready = notReady("Waiting for ConnectorClass to be resolved.");
    } else {
      if (leaseName === "") leaseName = this.#ensureLease(store, connector);
      const lease = store.find(LEASE, leaseName);
      const renewTime = parseTime(stringAt(lease, ["spec", "renewTime"]) ?? "");
      const duration = valueAtPath(lease, ["spec", "leaseDurationSeconds"]);
      if (!lease) {
        ready = notReady("Connector lease not found. Agent may be offline.");
      } else if (renewTime === undefined || typeof duration !== "number") {
        ready = notReady("Connector lease has not been renewed yet.");
      } else {
        const expiresAt = renewTime + duration * 1000;
        if (now > expiresAt) {
          ready = notReady("Connector lease has expired. Agent may be offline.");
        } else {
          ready = { status: "True", reason: "ConnectorReady", message: "The connector is ready to tunnel traffic." };
          // NSO re-checks at expiry plus up to 10 % jitter.
          const jitter = this.cloud.random() * this.cloud.config.leaseExpiryJitter * duration * 1000;
          recheckAt = expiresAt + 1 + Math.floor(jitter);
        }
      }
    }

    const dns = this.#irohDns(store, connector, connectorClass);
    const nowText = formatTime(now);
    store.update(CONNECTOR, name, (draft) => {
      if (dns.addFinalizer) metadataOf(draft).finalizers = [...finalizersOf(draft), IROH_DNS_FINALIZER];
      const status = objectAt(draft, "status");
      if (leaseName !== "") status.leaseRef = { name: leaseName };
      let conditions = setCondition(conditionsOf(status), { type: "Accepted", ...accepted, observedGeneration: generation }, nowText);
      conditions = setCondition(conditions, { type: "Ready", ...ready, observedGeneration: generation }, nowText);
      if (dns.condition) conditions = setCondition(conditions, { ...dns.condition, observedGeneration: generation }, nowText);
      status.conditions = conditions;
    });
    if (recheckAt !== undefined) this.#enqueue(store.project, "connectors", name, Math.max(0, recheckAt - now));
  }

  /** NSO creates the Lease (named like the Connector, controlled by it) on first reconcile. */
  #ensureLease(store: ProjectStore, connector: JsonObject): string {
    const name = nameOf(connector);
    if (store.find(LEASE, name)) return name;
    store.create(LEASE, {
      apiVersion: LEASE.apiVersion,
      kind: LEASE.kind,
      metadata: {
        name,
        ownerReferences: [
          {
            apiVersion: CONNECTOR.apiVersion,
            kind: CONNECTOR.kind,
            name,
            uid: uidOf(connector),
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: { leaseDurationSeconds: this.cloud.config.leaseDurationSeconds },
    });
    return name;
  }

  /** iroh-dns controller: first claimant per endpoint id across all projects owns the record. */
  #irohDns(
    store: ProjectStore,
    connector: JsonObject,
    connectorClass: JsonObject | undefined,
  ): { addFinalizer: boolean; condition?: Omit<DesiredCondition, "observedGeneration"> } {
    const uid = uidOf(connector);
    const controllerName = stringAt(connectorClass, ["spec", "controllerName"]) ?? "";
    if (!connectorClass || !IROH_CONTROLLER_NAMES.has(controllerName)) {
      this.#release(uid);
      return { addFinalizer: false };
    }
    const addFinalizer = !finalizersOf(connector).includes(IROH_DNS_FINALIZER);
    const publicKey = valueAtPath(connector, ["status", "connectionDetails", "publicKey"]);
    const id = stringAt(publicKey, ["id"]) ?? "";
    const relay = stringAt(publicKey, ["homeRelay"]) ?? "";
    const addresses = isJsonObject(publicKey) && Array.isArray(publicKey.addresses) ? publicKey.addresses : [];
    if (id === "" || (relay === "" && addresses.length === 0)) {
      this.#release(uid);
      return {
        addFinalizer,
        condition: { type: "IrohDNSPublished", status: "False", reason: "Pending", message: "Connector status does not yet carry connection details." },
      };
    }
    if (this.#claims.get(uid) !== undefined && this.#claims.get(uid) !== id) this.#release(uid);
    let owner = this.#dnsOwners.get(id);
    if (owner && !this.#ownerExists(owner)) {
      this.#dnsOwners.delete(id);
      owner = undefined;
    }
    if (!owner || owner.uid === uid) {
      if (!owner) {
        this.#dnsOwners.set(id, { project: store.project, name: nameOf(connector), uid });
        this.#claims.set(uid, id);
      }
      return { addFinalizer, condition: { type: "IrohDNSPublished", status: "True", reason: "Owner", message: "Owns iroh DNS record." } };
    }
    return {
      addFinalizer,
      condition: {
        type: "IrohDNSPublished",
        status: "False",
        reason: "DeferredToOwner",
        // NSO names the owner by cluster/namespace/name; a project control plane is one cluster.
        message: `iroh DNS record is owned by Connector ${owner.project}/default/${owner.name} (uid ${owner.uid}).`,
      },
    };
  }

  #ownerExists(owner: DnsOwner): boolean {
    const found = this.cloud.existingProject(owner.project)?.find(CONNECTOR, owner.name);
    return found !== undefined && uidOf(found) === owner.uid;
  }

  /** Drops a Connector's claim; the other claimants of that id get another look. */
  #release(uid: string): void {
    const id = this.#claims.get(uid);
    if (id === undefined) return;
    this.#claims.delete(uid);
    if (this.#dnsOwners.get(id)?.uid !== uid) return;
    this.#dnsOwners.delete(id);
    for (const project of this.cloud.projects()) {
      for (const other of this.cloud.project(project).list(CONNECTOR)) {
        if (uidOf(other) !== uid && stringAt(other, ["status", "connectionDetails", "publicKey", "id"]) === id) {
          this.#enqueue(project, "connectors", nameOf(other), 0);
        }
      }
    }
  }

  // ---------- HTTPProxy: finalizer, hostnames, Accepted → CertificatesReady → Programmed → metadata ----------

  #reconcileProxy(store: ProjectStore, name: string): void {
    let proxy = store.find(HTTP_PROXY, name);
    if (!proxy) return;
    const uid = uidOf(proxy);
    const now = this.cloud.now();
    const config = this.cloud.config;

    if (isDeleting(proxy)) {
      if (!finalizersOf(proxy).includes(HTTP_PROXY_FINALIZER)) return;
      const since = this.#deletingSince.get(uid) ?? now;
      this.#deletingSince.set(uid, since);
      const dueAt = since + config.delays.proxyCleanup;
      if (now < dueAt) {
        this.#enqueue(store.project, "httpproxies", name, dueAt - now);
        return;
      }
      store.update(HTTP_PROXY, name, (draft) => {
        metadataOf(draft).finalizers = finalizersOf(draft).filter((f) => f !== HTTP_PROXY_FINALIZER);
      });
      return;
    }

    if (!finalizersOf(proxy).includes(HTTP_PROXY_FINALIZER)) {
      proxy = store.update(HTTP_PROXY, name, (draft) => {
        metadataOf(draft).finalizers = [...finalizersOf(draft), HTTP_PROXY_FINALIZER];
      });
      if (!proxy) return;
    }

    const generation = generationOf(proxy);
    let observed = this.#observed.get(uid);
    // J.1: in stale mode a spec change is never looked at, so conditions keep the old generation.
    if (config.staleGeneration && observed && observed.generation !== generation) return;
    if (!observed || observed.generation !== generation) {
      observed = { generation, since: now };
      this.#observed.set(uid, observed);
    }

    const d = config.delays;
    const acceptedAt = observed.since + d.accepted;
    const certificatesAt = acceptedAt + d.certificatesReady;
    const programmedAt = certificatesAt + d.programmed;
    const metadataAt = programmedAt + d.connectorMetadataProgrammed;

    const backend = connectorBackend(proxy);
    const connector = backend ? store.find(CONNECTOR, backend.connector) : undefined;

    const accepted: Verdict =
      now >= acceptedAt
        ? { status: "True", reason: "Accepted", message: "The HTTPProxy has been scheduled" }
        : { status: "False", reason: "Pending", message: "The HTTPProxy has not been scheduled" };
    const certificates: Verdict = config.certificatesUnknown
      ? { status: "Unknown", reason: "DownstreamClusterUnavailable", message: "Downstream cluster unavailable; certificate status unknown" }
      : now >= certificatesAt
        ? { status: "True", reason: "AllCertificatesReady", message: "All certificates are ready" }
        : { status: "False", reason: "CertificatesPending", message: "One or more certificates are pending" };
    let programmed: Verdict;
    if (now < programmedAt) {
      programmed = { status: "False", reason: "Pending", message: "The HTTPProxy has not been programmed" };
    } else if (backend && !connector) {
      programmed = { status: "False", reason: "Pending", message: `Connector "${backend.connector}" not found` };
    } else if (backend && !isConditionTrue(connector?.status, "Ready")) {
      programmed = { status: "False", reason: "Pending", message: `Waiting for Connector "${backend.connector}" to become ready` };
    } else {
      programmed = { status: "True", reason: "Programmed", message: "The HTTPProxy has been programmed" };
    }
    const metadata: Verdict =
      now >= metadataAt
        ? { status: "True", reason: "ConnectorMetadataApplied", message: "Connector tunnel metadata applied" }
        : { status: "False", reason: "Pending", message: "Waiting for downstream EnvoyPatchPolicy to be accepted and programmed" };

    const hostname = accepted.status === "True" ? this.#hostnameFor(proxy) : undefined;
    const nowText = formatTime(now);
    store.update(HTTP_PROXY, name, (draft) => {
      const status = objectAt(draft, "status");
      if (hostname) status.hostnames = [hostname];
      const at = (v: Verdict, type: string): DesiredCondition => ({ type, ...v, observedGeneration: generation });
      let conditions = setCondition(conditionsOf(status), at(accepted, "Accepted"), nowText);
      conditions = config.omitConditions.includes("CertificatesReady")
        ? removeCondition(conditions, "CertificatesReady")
        : setCondition(conditions, at(certificates, "CertificatesReady"), nowText);
      conditions = setCondition(conditions, at(programmed, "Programmed"), nowText);
      // NSO sets this one only for proxies with connector backends (and not outside EnvoyPatchPolicy mode).
      conditions =
        backend && !config.omitConditions.includes("ConnectorMetadataProgrammed")
          ? setCondition(conditions, at(metadata, "ConnectorMetadataProgrammed"), nowText)
          : removeCondition(conditions, "ConnectorMetadataProgrammed");
      status.conditions = conditions;
    });

    const next = [acceptedAt, certificatesAt, programmedAt, metadataAt].filter((t) => t > now);
    if (next.length > 0) this.#enqueue(store.project, "httpproxies", name, Math.min(...next) - now);
  }

  #hostnameFor(proxy: JsonObject): string {
    const uid = uidOf(proxy);
    const remembered = this.#hostnames.get(uid);
    if (remembered) return remembered;
    const existing = valueAtPath(proxy, ["status", "hostnames"]);
    const first = Array.isArray(existing) && typeof existing[0] === "string" ? existing[0] : undefined;
    const hostname = first ?? generateHostname(this.cloud.config.hostnameZone, this.cloud.random);
    this.#hostnames.set(uid, hostname);
    return hostname;
  }

  #forgetProxy(uid: string): void {
    this.#observed.delete(uid);
    this.#hostnames.delete(uid);
    this.#deletingSince.delete(uid);
  }

  // ---------- ConnectorAdvertisement: Accepted ----------

  #reconcileAdvertisement(store: ProjectStore, name: string): void {
    const ad = store.find(ADVERTISEMENT, name);
    if (!ad || isDeleting(ad)) return;
    const connectorName = stringAt(ad, ["spec", "connectorRef", "name"]) ?? "";
    const verdict: Verdict = store.find(CONNECTOR, connectorName)
      ? { status: "True", reason: "Accepted", message: `Connector "${connectorName}" resolved` }
      : { status: "False", reason: "ConnectorNotFound", message: `Connector "${connectorName}" not found` };
    const generation = generationOf(ad);
    const nowText = formatTime(this.cloud.now());
    store.update(ADVERTISEMENT, name, (draft) => {
      const status = objectAt(draft, "status");
      status.conditions = setCondition(conditionsOf(status), { type: "Accepted", ...verdict, observedGeneration: generation }, nowText);
    });
  }
}

type Verdict = Omit<DesiredCondition, "type" | "observedGeneration">;

function notReady(message: string): Verdict {
  return { status: "False", reason: "ConnectorNotReady", message };
}

function resourceFor(plural: Plural) {
  return plural === "connectors" ? CONNECTOR : plural === "httpproxies" ? HTTP_PROXY : ADVERTISEMENT;
}
