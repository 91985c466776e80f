/**
 * iroh endpoint construction and inspection shared by the ListenNode worker and the dev-cloud
 * gateway. Only worker-side and dev-cloud code import this module: it loads the native module.
 */
import { Endpoint, presetMinimal, RelayMode, type EndpointAddr } from "@number0/iroh";
import { asciiBytes } from "./bytes.ts";

/** The one application protocol (docs/wire-facts.md#identity-and-alpn, `n0-computer/iroh-proxy-utils:src/lib.rs`). */
export const ALPN_TEXT = "iroh-http-proxy/1";
export const ALPN = Array.from(asciiBytes(ALPN_TEXT));

/**
 * Concurrent bi-streams a gateway may hold open on one connection to the device. The gateway
 * opens one stream per client connection and keeps it for that connection's life (keep-alive,
 * websockets), so QUIC's default of 100 would stall the 101st browser connection. Raised per
 * connection with `setMaxConcurrentBiStreams`, the one transport knob iroh-js exposes.
 *
 * iroh (noq) hands the credit of closed streams back in batches of about an eighth of this
 * window (measured: 1024 → steps of 129), so up to 1/8 of it can be tied up by streams that
 * already closed: with 1024, 1,000 new streams after 100 closed ones stalled 76 of them until
 * their clients gave up (bench/streams-burst.ts). 4096 keeps ≥ 3,500 usable; the stream state
 * behind it is allocated lazily (RSS unchanged within 1 MiB, measured).
 */
export const MAX_STREAMS_PER_CONNECTION = 4096n;

/**
 * Every endpoint stays referenced here until it is closed and released: a garbage-collected
 * `Endpoint` drops its driver and kills all its connections (iroh-js defect 2,
 * docs/architecture.md#iroh-js-constraints). Measured: a module-scope `const` alone is not enough once
 * the code no longer uses it.
 */
export const liveEndpoints = new Set<Endpoint>();

export interface DirectAddress {
  readonly address: string;
  readonly port: number;
}

export interface EndpointInfo {
  readonly endpointId: string;
  readonly addresses: DirectAddress[];
  readonly homeRelay: string | null;
}

/** `127.0.0.1:4433` / `[::1]:4433` → `{address, port}` (address without brackets). */
export function parseSocketAddr(text: string): DirectAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { address: match[1] ?? match[2]!, port };
}

/** `{address, port}` → the `ip:port` text iroh takes (IPv6 bracketed). */
export function formatSocketAddr(addr: DirectAddress): string {
  return addr.address.includes(":") ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}

export function addrInfo(addr: EndpointAddr): Omit<EndpointInfo, "endpointId"> {
  const addresses = addr
    .directAddresses()
    .map(parseSocketAddr)
    .filter((a): a is DirectAddress => a !== undefined)
    .sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
  return { addresses, homeRelay: addr.relayUrl() };
}

export function endpointInfo(ep: Endpoint): EndpointInfo {
  return { endpointId: ep.id().toString(), ...addrInfo(ep.addr()) };
}

/** The port of the endpoint's IPv4 socket (what is remembered for the next start). */
export function boundPort(ep: Endpoint): number {
  const sockets = ep.boundSockets().map(parseSocketAddr);
  const v4 = sockets.find((s) => s !== undefined && !s.address.includes(":"));
  return (v4 ?? sockets.find((s) => s !== undefined))?.port ?? 0;
}

export interface BindOptions {
  readonly secretKey?: number[];
  /** Acceptors list their ALPNs; a dial-only endpoint passes none. */
  readonly alpns?: number[][];
  /** Empty: relays disabled. */
  readonly relayUrls: readonly string[];
  /** Candidate socket-address sets, tried in order until one binds. */
  readonly bindAttempts: ReadonlyArray<readonly string[]>;
}

/**
 * Bind with the minimal preset (crypto only: no n0 relays or discovery), trying each set of bind
 * addresses in turn. Returns the endpoint and the 0-based index of the set that worked.
 */
export async function bindEndpoint(options: BindOptions): Promise<{ endpoint: Endpoint; attempt: number }> {
  let lastError: unknown;
  for (const [index, addrs] of options.bindAttempts.entries()) {
    const builder = Endpoint.builder();
    presetMinimal(builder);
    if (options.secretKey) builder.secretKey(options.secretKey);
    if (options.alpns) builder.alpns(options.alpns);
    builder.relayMode(options.relayUrls.length > 0 ? RelayMode.customFromUrls([...options.relayUrls]) : RelayMode.disabled());
    for (const addr of addrs) builder.bindAddr(addr);
    try {
      const endpoint = await builder.bind();
      liveEndpoints.add(endpoint);
      return { endpoint, attempt: index };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * Bind attempts for the ListenNode: the remembered port on both families (so a restart keeps
 * every address, docs/architecture.md#local-state), then that port on IPv4 only (no IPv6 here, or its
 * port is taken), then any port. Measured: `bindAddr` may be called once per family; the unset family
 * binds a random port.
 */
export function listenBindAttempts(port: number | undefined): string[][] {
  if (!port) return [["0.0.0.0:0"]];
  return [[`0.0.0.0:${port}`, `[::]:${port}`], [`0.0.0.0:${port}`], ["0.0.0.0:0"]];
}
