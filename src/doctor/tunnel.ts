/**
 * Doctor's hops for one named tunnel: its state files, its objects' conditions, the public
 * hostname resolving, the edge answering at the public URL and the origin answering. The public
 * URL goes the way the verifier's probe does (the proxy decision of src/net/proxy.ts); the origin
 * is asked directly, as the data plane dials it.
 */
import { lookup } from "node:dns/promises";
import { existsSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { CliError } from "../errors.ts";
import { publicUrl } from "../listen/lines.ts";
import { proxiedFetch, proxyFor, redactProxyCredentials, redactProxyUrl, type ProxySettings } from "../net/proxy.ts";
import { readAllowList } from "../state/allowlist.ts";
import { loadIdentity, type Identity } from "../state/identity.ts";
import { isRunning, readRunState, type RunState } from "../state/run-state.ts";
import { readTunnelConfig, type TunnelConfig } from "../state/tunnel-config.ts";
import { tunnelFiles } from "../state/paths.ts";
import { originProbeUrl } from "../tunnel/endpoint.ts";
import { allReady, type TunnelProgress } from "../tunnel/progress.ts";
import { isLocalhostName } from "../verify/dns-fallback.ts";
import { classOfExit, hop, type Hop } from "./report.ts";

const S = "tunnel" as const;
const PROBE_TIMEOUT_MS = 10_000;

export interface TunnelState {
  readonly config: TunnelConfig | undefined;
  readonly run: RunState | undefined;
  readonly identity: Identity | undefined;
  readonly running: boolean;
}

/** Read every state file of the tunnel in `dir`; one hop saying which could not be read. */
export async function checkState(name: string, dir: string): Promise<{ hop: Hop; state: TunnelState | undefined }> {
  const files = tunnelFiles(dir);
  if (!existsSync(dir)) {
    return {
      hop: hop.fail("tunnel.state", S, "state files", "rejected", `no tunnel named "${name}" on this machine`, "run 'tunnel ps' to see this machine's tunnels", { target: dir }),
      state: undefined,
    };
  }
  const problems: { path: string; error: CliError | Error }[] = [];
  const read = async <T>(path: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (err) {
      problems.push({ path, error: err instanceof Error ? err : new Error(String(err)) });
      return undefined;
    }
  };
  const config = await read(files.config, () => readTunnelConfig(files.config));
  const run = await read(files.run, () => readRunState(files.run));
  const identity = await read(files.listenKey, () => loadIdentity(dir));
  await read(files.allowList, () => readAllowList(files.allowList));
  const first = problems[0];
  if (first) {
    const cls = first.error instanceof CliError ? classOfExit(first.error.exit) : "malformed";
    const hint = first.error instanceof CliError && first.error.hint ? first.error.hint : "fix or delete the file";
    const seen = problems.map((p) => (p.error.message.includes(p.path) ? p.error.message : `${p.path}: ${p.error.message}`)).join("; ");
    return { hop: hop.fail("tunnel.state", S, "state files", cls, seen, hint, { target: dir }), state: undefined };
  }
  const read4 = [config ? "tunnel.yaml" : null, run ? "run.json" : null, identity ? "listen_key" : null, existsSync(files.allowList) ? "state.yml" : null].filter(Boolean);
  return {
    hop: hop.pass("tunnel.state", S, "state files", read4.length ? `read ${read4.join(", ")}` : "none written yet", { target: dir }),
    state: { config, run, identity, running: run !== undefined && isRunning(run) },
  };
}

/** The objects' conditions hop from the tunnel's setup progress. Pure. */
export function objectsHop(id: string | undefined, progress: TunnelProgress | undefined | CliError, name: string): Hop {
  const title = "tunnel objects";
  if (id === undefined) return hop.warn("tunnel.objects", S, title, "not created yet", `start it: 'tunnel start --name ${name}' (or 'tunnel listen --name ${name}')`);
  if (progress instanceof CliError) return hop.fail("tunnel.objects", S, title, classOfExit(progress.exit), progress.message, progress.hint ?? "run with --verbose", { target: id });
  if (progress === undefined) {
    return hop.fail("tunnel.objects", S, title, "rejected", `HTTPProxy ${id} does not exist`, `it was deleted elsewhere: 'tunnel listen --name ${name}' creates it again`, { target: id });
  }
  if (progress.advertised === false) {
    return hop.fail("tunnel.objects", S, title, "config", "disabled: no ConnectorAdvertisement", `enable it: 'tunnel enable --id ${id}'`, { target: id });
  }
  if (allReady(progress)) return hop.pass("tunnel.objects", S, title, `every condition True (${progress.steps.length} steps)`, { target: id });
  const pending = progress.steps.filter((s) => s.status !== "ready" && !(s.step === "connector_metadata_programmed" && s.status === "unknown"));
  const seen = pending.map((s) => `${s.label}: ${s.status}${s.reason ? ` (${s.reason}${s.message ? `: ${s.message}` : ""})` : ""}`).join("; ");
  return hop.fail("tunnel.objects", S, title, "provisioning", seen, "wait for the platform to finish, or see 'tunnel status'", { target: id });
}

export async function dnsHop(hostname: string, url: string, proxy: ProxySettings): Promise<Hop> {
  const title = "public hostname resolves";
  if (isLocalhostName(hostname)) return hop.pass("tunnel.dns", S, title, "loopback by definition (*.localhost, RFC 6761)", { target: hostname });
  const via = proxyFor(url, proxy);
  if (via) return hop.skip("tunnel.dns", S, title, `resolved by the proxy ${redactProxyUrl(via)}`, { target: hostname });
  const started = performance.now();
  try {
    const addresses = await lookup(hostname, { all: true });
    return hop.pass("tunnel.dns", S, title, addresses.map((a) => a.address).join(", "), { target: hostname, ms: performance.now() - started });
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    return hop.fail("tunnel.dns", S, title, "provisioning", `${code}`, "a new hostname can take a minute to appear; a stale negative answer may be cached (resolvectl flush-caches)", {
      target: hostname,
      ms: performance.now() - started,
    });
  }
}

/**
 * The public URL through the edge: any answer below 500 passes. A 502 while the origin is down is
 * the device's own answer (the path through the edge works; the origin line names the problem),
 * so it is a warning there, not the first broken hop.
 */
export async function edgeHop(url: string, proxy: ProxySettings, running: boolean, name: string, originDown = false): Promise<Hop> {
  const title = "edge answers";
  const started = performance.now();
  const via = proxyFor(url, proxy);
  const through = via ? ` through ${redactProxyUrl(via)}` : "";
  try {
    const res = await proxiedFetch(proxy)(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), redirect: "manual" });
    const body = res.status >= 500 ? (await res.text()).slice(0, 200).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim() : "";
    if (res.status < 500) {
      await res.body?.cancel().catch(() => undefined);
      return hop.pass("tunnel.edge", S, title, `HTTP ${res.status}${through}`, { target: url, ms: performance.now() - started });
    }
    if (res.status === 502 && originDown) {
      return hop.warn("tunnel.edge", S, title, `HTTP 502${through}: the device answered, its origin did not`, "see the origin line", { target: url, ms: performance.now() - started });
    }
    const remedy = running ? "the edge cannot reach this device: see the relay and origin lines, and 'tunnel logs'" : `the tunnel is not running here: 'tunnel start --name ${name}'`;
    return hop.fail("tunnel.edge", S, title, "unreachable", `HTTP ${res.status}${through}${body ? `: ${body}` : ""}`, remedy, { target: url, ms: performance.now() - started });
  } catch (err) {
    const inner = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const text = redactProxyCredentials(inner instanceof Error ? inner.message : String(inner), proxy);
    return hop.fail("tunnel.edge", S, title, "unreachable", `${text}${through}`, via ? "check that the proxy lets this host through" : "check the network path to the public URL", { target: url, ms: performance.now() - started });
  }
}

/** A GET of the origin, directly (node:http carries no proxy), any answer counting. */
function directGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = request(url, { method: "GET", agent: false, timeout: PROBE_TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("timeout", () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000}s`)));
    req.once("error", reject);
    req.end();
  });
}

export async function originHop(endpoint: string): Promise<Hop> {
  const title = "origin answers";
  const url = originProbeUrl(endpoint);
  if (!url) return hop.fail("tunnel.origin", S, title, "malformed", `cannot probe endpoint "${endpoint}"`, "fix the endpoint in tunnel.yaml", { target: endpoint });
  const started = performance.now();
  try {
    const status = await directGet(url);
    return hop.pass("tunnel.origin", S, title, `HTTP ${status}`, { target: url, ms: performance.now() - started });
  } catch (err) {
    const e = err as Error & { code?: string };
    const seen = e.code === "ECONNREFUSED" ? "connection refused" : `${e.code ? `${e.code}: ` : ""}${e.message}`;
    const where = new URL(url).host;
    return hop.fail("tunnel.origin", S, title, "unreachable", seen, `is the service running on ${where}? Start it, or point the tunnel elsewhere ('tunnel update --endpoint')`, {
      target: url,
      ms: performance.now() - started,
    });
  }
}

export { publicUrl };
