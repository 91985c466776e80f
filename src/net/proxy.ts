/**
 * Which HTTP proxy a request goes through: the one decision every HTTP client of the agent uses
 * (control plane, public-URL verification, relay probes; docs/proxies.md).
 *
 * The variables are curl's: `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/`HTTP_PROXY`
 * for http URLs (the lower-case form wins when both are set; an empty value is unset; a value
 * without a scheme gets `http://`), and `no_proxy`/`NO_PROXY`, a comma-separated list of:
 *
 * - `*`: no proxy for anything;
 * - a name, `example.com` or `.example.com` (or `*.example.com`): that name and every name under
 *   it, on a label boundary (`ample.com` does not match `example.com`);
 * - an IP address (`127.0.0.1`, `::1` or `[::1]`), or a CIDR range (`10.0.0.0/8`, `fd00::/8`);
 * - any of these with `:port`, which then matches that port only.
 *
 * Loopback is **not** exempt on its own (curl's rule too): `NO_PROXY=localhost,127.0.0.1` keeps
 * local traffic direct. Pure functions, table-tested in test/unit/net/proxy.test.ts.
 */
import { isIP } from "node:net";

export type Env = Readonly<Record<string, string | undefined>>;

export interface ProxySettings {
  /** Proxy URL for https requests, or null. */
  readonly httpsProxy: string | null;
  /** Proxy URL for http requests, or null. */
  readonly httpProxy: string | null;
  /** The raw no-proxy list, or null. */
  readonly noProxy: string | null;
}

export const NO_PROXY_SETTINGS: ProxySettings = { httpsProxy: null, httpProxy: null, noProxy: null };

/** Every variable read, lower-case form first (the order of precedence). */
export const PROXY_ENV_NAMES = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"] as const;

function first(env: Env, ...names: string[]): string | null {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return null;
}

function withScheme(proxy: string | null): string | null {
  if (proxy === null) return null;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

export function proxySettingsFrom(env: Env): ProxySettings {
  return {
    httpsProxy: withScheme(first(env, "https_proxy", "HTTPS_PROXY")),
    httpProxy: withScheme(first(env, "http_proxy", "HTTP_PROXY")),
    noProxy: first(env, "no_proxy", "NO_PROXY"),
  };
}

export function hasProxy(settings: ProxySettings): boolean {
  return settings.httpsProxy !== null || settings.httpProxy !== null;
}

interface Entry {
  readonly host: string;
  readonly port: number | null;
  /** `.example.com`: subdomains (and the name itself). */
  readonly cidr: { readonly base: bigint; readonly bits: number; readonly family: 4 | 6 } | null;
}

function parseEntry(raw: string): Entry | "all" | null {
  let text = raw.trim().toLowerCase();
  if (!text) return null;
  if (text === "*") return "all";
  text = text.replace(/^[a-z][a-z0-9+.-]*:\/\//, "").replace(/\/$/, "");
  let port: number | null = null;
  let host = text;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?(\/\d+)?$/.exec(text);
  if (bracketed) {
    host = (bracketed[1] as string) + (bracketed[3] ?? "");
    port = bracketed[2] ? Number(bracketed[2]) : null;
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const at = text.lastIndexOf(":");
    const maybePort = text.slice(at + 1);
    if (/^\d+$/.test(maybePort)) {
      port = Number(maybePort);
      host = text.slice(0, at);
    }
  }
  host = host.replace(/^\*?\./, "").replace(/\.$/, "");
  if (!host) return null;
  const slash = host.indexOf("/");
  if (slash !== -1) {
    const base = host.slice(0, slash);
    const bits = Number(host.slice(slash + 1));
    const family = isIP(base);
    if ((family === 4 || family === 6) && Number.isInteger(bits) && bits >= 0 && bits <= (family === 4 ? 32 : 128)) {
      return { host: base, port, cidr: { base: ipToBigInt(base, family), bits, family } };
    }
    return null;
  }
  return { host, port, cidr: null };
}

function ipToBigInt(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  // Expand `::` and an embedded IPv4 tail.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipToBigInt(v4[1] as string, 4);
    text = text.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const missing = 8 - headParts.length - tailParts.length;
  const parts = [...headParts, ...Array(tail === undefined ? 0 : missing).fill("0"), ...tailParts];
  return parts.reduce((acc, part) => (acc << 16n) | BigInt(Number.parseInt(part || "0", 16)), 0n);
}

function inCidr(host: string, cidr: NonNullable<Entry["cidr"]>): boolean {
  const family = isIP(host);
  if (family !== cidr.family) return false;
  const width = family === 4 ? 32 : 128;
  const shift = BigInt(width - cidr.bits);
  return ipToBigInt(host, family) >> shift === cidr.base >> shift;
}

function defaultPort(protocol: string): number {
  return protocol === "https:" || protocol === "wss:" ? 443 : 80;
}

/** Whether `url` is exempt from the proxy by the `noProxy` list. */
export function noProxyMatches(url: URL, noProxy: string | null): boolean {
  if (!noProxy) return false;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  const port = url.port ? Number(url.port) : defaultPort(url.protocol);
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = parseEntry(raw);
    if (entry === null) continue;
    if (entry === "all") return true;
    if (entry.port !== null && entry.port !== port) continue;
    if (entry.cidr) {
      if (inCidr(host, entry.cidr)) return true;
      continue;
    }
    if (host === entry.host) return true;
    // Names match on a label boundary; an IP address only matches itself.
    if (isIP(host) === 0 && host.endsWith(`.${entry.host}`)) return true;
  }
  return false;
}

/** The proxy URL `url` goes through, or `undefined` for a direct connection. */
export function proxyFor(url: string | URL, settings: ProxySettings): string | undefined {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : url;
  } catch {
    return undefined;
  }
  const proxy =
    parsed.protocol === "https:" || parsed.protocol === "wss:" ? settings.httpsProxy : parsed.protocol === "http:" || parsed.protocol === "ws:" ? settings.httpProxy : null;
  if (!proxy) return undefined;
  if (noProxyMatches(parsed, settings.noProxy)) return undefined;
  return proxy;
}

/** A proxy URL fit for logs and reports: `http://user:pass@host:3128` → `http://***@host:3128`. */
export function redactProxyUrl(proxy: string): string {
  return proxy.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1***@");
}

/** `text` with the credentials of any configured proxy URL replaced (error text may quote one). */
export function redactProxyCredentials(text: string, settings: ProxySettings): string {
  let out = text;
  for (const proxy of [settings.httpsProxy, settings.httpProxy]) {
    if (!proxy) continue;
    out = out.split(proxy).join(redactProxyUrl(proxy));
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(proxy)?.[1];
    if (userinfo) {
      out = out.split(userinfo).join("***");
      try {
        const decoded = decodeURIComponent(userinfo);
        if (decoded !== userinfo) out = out.split(decoded).join("***");
      } catch {
        // Not percent-encoded text: the raw form is already covered.
      }
    }
  }
  return out;
}

/**
 * A `fetch` that sends each request through the proxy `proxyFor` picks (Bun's `proxy` option), or
 * directly. The runtime reads the same variables on its own; passing the decision explicitly keeps
 * workers, whose environment carries no proxy variables, on the same rules.
 */
export function proxiedFetch(settings: ProxySettings, base: typeof globalThis.fetch = globalThis.fetch): typeof globalThis.fetch {
  const wrapped = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const proxy = proxyFor(url, settings);
    return base(input, proxy ? ({ ...init, proxy } as RequestInit) : init);
  };
  return Object.assign(wrapped, { preconnect: base.preconnect }) as typeof globalThis.fetch;
}
