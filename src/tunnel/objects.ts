/**
 * The control-plane objects a tunnel consists of (docs/wire-facts.md#tunnel-objects,
 * #trafficprotectionpolicy), built and read back by pure functions. The create bodies are byte-for-byte
 * the upstream ones, explicit `null`s included, so the platform sees exactly what the Rust agent sends.
 */
import type { AdvertisementSpec, Condition, Connector, HTTPProxy, HTTPProxyRule } from "../controlplane/schemas.ts";
import { normalizeEndpoint } from "./endpoint.ts";

export const LABEL_ANNOTATION = "app.kubernetes.io/name";
export const TUNNEL_NAME_PREFIX = "tunnel-";
export const CONNECTOR_NAME_PREFIX = "datum-connect-";
export const DEFAULT_CONNECTOR_CLASS = "datum-connect";
export const CONNECTOR_ENDPOINT_FIELD = "status.connectionDetails.publicKey.id";
export const ADVERTISEMENT_CONNECTOR_FIELD = "spec.connectorRef.name";

/** HTTP→HTTPS 301 when the edge says the request came in over plain HTTP; always the first rule. */
export function redirectRule(): HTTPProxyRule {
  return {
    name: null,
    matches: [
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [{ name: "x-forwarded-proto", type: "Exact", value: "http" }],
      },
    ],
    filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
    backends: null,
  };
}

/** Everything else goes to the endpoint through the Connector. */
export function backendRule(endpoint: string, connectorName: string): HTTPProxyRule {
  return {
    name: null,
    matches: [{ path: { type: "PathPrefix", value: "/" } }],
    filters: null,
    backends: [{ endpoint, connector: { name: connectorName }, filters: null }],
  };
}

export function proxyRules(endpoint: string, connectorName: string): HTTPProxyRule[] {
  return [redirectRule(), backendRule(endpoint, connectorName)];
}

export function httpProxyBody(label: string, endpoint: string, connectorName: string): Record<string, unknown> {
  return {
    apiVersion: "networking.datumapis.com/v1alpha",
    kind: "HTTPProxy",
    metadata: { generateName: TUNNEL_NAME_PREFIX, annotations: { [LABEL_ANNOTATION]: label } },
    spec: { hostnames: null, rules: proxyRules(endpoint, connectorName) },
  };
}

export function connectorBody(className: string, annotations: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: "networking.datumapis.com/v1alpha1",
    kind: "Connector",
    metadata: { generateName: CONNECTOR_NAME_PREFIX, annotations },
    spec: { connectorClassName: className, capabilities: null },
  };
}

export function advertisementBody(name: string, spec: AdvertisementSpec): Record<string, unknown> {
  return {
    apiVersion: "networking.datumapis.com/v1alpha1",
    kind: "ConnectorAdvertisement",
    metadata: { name },
    spec,
  };
}

export function trafficProtectionPolicyBody(name: string): Record<string, unknown> {
  return {
    apiVersion: "networking.datumapis.com/v1alpha",
    kind: "TrafficProtectionPolicy",
    metadata: { name },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name, sectionName: null }],
      mode: "Enforce",
      samplingPercentage: null,
      ruleSets: [
        {
          type: "OWASPCoreRuleSet",
          owaspCoreRuleSet: { paranoiaLevels: { blocking: 1, detection: 1 }, scoreThresholds: null, ruleExclusions: null },
        },
      ],
    },
  };
}

/** `DATUM_CONNECT_CREATE_TRAFFIC_PROTECTION_POLICIES` is one of `1 true TRUE yes YES` (docs/wire-facts.md#trafficprotectionpolicy). */
export function trafficProtectionEnabled(env: Readonly<Record<string, string | undefined>>): boolean {
  return ["1", "true", "TRUE", "yes", "YES"].includes(env.DATUM_CONNECT_CREATE_TRAFFIC_PROTECTION_POLICIES ?? "");
}

// ---------- reading objects back ----------

