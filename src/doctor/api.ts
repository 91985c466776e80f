/**
 * Doctor's hops to the API host: the proxy in use, DNS, TCP, TLS, an authenticated request, the
 * project readable and HTTPProxies listable. Requests go the way the agent's own do (the same
 * proxy decision, src/net/proxy.ts), and the first answer's `Date` header feeds the clock check.
 */
import { lookup } from "node:dns/promises";
import { isIP, connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { TokenProvider } from "../controlplane/client.ts";
import { ControlPlaneClient } from "../controlplane/client.ts";
import { projectControlPlaneUrl } from "../controlplane/kinds.ts";
import { userAgent } from "../controlplane/user-agent.ts";
import { CliError } from "../errors.ts";
import { proxiedFetch, proxyFor, redactProxyCredentials, redactProxyUrl, type ProxySettings } from "../net/proxy.ts";
import { clockSkewHop } from "./credentials.ts";
import { classOfExit, hop, type Hop } from "./report.ts";

const S = "api" as const;
const STEP_TIMEOUT_MS = 5_000;

export interface ApiInput {
  readonly apiBase: string;
  /** Null when no project could be resolved (the project hops are skipped). */
  readonly project: string | null;
  readonly token: string | undefined;
  readonly proxy: ProxySettings;
}

function errorText(err: unknown, proxy: ProxySettings): string {
  const inner = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = inner instanceof Error ? (inner as Error & { code?: unknown }).code : undefined;
  const message = inner instanceof Error ? inner.message : String(inner);
  const text = typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
  return redactProxyCredentials(text, proxy);
}

async function timed<T>(run: () => Promise<T>): Promise<{ ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number }> {
  const started = performance.now();
  try {
    const value = await run();
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, error, ms: performance.now() - started };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function tcpProbe(host: string, port: number): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const socket = tcpConnect({ host, port });
      socket.once("connect", () => {
        const remote = `${socket.remoteAddress}:${socket.remotePort}`;
        socket.destroy();
        resolve(remote);
      });
      socket.once("error", reject);
    }),
    STEP_TIMEOUT_MS,
    "connect",
  );
}

function tlsProbe(host: string, port: number): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host, port, servername: isIP(host) ? undefined : host });
      socket.once("secureConnect", () => {
        const cert = socket.getPeerCertificate();
        const subject = typeof cert?.subject?.CN === "string" ? cert.subject.CN : host;
        const protocol = socket.getProtocol() ?? "TLS";
        const validTo = cert?.valid_to ? `, valid until ${new Date(cert.valid_to).toISOString().slice(0, 10)}` : "";
        socket.destroy();
        resolve(`${protocol}, certificate for ${subject}${validTo}`);
      });
      socket.once("error", reject);
    }),
    STEP_TIMEOUT_MS,
    "TLS handshake",
  );
}

export interface ApiResult {
  readonly hops: Hop[];
}

