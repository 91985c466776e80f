/**
 * The platform's HTTPProxy webhook rules (docs/platform-rules.md) as a table of writes: an HTTPProxy
 * that differs from the agent's own in one place, and the one cause the platform answers with.
 * The unit test runs it against the local Datum's admission in-process; the e2e test sends each
 * as a raw POST (and PATCH) to a running local Datum.
 */

export const CONNECTOR = "datum-connect-7xk2p";

export interface Backend {
  endpoint?: string;
  connector?: { name: string };
  tls?: { hostname: string };
}

export interface ProxyShape {
  name?: string;
  hostnames?: string[];
  /** The backend of the agent's second rule (the first is the HTTP→HTTPS redirect). */
  backend?: Backend;
  /** Replace all rules. */
  rules?: unknown[];
}

/** An HTTPProxy as the agent writes it (redirect rule, then a backend rule), changed by `shape`. */
export function proxyObject(shape: ProxyShape = {}): Record<string, unknown> {
  const redirect = {
    matches: [{ path: { type: "PathPrefix", value: "/" }, headers: [{ name: "x-forwarded-proto", type: "Exact", value: "http" }] }],
    filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
  };
  const backend = shape.backend ?? { endpoint: "http://127.0.0.1:8080", connector: { name: CONNECTOR } };
  return {
    apiVersion: "networking.datumapis.com/v1alpha",
    kind: "HTTPProxy",
    metadata: { name: shape.name ?? "tunnel-abcde" },
    spec: {
      ...(shape.hostnames ? { hostnames: shape.hostnames } : {}),
      rules: shape.rules ?? [redirect, { matches: [{ path: { type: "PathPrefix", value: "/" } }], backends: [backend] }],
    },
  };
}

export interface RejectedCase {
  readonly name: string;
  readonly shape: ProxyShape;
  readonly field: string;
  readonly reason: string;
  /** The cause's message, exactly. */
  readonly message: string;
}

const via = (endpoint: string): ProxyShape => ({ backend: { endpoint, connector: { name: CONNECTOR } } });
const direct = (endpoint: string): ProxyShape => ({ backend: { endpoint } });
const ENDPOINT = "spec.rules[1].backends[0].endpoint";

