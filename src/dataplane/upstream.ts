/**
 * The device side of the stream protocol (upstream-runtime §E.3): one call per incoming
 * bi-stream. Parse the head (≤ 8192 bytes, ≤ 64 headers), classify, authorize against the
 * allow-list, then tunnel (CONNECT), forward one request (absolute form) or upgrade a websocket.
 * Every outcome is counted per target authority (§I).
 */
import type net from "node:net";
import { findAllowed, type AllowEntry } from "./allowlist.ts";
import type { ByteStream } from "./byte-stream.ts";
import type { Counters } from "./counters.ts";
import { classifyRequest, parseRequestHead, REQUEST_HEAD_LIMITS, type ProxyRequest, type RequestHead } from "./http-head.ts";
import { forwardRequest, OriginResponseError, readOriginHead, relayResponseFrom, websocketRequestHead, type ByteHooks } from "./origin-http.ts";
import { pipeBoth } from "./pipe.ts";
import { readHead } from "./read-head.ts";
import { CONNECTION_ESTABLISHED, FORBIDDEN, ORIGIN_UNREACHABLE } from "./response.ts";
import { connectTcp, SocketReader } from "./socket-io.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, string | number | boolean>) => void;

export interface UpstreamContext {
  /** The current allow-list (replaced atomically by the owner; read once per request). */
  readonly allowList: () => readonly AllowEntry[];
  readonly counters: Counters;
  readonly log: LogFn;
  /** Open a TCP connection to an origin (injectable for tests). */
  readonly connect?: (host: string, port: number) => Promise<net.Socket>;
  /** Every origin socket opened, so shutdown can close what is still open. */
  readonly sockets?: Set<net.Socket>;
}

export async function serveProxyStream(stream: ByteStream, ctx: UpstreamContext): Promise<void> {
  const result = await readHead(stream, parseRequestHead, REQUEST_HEAD_LIMITS);
  if (result.kind !== "complete") {
    // Overflow, garbage or an empty stream: no HTTP answer, the stream is simply aborted
    // (the gateway reports 502).
    if (result.kind === "error") ctx.log("debug", "stream rejected", { reason: result.reason });
    await stream.abort();
    return;
  }
  const classified = classifyRequest(result.head);
  if (!classified.ok) {
    // Origin-form and unparsable targets are dropped without a response (§J.25).
    ctx.log("debug", "stream rejected", { reason: classified.reason, target: result.head.target });
    await stream.abort();
    return;
  }
  const request = classified.request;
  if (!findAllowed(ctx.allowList(), request.host, request.port)) {
    ctx.counters.denied(request.authority);
    ctx.log("info", "request denied by allow-list", { target: request.authority });
    await stream.write(FORBIDDEN);
    await stream.finish();
    await stream.abort(); // stop receiving whatever body follows; the answer is already sent
    return;
  }
  ctx.counters.accepted(request.authority);
  try {
    await forward(stream, result.head, request, ctx);
    ctx.counters.completed(request.authority);
  } catch (err) {
    ctx.counters.failed(request.authority);
    ctx.log("debug", "request failed", { target: request.authority, error: firstLine(err) });
    await stream.abort();
  }
}

async function forward(stream: ByteStream, head: RequestHead, request: ProxyRequest, ctx: UpstreamContext): Promise<void> {
  const hooks: ByteHooks = {
    toOrigin: (n) => ctx.counters.toOrigin(request.authority, n),
    fromOrigin: (n) => ctx.counters.fromOrigin(request.authority, n),
  };
  let socket: net.Socket;
  try {
    socket = await (ctx.connect ?? connectTcp)(request.host, request.port);
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

/** Websocket in absolute mode (§E.3 step 6): relay the origin's head; on 101 pipe both ways. */
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
