/**
 * Doctor's data-plane hops: iroh's native module loads here, a UDP socket binds (QUIC), and each
 * relay answers `GET /ping` over HTTPS (docs/wire-facts.md#relays), with its latency. iroh dials relays
 * and peers itself and uses no HTTP proxy (docs/proxies.md): with one set, the relay lines say so.
 */
import { createSocket } from "node:dgram";
import { placeholderRelay, relayUrls } from "../dataplane/relays.ts";
import { proxiedFetch, proxyFor, redactProxyCredentials, redactProxyUrl, type ProxySettings } from "../net/proxy.ts";
import { hop, type Hop } from "./report.ts";

const S = "dataplane" as const;
const RELAY_TIMEOUT_MS = 5_000;

/** Said on relay lines when a proxy is set: the data plane does not go through it. */
export const RELAY_PROXY_NOTE = "iroh does not use HTTP proxies: relays need direct outbound HTTPS (TCP 443) and QUIC (UDP)";

export interface DataplaneInput {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly proxy: ProxySettings;
  /** Loads the native module (tests of the report inject one; the real one by default). */
  readonly loadNative?: () => Promise<unknown>;
}

async function nativeHop(load: () => Promise<unknown>): Promise<Hop> {
  const platform = `${process.platform}-${process.arch}`;
  const started = performance.now();
  try {
    await load();
    return hop.pass("dataplane.native", S, "iroh native module", `loads on ${platform}`, { ms: performance.now() - started });
  } catch (err) {
    const first = err instanceof Error ? (err.message.split("\n", 1)[0] ?? err.message) : String(err);
    return hop.fail("dataplane.native", S, "iroh native module", "unreachable", `does not load on ${platform}: ${first}`, "reinstall datumctl-connect; tunnels need linux-x64 (glibc 2.34+) or darwin-arm64", {
      ms: performance.now() - started,
    });
  }
}

function udpHop(): Promise<Hop> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", (err) => {
      socket.close();
      resolve(hop.fail("dataplane.udp", S, "UDP bind", "config", err.message, "QUIC needs a UDP socket: check local firewall or sandbox rules", { ms: performance.now() - started }));
    });
    socket.bind(0, "0.0.0.0", () => {
      const { port } = socket.address();
      socket.close();
      resolve(hop.pass("dataplane.udp", S, "UDP bind", `bound 0.0.0.0:${port}`, { ms: performance.now() - started }));
    });
  });
}

async function relayHop(relay: string, input: DataplaneInput, placeholder: string | null): Promise<Hop> {
  const note = proxyFor(relay, input.proxy) || input.proxy.httpsProxy ? `; ${RELAY_PROXY_NOTE}` : "";
  if (placeholder !== null && relay === placeholder) {
    return hop.pass("dataplane.relay", S, "relay", `the local Datum's declared placeholder (it runs no relay; iroh connects over loopback)${note}`, { target: relay });
  }
  const url = new URL("ping", relay.endsWith("/") ? relay : `${relay}/`).toString();
  const via = proxyFor(url, input.proxy);
  const started = performance.now();
  try {
    const res = await proxiedFetch(input.proxy)(url, { signal: AbortSignal.timeout(RELAY_TIMEOUT_MS), redirect: "manual" });
    await res.body?.cancel();
    const ms = performance.now() - started;
    const through = via ? ` through ${redactProxyUrl(via)}` : "";
    if (res.status >= 200 && res.status < 300) return hop.pass("dataplane.relay", S, "relay", `HTTP ${res.status} in ${Math.round(ms)}ms${through}${note}`, { target: relay, ms });
    return hop.fail("dataplane.relay", S, "relay", "unreachable", `HTTP ${res.status} from ${url}${through}`, `this is not an iroh relay answering: check DATUM_CONNECT_RELAY_URLS${note}`, { target: relay, ms });
  } catch (err) {
    const ms = performance.now() - started;
    const inner = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const message = redactProxyCredentials(inner instanceof Error ? `${(inner as Error & { code?: string }).code ? `${(inner as Error & { code?: string }).code}: ` : ""}${inner.message}` : String(inner), input.proxy);
    return hop.fail("dataplane.relay", S, "relay", "unreachable", message, `allow outbound HTTPS (TCP 443) and UDP to ${new URL(relay).host}; without a relay, devices behind NAT cannot be reached${note}`, { target: relay, ms });
  }
}

export async function checkDataplane(input: DataplaneInput): Promise<Hop[]> {
  const hops: Hop[] = [];
  hops.push(await nativeHop(input.loadNative ?? (() => import("@number0/iroh"))));
  hops.push(await udpHop());
  const { urls, invalid } = relayUrls(input.env);
  const placeholder = placeholderRelay(input.env);
  for (const bad of invalid) {
    hops.push(hop.fail("dataplane.relay", S, "relay", "config", `"${bad}" is not a URL`, "fix DATUM_CONNECT_RELAY_URLS (comma-separated relay URLs)", { target: bad }));
  }
  if (urls.length === 0) hops.push(hop.fail("dataplane.relay", S, "relay", "config", "no relay configured", "unset DATUM_CONNECT_RELAY_URLS to use Datum's relays"));
  hops.push(...(await Promise.all(urls.map((relay) => relayHop(relay, input, placeholder)))));
  return hops;
}
