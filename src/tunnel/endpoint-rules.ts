/**
 * What the platform accepts as a tunnel's local endpoint (an HTTPProxy backend `endpoint`,
 * docs/wire-facts.md#platform-validation), checked before anything is written, with the platform's words:
 * scheme http/https; no userinfo, path, query or fragment; an explicit port 1–65535 that is not the
 * scheme's default (docs/wire-facts.md#endpoints: a URL parser reads it as no port); an IP host that is
 * neither unspecified nor link-local; a name host that is a fully qualified domain name or exactly
 * `localhost`; https only to a name (an IP needs a TLS server name this tool does not set); and no IPv6
 * host (the platform dials `host:port` without brackets, so it could never be reached). Pure: every rule
 * is a row in the table test.
 */
import { isIP } from "node:net";

export type EndpointScheme = "http" | "https";

/** An endpoint the platform accepts, split the way the advertisement and the probes use it. */
export interface ValidEndpoint {
  /** The stored form: trimmed, `http://` prefixed when the user gave no scheme. */
  readonly endpoint: string;
  readonly scheme: EndpointScheme;
  /** A lower-case DNS name, `localhost` or a dotted-quad IPv4 address. */
  readonly host: string;
  readonly port: number;
}

/** Why an endpoint is refused: `message` for the `error:` line, `hint` for what to type instead. */
export interface EndpointProblem {
  readonly message: string;
  readonly hint: string;
}

export type EndpointCheck = { readonly ok: true; readonly value: ValidEndpoint } | { readonly ok: false; readonly problem: EndpointProblem };

export const ENDPOINT_HINT = "give the local service as host:port or a URL with an explicit port, e.g. 127.0.0.1:3000 or https://localhost:8443";
const ONLY_ORIGIN = "give only scheme://host:port";

/** Trim; an empty string stays empty; anything with `://` is kept; otherwise `http://` is prefixed. */
export function normalizeEndpoint(input: string): string {
  const trimmed = input.trim();
  if (trimmed === "" || trimmed.includes("://")) return trimmed;
  return `http://${trimmed}`;
}

const DEFAULT_PORTS: Record<EndpointScheme, number> = { http: 80, https: 443 };
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkEndpoint(input: string): EndpointCheck {
  const endpoint = normalizeEndpoint(input);
  if (endpoint === "") return fail("missing host", ENDPOINT_HINT);

  const schemeEnd = endpoint.indexOf("://");
  const schemeText = endpoint.slice(0, schemeEnd);
  if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(schemeText)) return fail("missing protocol scheme", ENDPOINT_HINT);
  const scheme = schemeText.toLowerCase();
  if (scheme !== "http" && scheme !== "https") {
    return fail(`unsupported endpoint scheme "${schemeText}": supported values: "http", "https"`, "the platform forwards HTTP: use http://host:port or https://host:port");
  }

  // Split as a URL parser does: the fragment from the first `#`, the query from the first `?`,
  // the path from the first `/` of what is left after the authority.
  const rest = endpoint.slice(schemeEnd + 3);
  const authorityEnd = firstIndexOf(rest, "/?#");
  const authority = rest.slice(0, authorityEnd);
  const suffix = rest.slice(authorityEnd);
  const at = authority.lastIndexOf("@");
  const hostPort = authority.slice(at + 1);
  const origin = `${scheme}://${hostPort}`;
  if (at >= 0) return fail("endpoint must not have a userinfo component", `${ONLY_ORIGIN}: the origin's credentials cannot be part of the endpoint, e.g. ${origin}`);
  if (suffix.startsWith("/")) {
    const path = suffix.slice(0, firstIndexOf(suffix, "?#"));
    return fail(
      "endpoint must not have a path component",
      path === "/" && suffix === "/"
        ? `drop the trailing slash: ${origin}`
        : `${ONLY_ORIGIN}, e.g. ${origin}: public requests keep their own path, nothing is prefixed to it`,
    );
  }
  if (suffix.startsWith("?")) return fail("endpoint must not have a query component", `${ONLY_ORIGIN}, e.g. ${origin}`);
  if (suffix.startsWith("#")) return fail("endpoint must not have a fragment component", `${ONLY_ORIGIN}, e.g. ${origin}`);

  // host:port, IPv6 in brackets.
  let host: string;
  let portText: string | undefined;
  let bracketed = false;
  if (hostPort.startsWith("[")) {
    const end = hostPort.indexOf("]");
    if (end < 0) return fail("invalid IPv6 address", ENDPOINT_HINT);
    host = hostPort.slice(1, end);
    bracketed = true;
    const after = hostPort.slice(end + 1);
    if (after !== "" && !after.startsWith(":")) return fail("invalid host", ENDPOINT_HINT);
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(":");
    host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    portText = colon < 0 ? undefined : hostPort.slice(colon + 1);
  }
  if (host === "") return fail("missing host", ENDPOINT_HINT);
  if (portText === undefined || portText === "") return fail("missing port", ENDPOINT_HINT);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return fail(`invalid port "${portText}": must be between 1 and 65535, inclusive`, ENDPOINT_HINT);
  }
  const port = Number(portText);

  if (bracketed || host.includes(":")) return checkIPv6(host);
  const ipv4 = isIP(host) === 4;
  const problem = ipv4 ? ipv4Problem(host) : nameProblem(host);
  if (problem) return { ok: false, problem };
  if (port === DEFAULT_PORTS[scheme]) {
    return fail(
      `missing port: ${port} is the default port of ${scheme}, which a URL parser reads as no port`,
      `the tunnel dials exactly the advertised port: serve the origin on another port (e.g. ${scheme}://${host}:${scheme === "http" ? 8080 : 8443})`,
    );
  }
  if (ipv4 && scheme === "https") {
    return fail(
      `https to an IP address (${host}) needs a TLS server name, which datumctl-connect does not set`,
      `use http:// to the local service (http://${host}:${port}), or a DNS name for it (https://localhost:${port})`,
    );
  }
  return { ok: true, value: { endpoint, scheme, host, port } };
}

