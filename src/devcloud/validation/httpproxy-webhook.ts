/**
 * The checks the platform's HTTPProxy admission webhook makes after the CRD schema passed (see
 * docs/platform-rules.md): public hostnames are fully qualified and unique, the object name is a
 * DNS label, every rule has a backend unless it redirects, and a backend endpoint is a bare
 * `http(s)://host[:port]` whose host the platform may reach (loopback and `localhost` only through
 * a Connector). Field paths and messages are the platform's own, e.g.
 * `spec.rules[1].backends[0].endpoint[path]: Invalid value: "/": endpoint must not have a path component`.
 */
import type { JsonObject } from "../json.ts";
import { isJsonObject } from "../json.ts";
import { dns1123LabelProblems, dns1123SubdomainProblems, fqdnProblem } from "./dns-names.ts";
import { hostnameOf, parseUrl, portOf } from "./go-url.ts";
import { isLinkLocalMulticast, isLinkLocalUnicast, isLoopback, isUnspecified, parseIP } from "./ip.ts";
import { type CauseReason, type Violation, shown } from "./schema.ts";

/** The webhook's registered name, which the API server puts in front of its answer. */
export const HTTPPROXY_WEBHOOK = "vhttpproxy-v1alpha.kb.io";

const MIN_PORT = 1;
const MAX_PORT = 65535;

type Sink = Violation[];

function add(out: Sink, reason: CauseReason, field: string, message: string): void {
  out.push({ reason, field, message, source: "webhook" });
}

function required(out: Sink, field: string, detail: string): void {
  add(out, "FieldValueRequired", field, detail ? `Required value: ${detail}` : "Required value");
}

function invalid(out: Sink, field: string, value: string, detail: string): void {
  add(out, "FieldValueInvalid", field, `Invalid value: ${shown(value)}: ${detail}`);
}

function fqdn(out: Sink, field: string, name: string): void {
  const problem = fqdnProblem(name);
  if (!problem) return;
  if (problem.kind === "required") required(out, field, "");
  else invalid(out, field, problem.value, problem.detail);
}

const objects = (value: unknown): JsonObject[] => (Array.isArray(value) ? value.filter(isJsonObject) : []);
const text = (value: unknown): string => (typeof value === "string" ? value : "");

/** Every webhook violation of an HTTPProxy that already satisfies its schema. */
export function httpProxyWebhookViolations(proxy: JsonObject): Violation[] {
  const out: Sink = [];
  const spec = isJsonObject(proxy.spec) ? proxy.spec : {};

  const seen = new Set<string>();
  (Array.isArray(spec.hostnames) ? spec.hostnames : []).forEach((hostname, i) => {
    const field = `spec.hostnames[${i}].hostname`;
    const name = text(hostname);
    fqdn(out, field, name);
    if (seen.has(name)) add(out, "FieldValueDuplicate", field, `Duplicate value: ${JSON.stringify(name)}`);
    seen.add(name);
  });

  const name = isJsonObject(proxy.metadata) ? text(proxy.metadata.name) : "";
  for (const problem of dns1123LabelProblems(name)) invalid(out, "metadata.name", name, problem);

  objects(spec.rules).forEach((rule, i) => checkRule(out, rule, `spec.rules[${i}]`));
  return out;
}

function checkRule(out: Sink, rule: JsonObject, path: string): void {
  const backends = objects(rule.backends);
  if (backends.length === 0 && !objects(rule.filters).some((f) => f.type === "RequestRedirect")) {
    required(out, `${path}.backends`, "a backend is required unless a RequestRedirect filter is present on the rule");
  }
  backends.forEach((backend, j) => checkBackend(out, backend, `${path}.backends[${j}]`));
}

function checkBackend(out: Sink, backend: JsonObject, path: string): void {
  if (backend.instance === undefined) checkEndpoint(out, backend, path);

  if (isJsonObject(backend.connector)) {
    const field = `${path}.connector.name`;
    const name = text(backend.connector.name);
    if (name === "") required(out, field, "connector name is required");
    else for (const problem of dns1123LabelProblems(name)) invalid(out, field, name, problem);
  }
  if (isJsonObject(backend.instance)) {
    const field = `${path}.instance.name`;
    const name = text(backend.instance.name);
    if (name === "") required(out, field, "instance name is required");
    else for (const problem of dns1123SubdomainProblems(name)) invalid(out, field, name, problem);
  }
}

function checkEndpoint(out: Sink, backend: JsonObject, path: string): void {
  const field = `${path}.endpoint`;
  const endpoint = text(backend.endpoint);
  const parsed = parseUrl(endpoint);
  if (!parsed.ok) {
    invalid(out, field, endpoint, `invalid endpoint: ${parsed.error}`);
    return;
  }
  const url = parsed.url;
  if (url.scheme !== "http" && url.scheme !== "https") {
    add(out, "FieldValueNotSupported", `${field}[scheme]`, `Unsupported value: ${JSON.stringify(url.scheme)}: supported values: "http", "https"`);
  }
  if (url.username !== undefined) {
    invalid(out, `${field}[userinfo]`, `${url.username}:redacted`, "endpoint must not have a userinfo component");
  }

  const hostField = `${field}[host]`;
  const host = hostnameOf(url);
  const viaConnector = backend.connector !== undefined;
  const ip = parseIP(host);
  if (ip) {
    if (isUnspecified(ip)) invalid(out, hostField, host, `may not be unspecified (${host})`);
    if (isLoopback(ip) && !viaConnector) invalid(out, hostField, host, "may not be in the loopback range (127.0.0.0/8, ::1/128)");
    if (isLinkLocalUnicast(ip)) invalid(out, hostField, host, "may not be in the link-local range (169.254.0.0/16, fe80::/10)");
    if (isLinkLocalMulticast(ip)) invalid(out, hostField, host, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
  } else if (!viaConnector || host !== "localhost") {
    fqdn(out, hostField, host);
  }

  if (url.scheme === "https" && ip) {
    const tls = isJsonObject(backend.tls) ? backend.tls : {};
    if (text(tls.hostname) === "") required(out, `${path}.tls.hostname`, "tls.hostname is required for HTTPS endpoints with IP addresses");
  }

  const port = portOf(url);
  if (port !== "") {
    const portField = `${field}[port]`;
    const number = port.length <= 18 ? Number(port) : Number.NaN;
    if (!Number.isFinite(number)) invalid(out, portField, port, "must be a number");
    else if (number < MIN_PORT || number > MAX_PORT) invalid(out, portField, port, `must be between ${MIN_PORT} and ${MAX_PORT}, inclusive`);
  }

  if (url.path !== "") invalid(out, `${field}[path]`, url.path, "endpoint must not have a path component");
  if (url.rawQuery !== "") invalid(out, `${field}[query]`, url.rawQuery, "endpoint must not have a query component");
  if (url.fragment !== "") invalid(out, `${field}[fragment]`, url.fragment, "endpoint must not have a fragment component");
}
