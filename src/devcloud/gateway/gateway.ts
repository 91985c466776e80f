/**
 * The dev cloud's gateway (docs/wire-facts.md#gateway): a real iroh endpoint that dials a
 * device by endpoint id and addresses with ALPN `iroh-http-proxy/1`, keeps one pooled connection
 * per endpoint id (re-dialled once closed) and opens one bi-stream per request. On each stream it
 * sends the production `CONNECT host:port` (or, for older gateways' origin mode, an absolute-form
 * request) and reads the device's response head. Device unreachable → 504; no usable answer → 502;
 * the device's own answers (403, 502) pass through.
 */
import { EndpointAddr, EndpointId, type Connection, type Endpoint } from "@number0/iroh";
import { IrohByteStream, type ByteStream } from "../../dataplane/byte-stream.ts";
import { asciiBytes } from "../../dataplane/bytes.ts";
import { parseResponseHead, REQUEST_HEAD_LIMITS, type ResponseHead } from "../../dataplane/http-head.ts";
import { ALPN, bindEndpoint, liveEndpoints } from "../../dataplane/iroh-endpoint.ts";
import { readHead } from "../../dataplane/read-head.ts";
import { firstLine } from "../../dataplane/upstream.ts";

/**
 * How long a dial may take before the device counts as unreachable. iroh itself gives up only
 * after 30 s and cannot be cancelled (iroh-js defect 5, docs/architecture.md#iroh-js-constraints); the
 * gateway answers 504 sooner.
 */
export const DEVICE_DIAL_TIMEOUT_MS = 10_000;
/** How long a CONNECT on a pooled connection may wait for its answer before the connection counts as stale. */
export const STALE_CONNECTION_MS = 3_000;

export type GatewayResult =
  | {
      readonly kind: "response";
      readonly status: number;
      readonly head: ResponseHead;
      /** The device's response head as received. */
      readonly headBytes: Uint8Array;
      /** The stream after the head: read it for the body/tunnel bytes, write to it to send. */
      readonly stream: ByteStream;
    }
  | { readonly kind: "error"; readonly status: 502 | 504; readonly message: string };

export interface AbsoluteRequest {
  readonly method: string;
  /** `http://host:port/path?query` */
  readonly url: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: Uint8Array;
}

export interface Gateway {
  /** The gateway endpoint's own id (hex). */
  readonly endpointId: string;
  /** Open a tunnel to `target` (`host:port`) on the device. */
  dialConnect(endpointId: string, addresses: readonly string[], homeRelay: string | null, target: string): Promise<GatewayResult>;
  /** Origin mode: send one absolute-form request (body, then FIN) and read the answer's head. */
  dialAbsolute(endpointId: string, addresses: readonly string[], homeRelay: string | null, request: AbsoluteRequest): Promise<GatewayResult>;
  /** A bare bi-stream to the device, for tests and diagnostics. */
  openStream(endpointId: string, addresses: readonly string[], homeRelay: string | null): Promise<ByteStream>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  /** Relay URLs for the gateway endpoint; absent or empty = relays disabled. */
  readonly relayUrls?: readonly string[];
  readonly dialTimeoutMs?: number;
  /** The endpoint's secret key (32 bytes), so its endpoint id stays the same across restarts; default a new one. */
  readonly secretKey?: number[];
  /**
   * Where the gateway's iroh endpoint binds: loopback by default; `0.0.0.0:0` lets it reach devices
   * on other hosts of a test network (test/helpers/test-host.ts).
   */
  readonly bind?: string;
}

class DialError extends Error {
  constructor(
    readonly status: 502 | 504,
    message: string,
  ) {
    super(message);
  }
}