export function proxyLabel(proxy: HTTPProxy): string {
  return proxy.metadata.annotations?.[LABEL_ANNOTATION] ?? proxy.metadata.name ?? "";
}

/** An HTTPProxy is a tunnel, or why not: the reason goes into a debug line or a rejection. */
export type TunnelShape =
  | { readonly tunnel: true; readonly endpoint: string; readonly connectorName: string }
  | { readonly tunnel: false; readonly reason: string };

/**
 * Whether an HTTPProxy is a tunnel: named `tunnel-*` and shaped as a tunnel
 * agent writes it, exactly one backend across its rules (other rules only redirect), and that
 * backend an endpoint reached through a Connector. Anything else in the project (an `instance`
 * backend, a second backend, a plain FQDN backend, no backend at all) is someone else's: listings
 * skip it and commands refuse to rewrite it.
 */
export function tunnelShape(proxy: HTTPProxy): TunnelShape {
  const name = proxy.metadata.name ?? "";
  if (!name.startsWith(TUNNEL_NAME_PREFIX)) return { tunnel: false, reason: `not named ${TUNNEL_NAME_PREFIX}*` };
  const backends = proxy.spec.rules.flatMap((rule) => rule.backends ?? []);
  if (backends.length === 0) return { tunnel: false, reason: "it has no backend" };
  if (backends.length > 1) return { tunnel: false, reason: `it has ${backends.length} backends; a tunnel has one` };
  const backend = backends[0] as (typeof backends)[number];
  if (backend.instance) return { tunnel: false, reason: "its backend is an instance, not an endpoint" };
  if (!backend.endpoint) return { tunnel: false, reason: "its backend has no endpoint" };
  if (!backend.connector?.name) return { tunnel: false, reason: "its backend does not go through a Connector" };
  return { tunnel: true, endpoint: normalizeEndpoint(backend.endpoint), connectorName: backend.connector.name };
}

/** The first backend's endpoint of the first rule with backends, normalized. */
export function proxyEndpoint(proxy: HTTPProxy): string {
  const backend = proxy.spec.rules.find((rule) => rule.backends?.length)?.backends?.[0];
  return normalizeEndpoint(backend?.endpoint ?? "");
}

/** The Connector named by the first backend that names one. */
export function proxyConnectorName(proxy: HTTPProxy): string | undefined {
  for (const rule of proxy.spec.rules) {
    for (const backend of rule.backends ?? []) {
      if (backend.connector?.name) return backend.connector.name;
    }
  }
  return undefined;
}

export function isDeleting(object: { metadata: { deletionTimestamp?: string | null } }): boolean {
  return Boolean(object.metadata.deletionTimestamp);
}

/** Condition `type` is present with status `True` (observedGeneration not consulted: list views). */
export function conditionTrue(conditions: readonly Condition[] | null | undefined, type: string, whenAbsent = false): boolean {
  const condition = conditions?.find((c) => c.type === type);
  return condition ? condition.status === "True" : whenAbsent;
}

export function connectorReady(connector: Connector | undefined): boolean {
  return conditionTrue(connector?.status?.conditions, "Ready");
}

/**
 * True when `existing` already says everything `desired` says: equal primitives, arrays of equal
 * length covering element-wise, objects covering every key of `desired`. A `null`/absent value in
 * `desired` requires it absent or null in `existing`. Fields only `existing` has (server defaults)
 * are ignored, so a server that fills in defaults does not make every comparison fail — and every
 * no-op PATCH bumps the generation and opens a 5xx window downstream (docs/wire-facts.md#writes).
 */
export function covers(existing: unknown, desired: unknown): boolean {
  if (desired === null || desired === undefined) return existing === null || existing === undefined;
  if (Array.isArray(desired)) {
    return Array.isArray(existing) && existing.length === desired.length && desired.every((d, i) => covers(existing[i], d));
  }
  if (typeof desired === "object") {
    if (typeof existing !== "object" || existing === null || Array.isArray(existing)) return false;
    const have = existing as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([key, value]) => covers(have[key], value));
  }
  return existing === desired;
}