export async function checkApi(input: ApiInput): Promise<ApiResult> {
  const hops: Hop[] = [];
  const base = new URL(input.apiBase);
  const host = base.hostname.replace(/^\[|\]$/g, "");
  const https = base.protocol === "https:";
  const port = base.port ? Number(base.port) : https ? 443 : 80;
  const target = base.host;
  const viaProxy = proxyFor(base, input.proxy);
  const unreachableRemedy = viaProxy
    ? `check that the proxy ${redactProxyUrl(viaProxy)} is up and lets this host through, or add ${host} to NO_PROXY`
    : `check the network path to ${target} (firewall, VPN, DATUM_API_HOST)`;

  hops.push(
    viaProxy
      ? hop.pass("api.proxy", S, "HTTP proxy", `through ${redactProxyUrl(viaProxy)} (${https ? "HTTPS_PROXY" : "HTTP_PROXY"})`, { target })
      : hop.pass("api.proxy", S, "HTTP proxy", input.proxy.httpsProxy || input.proxy.httpProxy ? "direct (NO_PROXY)" : "direct (no proxy set)", { target }),
  );

  // Where the TCP connection goes: the proxy, or the API host itself.
  let connectHost = host;
  let connectPort = port;
  if (viaProxy) {
    const p = new URL(viaProxy);
    connectHost = p.hostname.replace(/^\[|\]$/g, "");
    connectPort = p.port ? Number(p.port) : p.protocol === "https:" ? 443 : 80;
  }
  const connectTarget = viaProxy ? `proxy ${redactProxyUrl(viaProxy).replace(/^[a-z]+:\/\//, "")}` : target;

  let reachable = true;
  if (isIP(connectHost)) {
    hops.push(hop.pass("api.dns", S, "DNS", `${connectHost} is an IP address`, { target: connectHost }));
  } else {
    const r = await timed(() => withTimeout(lookup(connectHost, { all: true }), STEP_TIMEOUT_MS, "DNS lookup"));
    if (r.ok) {
      hops.push(hop.pass("api.dns", S, "DNS", r.value.map((a) => a.address).join(", "), { target: connectHost, ms: r.ms }));
    } else {
      reachable = false;
      hops.push(hop.fail("api.dns", S, "DNS", "unreachable", errorText(r.error, input.proxy), `check DNS on this machine (resolvectl query ${connectHost})`, { target: connectHost, ms: r.ms }));
    }
  }
  if (reachable) {
    const r = await timed(() => tcpProbe(connectHost, connectPort));
    if (r.ok) hops.push(hop.pass("api.tcp", S, "TCP connect", `connected to ${r.value}`, { target: connectTarget, ms: r.ms }));
    else {
      reachable = false;
      hops.push(hop.fail("api.tcp", S, "TCP connect", "unreachable", errorText(r.error, input.proxy), unreachableRemedy, { target: connectTarget, ms: r.ms }));
    }
  } else hops.push(hop.skip("api.tcp", S, "TCP connect", "no address", { target: connectTarget }));

  if (!https) hops.push(hop.pass("api.tls", S, "TLS handshake", "none: the API is plain http (the local Datum)", { target }));
  else if (!reachable) hops.push(hop.skip("api.tls", S, "TLS handshake", "not connected", { target }));
  else if (viaProxy) hops.push(hop.skip("api.tls", S, "TLS handshake", "inside the proxy's tunnel: checked by the next request", { target }));
  else {
    const r = await timed(() => tlsProbe(host, port));
    if (r.ok) hops.push(hop.pass("api.tls", S, "TLS handshake", r.value, { target, ms: r.ms }));
    else {
      reachable = false;
      hops.push(
        hop.fail("api.tls", S, "TLS handshake", "unreachable", errorText(r.error, input.proxy), "a middlebox may intercept TLS: set HTTPS_PROXY to your proxy, or trust its CA (NODE_EXTRA_CA_CERTS)", { target, ms: r.ms }),
      );
    }
  }

  const projectTitle = "project readable";
  const listTitle = "HTTPProxies listable";
  const skipRest = (why: string) => {
    hops.push(hop.skip("api.authenticated", S, "authenticated request", why, { target }));
    hops.push(hop.skip("api.project", S, projectTitle, why, { target: input.project }));
    hops.push(hop.skip("api.httpproxies", S, listTitle, why, { target: input.project }));
    hops.push(hop.skip("credentials.clock", "credentials", "clock skew", why));
  };
  if (!reachable) {
    skipRest("the API host is not reachable");
    return { hops };
  }
  if (!input.token) {
    skipRest("no token");
    return { hops };
  }
  if (!input.project) {
    skipRest("no project");
    return { hops };
  }

  // One authenticated GET of the project's API discovery: 401 says the token, 403/404 the project.
  const url = `${projectControlPlaneUrl(input.apiBase, input.project)}/apis`;
  const fetcher = proxiedFetch(input.proxy);
  const started = performance.now();
  let answer: { status: number; date: string | null; at: number; body: string } | undefined;
  try {
    const res = await fetcher(url, {
      headers: { Authorization: `Bearer ${input.token}`, Accept: "application/json", "User-Agent": userAgent() },
      signal: AbortSignal.timeout(10_000),
      redirect: "manual",
    });
    const at = Date.now();
    answer = { status: res.status, date: res.headers.get("date"), at, body: (await res.text()).slice(0, 300) };
  } catch (err) {
    const ms = performance.now() - started;
    hops.push(hop.fail("api.authenticated", S, "authenticated request", "unreachable", errorText(err, input.proxy), unreachableRemedy, { target, ms }));
    hops.push(hop.skip("api.project", S, projectTitle, "no answer", { target: input.project }));
    hops.push(hop.skip("api.httpproxies", S, listTitle, "no answer", { target: input.project }));
    hops.push(hop.skip("credentials.clock", "credentials", "clock skew", "no answer from the API"));
    return { hops };
  }
  const ms = performance.now() - started;
  hops.push(clockSkewHop(answer.date, answer.at, ms));
  const status = answer.status;
  if (status === 401) {
    hops.push(hop.fail("api.authenticated", S, "authenticated request", "auth", "401 Unauthorized: the API refused the token", "run 'datumctl login' (the session may be revoked), then try again", { target, ms }));
    hops.push(hop.skip("api.project", S, projectTitle, "not authenticated", { target: input.project }));
    hops.push(hop.skip("api.httpproxies", S, listTitle, "not authenticated", { target: input.project }));
    return { hops };
  }
  if (status >= 500 || (status >= 300 && status < 400)) {
    hops.push(hop.fail("api.authenticated", S, "authenticated request", "unreachable", `HTTP ${status} from ${target}`, viaProxy ? unreachableRemedy : "the API is having trouble; try again in a minute", { target, ms }));
    hops.push(hop.skip("api.project", S, projectTitle, "no usable answer", { target: input.project }));
    hops.push(hop.skip("api.httpproxies", S, listTitle, "no usable answer", { target: input.project }));
    return { hops };
  }
  hops.push(hop.pass("api.authenticated", S, "authenticated request", `HTTP ${status}`, { target, ms }));
  if (status === 403 || status === 404) {
    const seen = status === 403 ? "403 Forbidden: this identity may not read the project" : "404: no such project";
    hops.push(hop.fail("api.project", S, projectTitle, "rejected", seen, "check the project ID ('datumctl get projects') and that this session belongs to its organization", { target: input.project }));
    hops.push(hop.skip("api.httpproxies", S, listTitle, "project not readable", { target: input.project }));
    return { hops };
  }
  hops.push(
    status >= 200 && status < 300
      ? hop.pass("api.project", S, projectTitle, `HTTP ${status}`, { target: input.project })
      : hop.fail("api.project", S, projectTitle, "unexpected", `HTTP ${status}: ${answer.body.replace(/\s+/g, " ")}`, "run with --verbose and report this", { target: input.project }),
  );

  const token = input.token;
  const tokens: TokenProvider = { token: async () => token, invalidate: async () => token };
  const client = new ControlPlaneClient({ apiBase: input.apiBase, project: input.project, tokens, proxy: input.proxy, budget: { attempts: 1, spacingMs: 0 }, notice: () => undefined });
  const r = await timed(() => client.list("HTTPProxy"));
  if (r.ok) hops.push(hop.pass("api.httpproxies", S, listTitle, `${r.value.length} HTTPProxies`, { target: input.project, ms: r.ms }));
  else {
    const err = r.error;
    if (err instanceof CliError) hops.push(hop.fail("api.httpproxies", S, listTitle, classOfExit(err.exit), redactProxyCredentials(err.message, input.proxy), err.hint ?? "run with --verbose", { target: input.project, ms: r.ms }));
    else hops.push(hop.fail("api.httpproxies", S, listTitle, "unexpected", errorText(err, input.proxy), "run with --verbose and report this", { target: input.project, ms: r.ms }));
  }
  return { hops };
}