const TWO_SEGMENTS = "should be a domain with at least two segments separated by dots";
const LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export const rejected: readonly RejectedCase[] = [
  { name: "hostname with one label", shape: { hostnames: ["localhost"] }, field: "spec.hostnames[0].hostname", reason: "FieldValueInvalid", message: `Invalid value: "localhost": ${TWO_SEGMENTS}` },
  { name: "wildcard hostname", shape: { hostnames: ["*.example.com"] }, field: "spec.hostnames[0].hostname", reason: "FieldValueInvalid", message: `Invalid value: "*.example.com": ${SUBDOMAIN}` },
  {
    name: "duplicate hostname",
    shape: { hostnames: ["app.example.com", "app.example.com"] },
    field: "spec.hostnames[1].hostname",
    reason: "FieldValueDuplicate",
    message: 'Duplicate value: "app.example.com"',
  },
  { name: "object name is a subdomain, not a label", shape: { name: "tunnel.abcde" }, field: "metadata.name", reason: "FieldValueInvalid", message: `Invalid value: "tunnel.abcde": ${LABEL}` },
  {
    name: "a rule with neither backend nor redirect",
    shape: { rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }] }] },
    field: "spec.rules[0].backends",
    reason: "FieldValueRequired",
    message: "Required value: a backend is required unless a RequestRedirect filter is present on the rule",
  },
  { name: "scheme ftp", shape: via("ftp://files.example.com:21"), field: `${ENDPOINT}[scheme]`, reason: "FieldValueNotSupported", message: 'Unsupported value: "ftp": supported values: "http", "https"' },
  {
    name: "no scheme, IP host",
    shape: via("127.0.0.1:3000"),
    field: ENDPOINT,
    reason: "FieldValueInvalid",
    message: 'Invalid value: "127.0.0.1:3000": invalid endpoint: parse "127.0.0.1:3000": first path segment in URL cannot contain colon',
  },
  { name: "no scheme, localhost (read as scheme `localhost`)", shape: via("localhost:3000"), field: `${ENDPOINT}[scheme]`, reason: "FieldValueNotSupported", message: 'Unsupported value: "localhost": supported values: "http", "https"' },
  { name: "userinfo", shape: via("http://admin:secret@app.example.com:8080"), field: `${ENDPOINT}[userinfo]`, reason: "FieldValueInvalid", message: 'Invalid value: "admin:redacted": endpoint must not have a userinfo component' },
  { name: "a trailing slash is a path", shape: via("http://127.0.0.1:3000/"), field: `${ENDPOINT}[path]`, reason: "FieldValueInvalid", message: 'Invalid value: "/": endpoint must not have a path component' },
  { name: "path", shape: via("http://localhost:3000/api"), field: `${ENDPOINT}[path]`, reason: "FieldValueInvalid", message: 'Invalid value: "/api": endpoint must not have a path component' },
  { name: "query", shape: via("http://127.0.0.1:3000?debug=1"), field: `${ENDPOINT}[query]`, reason: "FieldValueInvalid", message: 'Invalid value: "debug=1": endpoint must not have a query component' },
  { name: "fragment", shape: via("http://127.0.0.1:3000#top"), field: `${ENDPOINT}[fragment]`, reason: "FieldValueInvalid", message: 'Invalid value: "top": endpoint must not have a fragment component' },
  { name: "port 0", shape: via("http://127.0.0.1:0"), field: `${ENDPOINT}[port]`, reason: "FieldValueInvalid", message: 'Invalid value: "0": must be between 1 and 65535, inclusive' },
  { name: "port 65536", shape: via("http://127.0.0.1:65536"), field: `${ENDPOINT}[port]`, reason: "FieldValueInvalid", message: 'Invalid value: "65536": must be between 1 and 65535, inclusive' },
  { name: "unspecified IPv4", shape: via("http://0.0.0.0:8080"), field: `${ENDPOINT}[host]`, reason: "FieldValueInvalid", message: 'Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)' },
  { name: "unspecified IPv6", shape: via("http://[::]:8080"), field: `${ENDPOINT}[host]`, reason: "FieldValueInvalid", message: 'Invalid value: "::": may not be unspecified (::)' },
  {
    name: "link-local IPv4",
    shape: via("http://169.254.10.1:80"),
    field: `${ENDPOINT}[host]`,
    reason: "FieldValueInvalid",
    message: 'Invalid value: "169.254.10.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
  },
  { name: "link-local IPv6", shape: via("http://[fe80::1]:80"), field: `${ENDPOINT}[host]`, reason: "FieldValueInvalid", message: 'Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)' },
  {
    name: "link-local multicast",
    shape: via("http://224.0.0.251:5353"),
    field: `${ENDPOINT}[host]`,
    reason: "FieldValueInvalid",
    message: 'Invalid value: "224.0.0.251": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
  },
  {
    name: "loopback without a connector",
    shape: direct("http://127.0.0.1:8080"),
    field: `${ENDPOINT}[host]`,
    reason: "FieldValueInvalid",
    message: 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
  },
  { name: "localhost without a connector", shape: direct("http://localhost:8080"), field: `${ENDPOINT}[host]`, reason: "FieldValueInvalid", message: `Invalid value: "localhost": ${TWO_SEGMENTS}` },
  { name: "single-label host devbox", shape: via("http://devbox:8080"), field: `${ENDPOINT}[host]`, reason: "FieldValueInvalid", message: `Invalid value: "devbox": ${TWO_SEGMENTS}` },
  { name: "single-label host my-laptop", shape: via("http://my-laptop:3000"), field: `${ENDPOINT}[host]`, reason: "FieldValueInvalid", message: `Invalid value: "my-laptop": ${TWO_SEGMENTS}` },
  {
    name: "https to an IP without tls.hostname",
    shape: via("https://10.0.0.5:8443"),
    field: "spec.rules[1].backends[0].tls.hostname",
    reason: "FieldValueRequired",
    message: "Required value: tls.hostname is required for HTTPS endpoints with IP addresses",
  },
  {
    name: "empty connector name",
    shape: { backend: { endpoint: "http://127.0.0.1:8080", connector: { name: "" } } },
    field: "spec.rules[1].backends[0].connector.name",
    reason: "FieldValueRequired",
    message: "Required value: connector name is required",
  },
  {
    name: "connector name not a DNS label",
    shape: { backend: { endpoint: "http://127.0.0.1:8080", connector: { name: "datum.connect" } } },
    field: "spec.rules[1].backends[0].connector.name",
    reason: "FieldValueInvalid",
    message: `Invalid value: "datum.connect": ${LABEL}`,
  },
];

/** Writes the webhook lets through. */
export const accepted: ReadonlyArray<readonly [string, ProxyShape]> = [
  ["what the agent writes (loopback through a connector)", {}],
  ["localhost through a connector", via("http://localhost:3000")],
  ["IPv6 loopback through a connector", via("http://[::1]:8080")],
  ["https to an IP with tls.hostname", { backend: { endpoint: "https://10.0.0.5:8443", connector: { name: CONNECTOR }, tls: { hostname: "api.internal.example" } } }],
  ["a public name without a connector and without a port", direct("https://origin.example.com")],
  ["a fully qualified name with a trailing dot", via("http://build.lan.example.:8080")],
  ["an upper-case scheme", via("HTTP://127.0.0.1:8080")],
  ["hostnames that are fully qualified and distinct", { hostnames: ["app.example.com", "api.example.com"] }],
];
