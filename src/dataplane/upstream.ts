/**
 * The device side of the stream protocol (docs/wire-facts.md#stream-protocol): one call per incoming
 * bi-stream. Parse the head (≤ 8192 bytes, ≤ 64 headers), classify, authorize against the
 * allow-list, then tunnel (CONNECT), forward one request (absolute form) or upgrade a websocket.
 * Every outcome is counted per target authority (docs/wire-facts.md#counters); a stream turned away
 * before it names a target (malformed, or its head not complete within the header-read timeout) is
 * counted under a reserved key. An allowed request is dialled at the allow-list entry's host, never at
 * the requested spelling.
 */
import type net from "node:net";
import { HEADER_READ_TIMEOUT_MS, HEADER_TIMEOUT_ENV } from "../supervise/budgets.ts";
import { findAllowed, originHost, type AllowEntry } from "./allowlist.ts";
import type { ByteStream } from "./byte-stream.ts";
import { HEADER_TIMEOUT_KEY, MALFORMED_KEY, type Counters } from "./counters.ts";
import { classifyRequest, parseRequestHead, REQUEST_HEAD_LIMITS, type ProxyRequest, type RequestHead } from "./http-head.ts";
import { forwardRequest, OriginResponseError, readOriginHead, relayResponseFrom, websocketRequestHead, type ByteHooks } from "./origin-http.ts";
import { pipeBoth } from "./pipe.ts";
import type { LogFields, LogLevel } from "../../workers/messages.ts";
import { readHead, type ReadHeadResult } from "./read-head.ts";
import { CONNECTION_ESTABLISHED, FORBIDDEN, ORIGIN_UNREACHABLE } from "./response.ts";
import { connectTcp, SocketReader } from "./socket-io.ts";

export type { LogLevel };
export type LogFn = (level: LogLevel, msg: string, fields?: LogFields) => void;

export interface UpstreamContext {
  /** The current allow-list (replaced atomically by the owner; read once per request). */
  readonly allowList: () => readonly AllowEntry[];
  readonly counters: Counters;
  readonly log: LogFn;
  /** Open a TCP connection to an origin (injectable for tests). */
  readonly connect?: (host: string, port: number) => Promise<net.Socket>;
  /** Every origin socket opened, so shutdown can close what is still open. */
  readonly sockets?: Set<net.Socket>;
  /** How long the whole request head may take to arrive (default `HEADER_READ_TIMEOUT_MS`). */
  readonly headerTimeoutMs?: number;
}

/** The header-read timeout from the worker's environment (`HEADER_TIMEOUT_ENV`), or the default. */
export function headerTimeoutFromEnv(env: Record<string, string | undefined> = process.env): number {
  const text = env[HEADER_TIMEOUT_ENV];
  const ms = text !== undefined && /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  return ms > 0 ? ms : HEADER_READ_TIMEOUT_MS;
}

/**
 * The request head, or `timeout` once `ms` have passed since the stream was accepted. The deadline
 * covers the whole head, not each read, so a peer dribbling a byte at a time cannot extend it. On
 * timeout the read still pending is left to end on its own: `abort()` (by the caller) makes the
 * stream's next read fail, and the peer sees the reset.
 */
async function readRequestHead(stream: ByteStream, ms: number): Promise<ReadHeadResult<RequestHead> | { kind: "timeout" }> {
  const reading = readHead(stream, parseRequestHead, REQUEST_HEAD_LIMITS);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<{ kind: "timeout" }>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
  });
  try {
    return await Promise.race([reading, deadline]);
  } finally {
    clearTimeout(timer);
    // A read that fails after the deadline (the aborted stream) has nobody left to tell.
    reading.catch(() => undefined);
  }
}

