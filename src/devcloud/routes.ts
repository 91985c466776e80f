/**
 * The routing table the local edge and gateway consume (docs/architecture.md#local-datum,
 * docs/wire-facts.md#production-path): for every hostname an HTTPProxy was given, where its tunnel goes.
 * `targetHost:targetPort` is what NSO puts in Envoy's `tunnel.address`; `endpointId` is the Connector's
 * `publicKey.id`; the addresses and relay are what iroh DNS discovery would return for that id, i.e.
 * those of the Connector that owns the DNS record (the first claimant across projects,
 * docs/wire-facts.md#dns-records).
 */
import type { DevCloud } from "./cloud.ts";
import { isConditionTrue } from "./conditions.ts";
import { type Json, type JsonObject, isJsonObject, stringAt, valueAtPath } from "./json.ts";
import { isDeleting, nameOf } from "./objects.ts";
import { resourceOf } from "./resources.ts";

export interface RouteAddress {
  readonly address: string;
  readonly port: number;
}

export interface DnsOwner {
  readonly project: string;
  readonly name: string;
  readonly uid: string;
}

export interface Route {
  readonly hostname: string;
  readonly project: string;
  readonly proxyName: string;
  readonly connectorName: string;
  /** Hex EndpointId from the Connector status; undefined until the agent published it. */
  readonly endpointId?: string;
  /** Direct addresses discovery yields for the endpoint id (empty while no DNS record exists). */
  readonly addresses: readonly RouteAddress[];
  readonly homeRelay?: string;
  readonly targetHost: string;
  readonly targetPort: number;
  /** Connector Ready and an advertisement named like the proxy exists: else the edge says 503. */
  readonly online: boolean;
  /** The HTTPProxy's `Programmed` condition is True. */
  readonly programmed: boolean;
  /** The Connector whose status the iroh DNS record carries, if one was published. */
  readonly dnsOwner?: DnsOwner;
}

const CONNECTOR = resourceOf("Connector");
const HTTP_PROXY = resourceOf("HTTPProxy");
const ADVERTISEMENT = resourceOf("ConnectorAdvertisement");

export function routingTable(cloud: DevCloud, dnsOwnerOf: (endpointId: string) => DnsOwner | undefined): Route[] {
  const routes: Route[] = [];
  for (const project of cloud.projects()) {
    const store = cloud.project(project);
    for (const proxy of store.list(HTTP_PROXY)) {
      if (isDeleting(proxy)) continue;
      const backend = connectorBackend(proxy);
      if (!backend) continue;
      const target = parseTarget(backend.endpoint);
      if (!target) continue;
      const connector = store.find(CONNECTOR, backend.connector);
      const endpointId = connector ? stringAt(connector, ["status", "connectionDetails", "publicKey", "id"]) : undefined;
      const owner = endpointId ? dnsOwnerOf(endpointId) : undefined;
      const ownerConnector = owner ? cloud.existingProject(owner.project)?.find(CONNECTOR, owner.name) : undefined;
      const publicKey = ownerConnector ? valueAtPath(ownerConnector, ["status", "connectionDetails", "publicKey"]) : undefined;
      const homeRelay = stringAt(publicKey, ["homeRelay"]);
      const online =
        connector !== undefined &&
        isConditionTrue(connector.status, "Ready") &&
        store.find(ADVERTISEMENT, nameOf(proxy)) !== undefined;
      const hostnames = valueAtPath(proxy, ["status", "hostnames"]);
      for (const hostname of Array.isArray(hostnames) ? hostnames : []) {
        if (typeof hostname !== "string") continue;
        routes.push({
          hostname,
          project,
          proxyName: nameOf(proxy),
          connectorName: backend.connector,
          ...(endpointId ? { endpointId } : {}),
          addresses: addressesOf(publicKey),
          ...(homeRelay ? { homeRelay } : {}),
          targetHost: target.host,
          targetPort: target.port,
          online,
          programmed: isConditionTrue(proxy.status, "Programmed"),
          ...(owner ? { dnsOwner: owner } : {}),
        });
      }
    }
  }
  return routes;
}

/** The first backend of any rule that names a connector (the agent puts it in the last rule). */
export function connectorBackend(proxy: JsonObject): { endpoint: string; connector: string } | undefined {
  const rules = valueAtPath(proxy, ["spec", "rules"]);
  for (const rule of Array.isArray(rules) ? rules : []) {
    const backends = valueAtPath(rule, ["backends"]);
    for (const backend of Array.isArray(backends) ? backends : []) {
      const endpoint = stringAt(backend, ["endpoint"]);
      const connector = stringAt(backend, ["connector", "name"]);
      if (endpoint && connector) return { endpoint, connector };
    }
  }
  return undefined;
}

/** `http://127.0.0.1:8080` → host and port, the scheme's default port when none is written. */
export function parseTarget(endpoint: string): { host: string; port: number } | undefined {
  let url: URL;
  try {
    url = new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`);
  } catch {
    return undefined;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") return undefined;
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : url.protocol === "http:" ? 80 : NaN;
  return Number.isInteger(port) && port > 0 ? { host, port } : undefined;
}

function addressesOf(publicKey: Json | undefined): RouteAddress[] {
  const list = isJsonObject(publicKey) ? publicKey.addresses : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((item) => {
    const address = stringAt(item, ["address"]);
    const port = valueAtPath(item, ["port"]);
    return address && typeof port === "number" ? [{ address, port }] : [];
  });
}
