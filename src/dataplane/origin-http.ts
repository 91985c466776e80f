/**
 * The absolute (origin) mode of the stream protocol (docs/wire-facts.md#stream-protocol): one HTTP
 * request forwarded to the origin over its own TCP connection, its response relayed back on the
 * stream with the body framed by FIN.
 */
import type { ByteStream } from "./byte-stream.ts";
import { concatBytes } from "./bytes.ts";
import { ChunkedDecoder, encodeChunk, LAST_CHUNK } from "./chunked.ts";
import { filterHopByHop } from "./hop-by-hop.ts";
import { headerTokens, headerValue, parseResponseHead, type Header, type RequestHead, type ResponseHead } from "./http-head.ts";
import { readHead } from "./read-head.ts";
import { latin1Bytes, serializeResponseHead } from "./response.ts";
import type { SocketReader } from "./socket-io.ts";

/** Origins are local services we trust more than peers, but their heads are still bounded. */
export const ORIGIN_RESPONSE_LIMITS = { maxLength: 64 * 1024, maxHeaders: 256 } as const;

export interface ByteHooks {
  readonly toOrigin: (n: number) => void;
  readonly fromOrigin: (n: number) => void;
}

/** The origin did not produce a usable response head: answer 502 if nothing was sent yet. */
export class OriginResponseError extends Error {}

function serializeRequestHead(method: string, path: string, headers: readonly Header[]): Uint8Array {
  let s = `${method} ${path} HTTP/1.1\r\n`;
  for (const h of headers) s += `${h.name}: ${h.value}\r\n`;
  return latin1Bytes(`${s}\r\n`);
}

/** Keep the client's `Host`; add one from the target when the gateway sent none. */
function withHost(headers: Header[], authority: string): Header[] {
  return headers.some((h) => h.name === "host") ? headers : [{ name: "host", value: authority }, ...headers];
}

/**
 * Forward a plain request (docs/wire-facts.md#stream-protocol): origin-form, hop-by-hop headers dropped,
 * `connection: close`. The body is the rest of the stream until FIN: sent as-is when the request
 * has a `content-length`, chunk-encoded otherwise (the origin needs some framing), and omitted
 * when the stream ends right after the head.
 */
export async function forwardRequest(
  stream: ByteStream,
  origin: SocketReader,
  head: RequestHead,
  path: string,
  authority: string,
  hooks: ByteHooks,
): Promise<void> {
  const headers = withHost(filterHopByHop(head.headers), authority);
  headers.push({ name: "connection", value: "close" });
  const contentLength = headerValue(head.headers, "content-length");
  // A malformed length would desynchronise the origin connection: refuse before sending anything.
  if (contentLength !== undefined && !/^\d{1,15}$/.test(contentLength)) throw new Error("invalid content-length");
  let first: Uint8Array | null = null;
  let chunked = false;
  if (contentLength === undefined) {
    first = await stream.read();
    if (first !== null) {
      chunked = true;
      headers.push({ name: "transfer-encoding", value: "chunked" });
    }
  }
  const requestHead = serializeRequestHead(head.method, path, headers);
  await origin.write(requestHead);
  hooks.toOrigin(requestHead.length);
  if (first !== null) stream.unshift(first);

  // The response may start before the request body ends (an early 413, say), so the two run
  // concurrently. A body that fails (the gateway reset the stream) aborts the origin socket so the
  // response side cannot wait forever; once the response is complete the body is no longer news.
  let bodyError: unknown;
  const body = sendBody(stream, origin, chunked, contentLength === undefined ? undefined : Number(contentLength), hooks).catch(
    async (err: unknown) => {
      bodyError = err;
      await origin.abort();
    },
  );
  try {
    await relayResponse(origin, stream, head.method, hooks);
  } catch (err) {
    throw bodyError ?? err;
  }
  void body;
}