export async function serveProxyStream(stream: ByteStream, ctx: UpstreamContext): Promise<void> {
  const result = await readRequestHead(stream, ctx.headerTimeoutMs ?? HEADER_READ_TIMEOUT_MS);
  if (result.kind === "timeout") {
    ctx.counters.rejected(HEADER_TIMEOUT_KEY);
    ctx.log("info", "stream reset: request head not received in time", { timeoutMs: ctx.headerTimeoutMs ?? HEADER_READ_TIMEOUT_MS });
    await stream.abort();
    return;
  }
  if (result.kind !== "complete") {
    // Overflow, garbage or an empty stream: no HTTP answer, the stream is simply aborted
    // (the gateway reports 502). A stream that ends before sending anything is not counted.
    if (result.kind === "error") ctx.log("debug", "stream rejected", { reason: result.reason });
    if (result.kind === "error" || result.received > 0) ctx.counters.rejected(MALFORMED_KEY);
    await stream.abort();
    return;
  }
  const classified = classifyRequest(result.head);
  if (!classified.ok) {
    // Origin-form and unparsable targets are dropped without a response (docs/wire-facts.md#stream-protocol).
    ctx.counters.rejected(MALFORMED_KEY);
    ctx.log("debug", "stream rejected", { reason: classified.reason, target: result.head.target });
    await stream.abort();
    return;
  }
  const request = classified.request;
  const entry = findAllowed(ctx.allowList(), request.host, request.port);
  if (!entry) {
    ctx.counters.denied(request.authority);
    ctx.log("info", "request denied by allow-list", { target: request.authority });
    await stream.write(FORBIDDEN);
    await stream.finish();
    await stream.abort(); // stop receiving whatever body follows; the answer is already sent
    return;
  }
  ctx.counters.accepted(request.authority);
  const started = performance.now();
  const tally: ByteTally = { toOrigin: 0, fromOrigin: 0 };
  try {
    await forward(stream, result.head, request, originHost(entry), ctx, tally);
    ctx.counters.completed(request.authority);
    // One line per proxied stream (a CONNECT tunnel carries a whole client connection), at debug:
    // `CONSOLA_LEVEL=4` (or `--verbose`) shows traffic as it arrives, in the terminal or the log.
    ctx.log("debug", request.kind === "tunnel" ? "connection served" : `${result.head.method} served`, {
      target: request.authority,
      ms: Math.round(performance.now() - started),
      bytesToOrigin: tally.toOrigin,
      bytesFromOrigin: tally.fromOrigin,
    });
  } catch (err) {
    ctx.counters.failed(request.authority);
    ctx.log("debug", "request failed", { target: request.authority, error: firstLine(err) });
    await stream.abort();
  }
}

/** Bytes one proxied stream carried each way, for its log line. */
interface ByteTally {
  toOrigin: number;
  fromOrigin: number;
}

/** `dialHost` is the allow-list entry's host: the socket reached is always the one the list names. */
async function forward(
  stream: ByteStream,
  head: RequestHead,
  request: ProxyRequest,
  dialHost: string,
  ctx: UpstreamContext,
  tally: ByteTally,
): Promise<void> {
  const hooks: ByteHooks = {
    toOrigin: (n) => {
      tally.toOrigin += n;
      ctx.counters.toOrigin(request.authority, n);
    },
    fromOrigin: (n) => {
      tally.fromOrigin += n;
      ctx.counters.fromOrigin(request.authority, n);
    },
  };
  let socket: net.Socket;
  try {
    socket = await (ctx.connect ?? connectTcp)(dialHost, request.port);
  } catch (err) {
    ctx.log("info", "origin unreachable", { target: request.authority, error: firstLine(err) });
    await stream.write(ORIGIN_UNREACHABLE);
    await stream.finish();
    throw err;
  }
  ctx.sockets?.add(socket);
  const origin = new SocketReader(socket);
  try {
    if (request.kind === "tunnel") {
      await stream.write(CONNECTION_ESTABLISHED);
      // The stream's unread bytes (those after the head) come out of `stream` first.
      await pipeBoth(stream, origin, { aToB: hooks.toOrigin, bToA: hooks.fromOrigin });
    } else if (request.websocket) {
      await upgradeWebsocket(stream, origin, head, request.path, request.authority, hooks);
    } else {
      await answer502OnBadHead(stream, () => forwardRequest(stream, origin, head, request.path, request.authority, hooks));
    }
  } finally {
    origin.close();
    ctx.sockets?.delete(socket);
  }
}

/** Websocket in absolute mode (docs/wire-facts.md#stream-protocol): relay the origin's head; on 101 pipe both ways. */
async function upgradeWebsocket(
  stream: ByteStream,
  origin: SocketReader,
  head: RequestHead,
  path: string,
  authority: string,
  hooks: ByteHooks,
): Promise<void> {
  const requestHead = websocketRequestHead(head, path, authority);
  await origin.write(requestHead);
  hooks.toOrigin(requestHead.length);
  const response = await answer502OnBadHead(stream, () => readOriginHead(origin, hooks));
  if (response.head.status === 101) {
    // The 101 head goes through as the origin wrote it: its Upgrade/Connection are the handshake.
    await stream.write(response.raw);
    await pipeBoth(stream, origin, { aToB: hooks.toOrigin, bToA: hooks.fromOrigin });
  } else {
    await relayResponseFrom(response.head, origin, stream, head.method, hooks);
  }
}

/** When the origin gives no usable head, the stream gets the device's 502 before failing. */
async function answer502OnBadHead<T>(stream: ByteStream, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof OriginResponseError) {
      await stream.write(ORIGIN_UNREACHABLE);
      await stream.finish();
    }
    throw err;
  }
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n", 1)[0] ?? text;
}