function ipv4Problem(host: string): EndpointProblem | undefined {
  const [a, b, c] = host.split(".").map(Number) as [number, number, number, number];
  if (host === "0.0.0.0") return { message: `endpoint host may not be unspecified (${host})`, hint: "0.0.0.0 is where a server listens, not an address to dial: use 127.0.0.1 (e.g. 127.0.0.1:3000)" };
  if (a === 169 && b === 254) return { message: "endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", hint: LINK_LOCAL_HINT };
  if (a === 224 && b === 0 && c === 0) return { message: "endpoint host may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)", hint: LINK_LOCAL_HINT };
  return undefined;
}

const LINK_LOCAL_HINT = "use the service's loopback (127.0.0.1) or LAN address, or a DNS name for it";
const IPV6_HINT = "have the service listen on 127.0.0.1 too and give that, e.g. 127.0.0.1:3000";

/** Every IPv6 host is refused; unspecified and link-local ones with the platform's own words. */
function checkIPv6(raw: string): EndpointCheck {
  const zone = raw.indexOf("%");
  const address = zone < 0 ? raw : raw.slice(0, zone);
  if (isIP(address) !== 6) return fail("invalid IPv6 address", ENDPOINT_HINT);
  const first = firstHextet(address);
  if (/^0*$/.test(address.replace(/[:.]/g, ""))) {
    return fail(`endpoint host may not be unspecified (${address})`, `:: is where a server listens, not an address to dial: ${IPV6_HINT}`);
  }
  if (first >= 0xfe80 && first <= 0xfebf) return fail("endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", LINK_LOCAL_HINT);
  if ((first & 0xff0f) === 0xff02) return fail("endpoint host may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)", LINK_LOCAL_HINT);
  return fail(`IPv6 origins are not supported: the platform dials the origin as host:port without brackets, so [${raw}] could never be reached`, IPV6_HINT);
}

/** The first 16 bits of a valid IPv6 address (0 when it starts with `::`). */
function firstHextet(address: string): number {
  if (address.startsWith("::")) return 0;
  return Number.parseInt(address.slice(0, address.indexOf(":")), 16);
}

/** A name: exactly `localhost`, or a fully qualified domain name (Kubernetes' rule: DNS-1123, two labels at least). */
function nameProblem(host: string): EndpointProblem | undefined {
  if (host === "localhost") return undefined;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  const labels = name.split(".");
  const last = labels[labels.length - 1] as string;
  // A URL parser reads a name ending in a number as an IPv4 address (`127.1`, `10.0.0.256`).
  if (/^(\d+|0x[0-9a-f]*)$/i.test(last)) {
    return { message: `invalid IPv4 address "${host}"`, hint: "write an IPv4 address as four decimal numbers, e.g. 127.0.0.1:3000" };
  }
  if (host.toLowerCase() === "localhost" || (host !== host.toLowerCase() && validName(name.toLowerCase()))) {
    return { message: `endpoint host "${host}" must be lower case`, hint: `write it as ${host.toLowerCase()}` };
  }
  if (!validName(name)) {
    return {
      message: `endpoint host "${host}" is not a valid DNS name: lower-case letters, digits and '-' in labels of up to 63 characters, separated by '.'`,
      hint: ENDPOINT_HINT,
    };
  }
  if (labels.length < 2) {
    return {
      message: `endpoint host "${host}" must be a fully qualified domain name (at least two labels) or localhost`,
      hint: `the platform refuses single-label names: for a service on this machine use 127.0.0.1 or localhost (e.g. 127.0.0.1:3000), else a fully qualified name (${host}.example.com)`,
    };
  }
  return undefined;
}

function validName(name: string): boolean {
  return name.length <= 253 && name.split(".").every((label) => label.length <= 63 && DNS_LABEL.test(label));
}

function firstIndexOf(text: string, chars: string): number {
  for (let i = 0; i < text.length; i++) if (chars.includes(text[i] as string)) return i;
  return text.length;
}

function fail(message: string, hint: string): EndpointCheck {
  return { ok: false, problem: { message, hint } };
}
