/**
 * The local origin a tunnel forwards to, as the user types it (`127.0.0.1:3000`,
 * `https://api.local:8443`), and what is derived from it (docs/wire-facts.md#endpoints): the normalized
 * form stored in the HTTPProxy backend, the host:port the advertisement and the allow-list carry.
 * What is written goes through `validateEndpoint` (the platform's rules, `endpoint-rules.ts`);
 * `parseTarget` reads what is already stored and tolerates more (`[::1]:9000`). Pure; every rule
 * is a row in the table tests.
 */
import { isIP } from "node:net";
import { Malformed, UsageError } from "../errors.ts";
import type { AdvertisementSpec } from "../controlplane/schemas.ts";
import { checkEndpoint, ENDPOINT_HINT, normalizeEndpoint, type ValidEndpoint } from "./endpoint-rules.ts";

export { normalizeEndpoint, type ValidEndpoint } from "./endpoint-rules.ts";

export interface Target {
  /** Host without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
}

/**
 * An endpoint about to be written (a flag), checked against what the platform accepts: the
 * normalized endpoint and its parts, or a UsageError (exit 2) with the platform's words and a hint.
 */
export function validateEndpoint(input: string): ValidEndpoint {
  const check = checkEndpoint(input);
  if (!check.ok) throw new UsageError(check.problem.message, check.problem.hint);
  return check.value;
}

/** The endpoint of a tunnel's config file, checked the same way: Malformed (exit 65) naming the file. */
export function validateStoredEndpoint(input: string, file: string): ValidEndpoint {
  const check = checkEndpoint(input);
  if (!check.ok) {
    throw new Malformed(`${file}: endpoint '${input}' is not one the platform accepts: ${check.problem.message}`, `fix the endpoint in ${file} (${check.problem.hint})`);
  }
  return check.value;
}

/**
 * The URL the verifier probes the origin at: `/` of scheme://host:port of the parsed target,
 * never the stored endpoint's own path or query, which public traffic does not use. Null when the
 * stored endpoint names no usable target (nothing to probe).
 */
export function originProbeUrl(endpoint: string): string | null {
  const normalized = normalizeEndpoint(endpoint);
  let target: Target;
  try {
    target = parseTarget(normalized);
  } catch {
    return null;
  }
  const scheme = /^https:\/\//i.test(normalized) ? "https" : "http";
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  return `${scheme}://${host}:${target.port}/`;
}

/**
 * Host and explicit port of an endpoint, normalized or not. A URL must name its port: the URL
 * parser drops a port equal to the scheme's default, so `http://host:80` and `https://host:443`
 * fail like `http://host` (docs/wire-facts.md#endpoints) — the data plane dials exactly what is advertised.
 */
export function parseTarget(input: string): Target {
  let text = input.trim();
  if (text === "") throw endpointError("missing host");
  const schemeEnd = text.indexOf("://");
  if (schemeEnd >= 0) {
    const url = URL.parse(text);
    if (url) {
      const host = unbracket(url.hostname);
      if (!host) throw endpointError("missing host");
      if (url.port === "") throw endpointError("missing port");
      return { host, port: parsePort(url.port) };
    }
    // An unparseable URL is read as host:port after its scheme, as upstream does
    // (`http://h:abc` → invalid port, `http://[::1` → invalid IPv6 address).
    text = text.slice(schemeEnd + 3);
  }
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) throw endpointError("invalid IPv6 address");
    host = text.slice(1, end);
    if (isIP(host) !== 6) throw endpointError("invalid IPv6 address");
    const rest = text.slice(end + 1);
    if (!rest.startsWith(":")) throw endpointError("missing port");
    portText = rest.slice(1);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw endpointError("missing port");
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!host) throw endpointError("missing host");
  // What a URL parser would refuse in a host; it would end up in the advertisement otherwise.
  if (/[\s/\\@?#[\]]/.test(host)) throw endpointError("invalid host");
  return { host, port: parsePort(portText) };
}

/** `http://host:port/…` → `host:port` (IPv6 keeps its brackets); anything else unchanged. */
export function stripScheme(endpoint: string): string {
  const url = endpoint.includes("://") ? URL.parse(endpoint) : null;
  if (url && url.hostname && url.port) return `${url.hostname}:${url.port}`;
  return endpoint;
}

/** The ConnectorAdvertisement spec for one endpoint (upstream `advertisement_spec`, docs/wire-facts.md#connectoradvertisement). */
export function advertisementSpec(connectorName: string, endpoint: string): AdvertisementSpec {
  const { host, port } = parseTarget(normalizeEndpoint(endpoint));
  return {
    connectorRef: { name: connectorName },
    layer4: [
      {
        name: "default",
        services: [{ address: host, ports: [{ name: `tcp-${port}`, port, protocol: "TCP" }] }],
      },
    ],
  };
}

function parsePort(text: string): number {
  // Digits only: `Number("")`, `Number(" 1")` and `Number("0x10")` would all slip through.
  if (!/^\d{1,5}$/.test(text)) throw endpointError("invalid port");
  const port = Number(text);
  if (port < 1 || port > 65535) throw endpointError("invalid port");
  return port;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function endpointError(message: string): UsageError {
  return new UsageError(message, ENDPOINT_HINT);
}