export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const { endpoint } = await bindEndpoint({
    ...(options.secretKey ? { secretKey: options.secretKey } : {}),
    relayUrls: options.relayUrls ?? [],
    // A dev-cloud component: loopback only unless told otherwise, never reachable from the network.
    bindAttempts: options.bind ? [[options.bind]] : [["127.0.0.1:0", "[::1]:0"], ["127.0.0.1:0"]],
  });
  const dialTimeoutMs = options.dialTimeoutMs ?? DEVICE_DIAL_TIMEOUT_MS;
  const pool = new Map<string, Promise<Connection>>();
  /** The connection details each pooled connection was dialled with. */
  const dialledWith = new Map<string, string>();
  const detailsKey = (addresses: readonly string[], homeRelay: string | null): string => JSON.stringify([[...addresses].sort(), homeRelay]);
  let stopped = false;

  function dial(endpointId: string, addresses: readonly string[], homeRelay: string | null): Promise<Connection> {
    let addr: EndpointAddr;
    try {
      addr = new EndpointAddr(EndpointId.fromString(endpointId), homeRelay, [...addresses]);
    } catch (err) {
      return Promise.reject(new DialError(502, `invalid endpoint id ${endpointId}: ${firstLine(err)}`));
    }
    const attempt = endpoint.connect(addr, ALPN);
    let timedOut = false;
    const dialed = new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new DialError(504, `device ${endpointId} did not answer within ${dialTimeoutMs} ms`));
      }, dialTimeoutMs);
      attempt.then(
        (conn) => {
          clearTimeout(timer);
          // A connection that arrives after its 504 is nobody's: close it rather than leak it.
          if (timedOut) conn.close(0n, []);
          else resolve(conn);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(new DialError(504, `device ${endpointId} unreachable: ${firstLine(err)}`));
        },
      );
    });
    pool.set(endpointId, dialed);
    dialledWith.set(endpointId, detailsKey(addresses, homeRelay));
    const forget = (): void => {
      if (pool.get(endpointId) === dialed) pool.delete(endpointId);
    };
    dialed.then((conn) => void conn.closed().then(forget, forget), forget);
    return dialed;
  }

  async function connection(endpointId: string, addresses: readonly string[], homeRelay: string | null): Promise<Connection> {
    const pooled = pool.get(endpointId);
    if (pooled && dialledWith.get(endpointId) !== detailsKey(addresses, homeRelay)) {
      // The device published new connection details (it moved): dial those now rather than wait
      // for the old connection to go stale.
      pool.delete(endpointId);
      void pooled.then((conn) => conn.close(0n, []), () => undefined).catch(() => undefined);
    } else if (pooled) {
      const conn = await pooled.catch(() => undefined);
      if (conn && conn.closeReason() === null) return conn;
      if (pool.get(endpointId) === pooled) pool.delete(endpointId);
    }
    return dial(endpointId, addresses, homeRelay);
  }

  async function openStream(endpointId: string, addresses: readonly string[], homeRelay: string | null): Promise<ByteStream> {
    if (stopped) throw new DialError(502, "gateway stopped");
    const conn = await connection(endpointId, addresses, homeRelay);
    let bi;
    try {
      bi = await conn.openBi();
    } catch {
      // The pooled connection died between checks: one fresh dial, then give up with 502.
      if (pool.get(endpointId)) pool.delete(endpointId);
      try {
        bi = await (await dial(endpointId, addresses, homeRelay)).openBi();
      } catch (err) {
        if (err instanceof DialError) throw err;
        throw new DialError(502, `could not open a stream to ${endpointId}: ${firstLine(err)}`);
      }
    }
    return new IrohByteStream(bi.send, bi.recv);
  }

  /**
   * A pooled connection can be stale without knowing it: the device was killed and came back with
   * the same key and port, and the old QUIC connection only notices after iroh's 30 s idle timeout.
   * So a CONNECT on a pooled connection gets `STALE_CONNECTION_MS` for its response head; past
   * that the connection is dropped and the request goes once more over a fresh dial (the device
   * answers a CONNECT as soon as its origin accepts, so a healthy path is far faster than this).
   */
  async function exchange(
    endpointId: string,
    addresses: readonly string[],
    homeRelay: string | null,
    send: (stream: ByteStream) => Promise<void>,
    staleAfterMs?: number,
  ): Promise<GatewayResult> {
    const pooled = pool.has(endpointId);
    const first = await attempt(endpointId, addresses, homeRelay, send, pooled ? staleAfterMs : undefined);
    if (first !== "stale") return first;
    const stale = pool.get(endpointId);
    pool.delete(endpointId);
    void stale?.then((conn) => conn.close(0n, []), () => undefined).catch(() => undefined);
    const second = await attempt(endpointId, addresses, homeRelay, send, undefined);
    return second === "stale" ? { kind: "error", status: 504, message: `device ${endpointId} did not answer` } : second;
  }

  async function attempt(
    endpointId: string,
    addresses: readonly string[],
    homeRelay: string | null,
    send: (stream: ByteStream) => Promise<void>,
    timeoutMs: number | undefined,
  ): Promise<GatewayResult | "stale"> {
    let stream: ByteStream;
    try {
      stream = await openStream(endpointId, addresses, homeRelay);
    } catch (err) {
      if (err instanceof DialError) return { kind: "error", status: err.status, message: err.message };
      return { kind: "error", status: 502, message: firstLine(err) };
    }
    try {
      const answer = (async () => {
        await send(stream);
        return readHead(stream, parseResponseHead, REQUEST_HEAD_LIMITS);
      })();
      const result =
        timeoutMs === undefined ? await answer : await Promise.race([answer, Bun.sleep(timeoutMs).then(() => "stale" as const)]);
      if (result === "stale") {
        answer.catch(() => undefined);
        await stream.abort();
        return "stale";
      }
      if (result.kind === "complete") {
        return { kind: "response", status: result.head.status, head: result.head, headBytes: result.raw, stream };
      }
      await stream.abort();
      const why = result.kind === "error" ? result.reason : "the device closed the stream without a response";
      return { kind: "error", status: 502, message: why };
    } catch (err) {
      await stream.abort();
      return { kind: "error", status: 502, message: `no valid response from the device: ${firstLine(err)}` };
    }
  }

  return {
    endpointId: endpoint.id().toString(),
    dialConnect(endpointId, addresses, homeRelay, target) {
      return exchange(
        endpointId,
        addresses,
        homeRelay,
        (stream) => stream.write(asciiBytes(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)),
        STALE_CONNECTION_MS,
      );
    },
    dialAbsolute(endpointId, addresses, homeRelay, request) {
      return exchange(endpointId, addresses, homeRelay, async (stream) => {
        let head = `${request.method} ${request.url} HTTP/1.1\r\n`;
        for (const [name, value] of request.headers ?? []) head += `${name.toLowerCase()}: ${value}\r\n`;
        await stream.write(asciiBytes(`${head}\r\n`));
        if (request.body && request.body.length > 0) await stream.write(request.body);
        await stream.finish();
      });
    },
    openStream,
    async stop() {
      if (stopped) return;
      stopped = true;
      await endpoint.close();
      pool.clear();
      // Closed: dropping it now is safe (defect 2 concerns live endpoints only).
      liveEndpoints.delete(endpoint as Endpoint);
    },
  };
}