async function sendBody(
  stream: ByteStream,
  origin: SocketReader,
  chunked: boolean,
  contentLength: number | undefined,
  hooks: ByteHooks,
): Promise<void> {
  let remaining = contentLength ?? Number.POSITIVE_INFINITY;
  while (remaining > 0) {
    const chunk = await stream.read();
    if (chunk === null) break;
    const piece = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    remaining -= piece.length;
    const out = chunked ? encodeChunk(piece) : piece;
    await origin.write(out);
    hooks.toOrigin(out.length);
  }
  if (chunked) {
    await origin.write(LAST_CHUNK);
    hooks.toOrigin(LAST_CHUNK.length);
  }
}

/** Read the origin's final response head, skipping interim 1xx responses (other than 101). */
export async function readOriginHead(origin: SocketReader, hooks: ByteHooks): Promise<{ head: ResponseHead; raw: Uint8Array }> {
  for (;;) {
    const result = await readHead(origin, parseResponseHead, ORIGIN_RESPONSE_LIMITS);
    if (result.kind === "eof") throw new OriginResponseError("origin closed the connection before responding");
    if (result.kind === "error") throw new OriginResponseError(`invalid response from origin: ${result.reason}`);
    hooks.fromOrigin(result.raw.length);
    if (result.head.status >= 100 && result.head.status < 200 && result.head.status !== 101) continue;
    return result;
  }
}

function hasNoBody(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
}

/**
 * Relay the origin's response: `HTTP/1.1 <code> <canonical reason>`, its headers without
 * hop-by-hop ones (so no `transfer-encoding`), then the body de-chunked if needed, then FIN.
 */
export async function relayResponse(origin: SocketReader, stream: ByteStream, method: string, hooks: ByteHooks): Promise<void> {
  const { head } = await readOriginHead(origin, hooks);
  await relayResponseFrom(head, origin, stream, method, hooks);
}

export async function relayResponseFrom(
  head: ResponseHead,
  origin: SocketReader,
  stream: ByteStream,
  method: string,
  hooks: ByteHooks,
): Promise<void> {
  await stream.write(serializeResponseHead(head.status, filterHopByHop(head.headers)));
  if (!hasNoBody(method, head.status)) {
    const te = headerTokens(head.headers, "transfer-encoding");
    const length = headerValue(head.headers, "content-length");
    if (te.at(-1) === "chunked") await relayChunked(origin, stream, hooks);
    else if (length !== undefined && /^\d+$/.test(length)) await relayLength(origin, stream, Number(length), hooks);
    else await relayUntilEof(origin, stream, hooks);
  }
  await stream.finish();
}

async function relayChunked(origin: SocketReader, stream: ByteStream, hooks: ByteHooks): Promise<void> {
  const decoder = new ChunkedDecoder();
  while (!decoder.done) {
    const chunk = await origin.read();
    if (chunk === null) throw new Error("origin ended inside a chunked body");
    hooks.fromOrigin(chunk.length);
    const out = decoder.push(chunk);
    if (out.data.length > 0) await stream.write(concatBytes(out.data));
  }
}

async function relayLength(origin: SocketReader, stream: ByteStream, length: number, hooks: ByteHooks): Promise<void> {
  let remaining = length;
  while (remaining > 0) {
    const chunk = await origin.read();
    if (chunk === null) throw new Error("origin ended before content-length bytes");
    const piece = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    remaining -= piece.length;
    hooks.fromOrigin(piece.length);
    await stream.write(piece);
  }
}

async function relayUntilEof(origin: SocketReader, stream: ByteStream, hooks: ByteHooks): Promise<void> {
  for (;;) {
    const chunk = await origin.read();
    if (chunk === null) return;
    hooks.fromOrigin(chunk.length);
    await stream.write(chunk);
  }
}

/** Headers for the websocket upgrade (docs/wire-facts.md#stream-protocol): filtered, but asking the origin to upgrade. */
export function websocketRequestHead(head: RequestHead, path: string, authority: string): Uint8Array {
  const headers = withHost(filterHopByHop(head.headers), authority);
  if (!headers.some((h) => h.name === "upgrade")) headers.push({ name: "upgrade", value: "websocket" });
  headers.push({ name: "connection", value: "upgrade" });
  return serializeRequestHead(head.method, path, headers);
}
