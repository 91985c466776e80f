/**
 * Interop with the real protocol library: n0's `iroh-proxy-utils` (the gateway side the production
 * gateway is built on) drives our ListenNode over `iroh-http-proxy/1`, and every case is also sent
 * through our own dev-cloud gateway; the two must agree, and where they could not, the library's
 * reading is the one asserted. The peer is a small Rust program (test/interop/peer, see
 * test/interop/README.md) built by scripts/test.sh; without cargo these tests skip, saying why.
 *
 * Three library paths are exercised: its HTTP forward proxy (`ProxyMode::Http`: hyper in front,
 * CONNECT / absolute-form / websocket upgrade each become one bi-stream), its raw `create_tunnel`
 * (the CONNECT it writes and the response head it parses), and `ProxyMode::Tcp` (a tunnel per TCP
 * connection). Must run inside the loopback-only namespace (scripts/test.sh does that).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import type { Server } from "bun";
import type { ByteStream } from "../../src/dataplane/byte-stream.ts";
import { concatBytes } from "../../src/dataplane/bytes.ts";
import { ChunkedDecoder } from "../../src/dataplane/chunked.ts";
import { headerValue, parseResponseHead, type ResponseHead } from "../../src/dataplane/http-head.ts";
import { formatSocketAddr } from "../../src/dataplane/iroh-endpoint.ts";
import { loadDataPlane, type DataPlane, type DataPlaneEndpoint } from "../../src/dataplane/client.ts";
import { createGateway, type Gateway } from "../../src/devcloud/gateway/gateway.ts";
import type { AllowListEntry } from "../../workers/messages.ts";
import { MiB, pattern, sha256 } from "../helpers/bytes.ts";
import { justFreePort, startTestOrigin } from "../helpers/test-origin.ts";
import { interopPeerForTests, startInteropPeer, type InteropPeer } from "../helpers/interop-peer.ts";

const peerBin = interopPeerForTests();
if (peerBin.skip) console.log(`skip: interop tests (iroh-proxy-utils peer): ${peerBin.skip}`);

const SLOW = 30_000;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

let origin: Server<undefined>;
let otherOrigin: Server<undefined>;
let originHits = 0;
let otherHits = 0;
let downPort: number;
let dataPlane: DataPlane;
let endpoint: DataPlaneEndpoint;
let gateway: Gateway;
let peer: InteropPeer;
/** A raw TCP origin: answers each path with fixed bytes and records every request head it got. */
let scripted: net.Server;
let scriptedPort: number;
const scriptedHeads: string[] = [];
const SCRIPTED: Record<string, string> = {
  // An interim 100 before the final answer: only the final one is the response.
  "/interim": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal",
  // No framing at all: the body is everything until the origin closes.
  "/until-close": "HTTP/1.1 200 OK\r\nx-framing: none\r\n\r\nbody until close",
  // Hop-by-hop response headers, one of them named in Connection: neither reaches the client.
  "/hop": "HTTP/1.1 200 OK\r\nconnection: x-hop\r\nx-hop: secret\r\nx-kept: yes\r\ncontent-length: 2\r\n\r\nok",
  "/no-content": "HTTP/1.1 204 No Content\r\nx-empty: yes\r\n\r\n",
  // Response heads the library cannot read (over 8192 bytes; over 64 headers).
  "/big-head": `HTTP/1.1 200 OK\r\nx-big: ${"b".repeat(9000)}\r\ncontent-length: 2\r\n\r\nok`,
  "/many-headers": `HTTP/1.1 200 OK\r\n${Array.from({ length: 70 }, (_, i) => `x-h${i}: ${i}\r\n`).join("")}content-length: 2\r\n\r\nok`,
};

const addrs = (): string[] => endpoint.addresses.map(formatSocketAddr);
const app = (): string => `127.0.0.1:${origin.port}`;

// ---- plain TCP clients (what a client of the library's proxy sees) ----

/** A TCP connection read on demand. */
class Client {
  private buffer: Uint8Array = new Uint8Array(0);
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = concatBytes([this.buffer, new Uint8Array(chunk)]);
      this.wake?.();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on("error", (err) => {
      this.error = err;
      this.ended = true;
      this.wake?.();
    });
    socket.on("close", () => {
      this.ended = true;
      this.wake?.();
    });
  }

  static connect(to: { host: string; port: number }): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(to.port, to.host, () => resolve(new Client(socket)));
      socket.once("error", reject);
    });
  }

  write(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === "string" ? ascii(bytes) : bytes);
  }

  /** Wait until `done(buffer)` holds or the connection ends; returns the buffer. */
  async until(done: (b: Uint8Array) => boolean): Promise<Uint8Array> {
    while (!done(this.buffer) && !this.ended) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return this.buffer;
  }

  /** Everything until the peer closes; `reset` when the connection ended in an error. */
  async all(): Promise<{ bytes: Uint8Array; reset: boolean }> {
    const bytes = await this.until(() => false);
    return { bytes, reset: this.error !== undefined };
  }

  /** The bytes after the first `n`. */
  take(n: number): void {
    this.buffer = this.buffer.subarray(n);
  }

  close(): void {
    this.socket.destroy();
  }
}

const headEnd = (b: Uint8Array): number => {
  const i = Buffer.from(b).indexOf("\r\n\r\n");
  return i < 0 ? -1 : i + 4;
};

/** One HTTP/1.1 response: head and de-framed body (content-length, chunked, or until close). */
interface Parsed {
  readonly head: ResponseHead;
  readonly body: Uint8Array;
}

function parseResponse(bytes: Uint8Array): Parsed {
  const result = parseResponseHead(bytes);
  if (result.kind !== "complete") throw new Error(`no complete response head in ${JSON.stringify(text(bytes.subarray(0, 200)))}`);
  const head = result.head;
  const rest = bytes.subarray(head.headerLength);
  if (headerValue(head.headers, "transfer-encoding")?.toLowerCase() === "chunked") {
    const out = new ChunkedDecoder().push(rest);
    if (!out.done) throw new Error("chunked body did not end");
    return { head, body: concatBytes(out.data.length > 0 ? out.data : [new Uint8Array(0)]) };
  }
  const cl = headerValue(head.headers, "content-length");
  return { head, body: cl === undefined ? rest : rest.subarray(0, Number(cl)) };
}

/** A response with the origin's `date` header left out, for comparing two deliveries of one answer. */
function normalized(bytes: Uint8Array): string {
  return text(bytes).replace(/\r\ndate: [^\r]*/gi, "");
}

/** Send `request` to the library's HTTP proxy on a fresh connection and read until it closes. */
async function viaLibrary(request: Uint8Array | string): Promise<{ bytes: Uint8Array; reset: boolean }> {
  const client = await Client.connect(peer.httpProxy);
  client.write(request);
  try {
    return await client.all();
  } finally {
    client.close();
  }
}

/** CONNECT through the library's HTTP proxy: the answer head, then (on 200) `inner` and everything after. */
async function connectViaLibrary(authority: string, inner: string, extraHead = ""): Promise<{ head: ResponseHead; tunnel: Uint8Array }> {
  const client = await Client.connect(peer.httpProxy);
  try {
    client.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n${extraHead}\r\n`);
    const buf = await client.until((b) => headEnd(b) >= 0);
    const end = headEnd(buf);
    if (end < 0) throw new Error(`no CONNECT answer: ${JSON.stringify(text(buf))}`);
    const parsed = parseResponseHead(buf.subarray(0, end));
    if (parsed.kind !== "complete") throw new Error(`bad CONNECT answer: ${JSON.stringify(text(buf))}`);
    client.take(end);
    if (parsed.head.status !== 200) {
      // The library's hyper keeps the client connection open for a next request: read the body
      // its content-length announces (none announced: nothing more is read).
      const length = Number(headerValue(parsed.head.headers, "content-length") ?? "0");
      return { head: parsed.head, tunnel: (await client.until((b) => b.length >= length)).subarray(0, length) };
    }
    client.write(inner);
    return { head: parsed.head, tunnel: (await client.all()).bytes };
  } finally {
    client.close();
  }
}

// ---- our gateway ----

async function readAll(stream: ByteStream): Promise<{ bytes: Uint8Array; error?: string }> {
  const parts: Uint8Array[] = [];
  try {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) parts.push(chunk);
    return { bytes: concatBytes(parts.length > 0 ? parts : [new Uint8Array(0)]) };
  } catch (err) {
    return { bytes: concatBytes(parts.length > 0 ? parts : [new Uint8Array(0)]), error: String(err).split("\n", 1)[0] ?? "" };
  }
}

async function connectViaOurs(authority: string, inner: string): Promise<{ status: number; headBytes: Uint8Array; tunnel: Uint8Array }> {
  const res = await gateway.dialConnect(endpoint.endpointId, addrs(), null, authority);
  if (res.kind !== "response") return { status: res.status, headBytes: new Uint8Array(0), tunnel: new Uint8Array(0) };
  if (res.status === 200) await res.stream.write(ascii(inner));
  return { status: res.status, headBytes: res.headBytes, tunnel: (await readAll(res.stream)).bytes };
}

async function absoluteViaOurs(
  method: string,
  url: string,
  headers: Array<[string, string]>,
  body?: Uint8Array,
): Promise<{ status: number; head?: ResponseHead; body: Uint8Array }> {
  const res = await gateway.dialAbsolute(endpoint.endpointId, addrs(), null, { method, url, headers, ...(body ? { body } : {}) });
  if (res.kind !== "response") return { status: res.status, body: new Uint8Array(0) };
  return { status: res.status, head: res.head, body: (await readAll(res.stream)).bytes };
}

const GET_ECHO = "GET /echo HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n";

beforeAll(async () => {
  if (peerBin.skip) return;
  origin = startTestOrigin({ onHit: () => void originHits++, headers: "sorted-pairs" });
  otherOrigin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => {
      otherHits++;
      return new Response("must never be reached");
    },
  });
  scripted = net.createServer((socket) => {
    let got = "";
    socket.on("data", (chunk: Buffer) => {
      got += chunk.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end < 0 || got === "") return;
      const head = got.slice(0, end + 4);
      got = "";
      scriptedHeads.push(head);
      const path = head.split(" ", 2)[1] ?? "";
      if (head.startsWith("HEAD ")) socket.end("HTTP/1.1 200 OK\r\ncontent-length: 1234\r\nx-head: yes\r\n\r\n");
      else socket.end(SCRIPTED[path] ?? "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => scripted.listen(0, "127.0.0.1", resolve));
  scriptedPort = (scripted.address() as net.AddressInfo).port;

  downPort = await justFreePort();

  const allowList: AllowListEntry[] = [
    { id: "app", host: "127.0.0.1", port: origin.port!, enabled: true },
    { id: "down", host: "127.0.0.1", port: downPort, enabled: true },
    { id: "scripted", host: "127.0.0.1", port: scriptedPort, enabled: true },
  ];
  dataPlane = await loadDataPlane({ log: () => undefined });
  endpoint = await dataPlane.start({ secretKey: crypto.getRandomValues(new Uint8Array(32)), relayUrls: [], allowList });
  gateway = await createGateway({ dialTimeoutMs: 5_000 });
  peer = await startInteropPeer(peerBin.path!, endpoint.endpointId, addrs());
}, SLOW);

afterAll(async () => {
  await peer?.stop();
  await gateway?.stop();
  await dataPlane?.stop();
  origin?.stop(true);
  otherOrigin?.stop(true);
  scripted?.close();
});

describe.skipIf(peerBin.skip !== undefined)("iroh-proxy-utils (the gateway side) against our ListenNode", () => {
  test("CONNECT allowed: the library's create_tunnel, its HTTP proxy, its TCP mode and our gateway carry the same bytes", async () => {
    const ours = await connectViaOurs(app(), GET_ECHO);
    expect(ours.status).toBe(200);
    expect(text(ours.headBytes)).toBe("HTTP/1.1 200 Connection Established\r\n\r\n");
    const expected = normalized(ours.tunnel);
    expect(parseResponse(ours.tunnel).body).toEqual(ascii("hello"));

    const raw = await peer.connect(app(), ascii(GET_ECHO));
    expect(raw.error).toBeNull();
    expect(raw.status).toBe(200);
    expect(normalized(raw.received)).toBe(expected);

    const viaHttp = await connectViaLibrary(app(), GET_ECHO);
    expect(viaHttp.head.status).toBe(200);
    expect(normalized(viaHttp.tunnel)).toBe(expected);

    const tcp = await Client.connect(await peer.tcpTunnel(app()));
    tcp.write(GET_ECHO);
    const viaTcp = await tcp.all();
    tcp.close();
    expect(normalized(viaTcp.bytes)).toBe(expected);
  }, SLOW);

  test("CONNECT to a target outside the allow-list: 403 with an empty body everywhere; the origin sees nothing", async () => {
    const denied = `127.0.0.1:${otherOrigin.port}`;
    const ours = await connectViaOurs(denied, GET_ECHO);
    expect(ours.status).toBe(403);
    // What the library's own UpstreamProxy answers a denied request, byte for byte.
    expect(text(ours.headBytes)).toBe("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    expect(ours.tunnel.length).toBe(0);

    const raw = await peer.connect(denied, ascii(GET_ECHO));
    expect(raw.status).toBe(403);

    const viaHttp = await connectViaLibrary(denied, GET_ECHO);
    expect(viaHttp.head.status).toBe(403);
    expect(headerValue(viaHttp.head.headers, "content-length")).toBe("0");
    expect(viaHttp.tunnel.length).toBe(0);

    // TCP mode has no way to answer: the library drops the client's connection.
    const tcp = await Client.connect(await peer.tcpTunnel(denied));
    tcp.write(GET_ECHO);
    const viaTcp = await tcp.all();
    tcp.close();
    expect(viaTcp.bytes.length).toBe(0);
    expect(otherHits).toBe(0);
  }, SLOW);

  test("CONNECT with the origin down: the device's 502 reaches the library as 502", async () => {
    const down = `127.0.0.1:${downPort}`;
    const ours = await connectViaOurs(down, GET_ECHO);
    expect(ours.status).toBe(502);
    expect(text(ours.headBytes)).toBe("HTTP/1.1 502 Origin Is Unreachable\r\ncontent-length: 0\r\n\r\n");

    const raw = await peer.connect(down, ascii(GET_ECHO));
    expect(raw.status).toBe(502);

    const viaHttp = await connectViaLibrary(down, GET_ECHO);
    expect(viaHttp.head.status).toBe(502);
    expect(viaHttp.tunnel.length).toBe(0);
  }, SLOW);

  test("absolute-form GET: same status, headers and body through the library as through our gateway", async () => {
    const ours = await absoluteViaOurs("GET", `http://${app()}/echo`, [["host", app()]]);
    const lib = parseResponse((await viaLibrary(`GET http://${app()}/echo HTTP/1.1\r\nhost: ${app()}\r\nconnection: close\r\n\r\n`)).bytes);
    expect(ours.status).toBe(200);
    expect(lib.head.status).toBe(ours.status);
    expect(text(lib.body)).toBe("hello");
    expect(lib.body).toEqual(ours.body);
    // The device's end-to-end response headers survive the library's re-framing.
    expect(headerValue(lib.head.headers, "content-type")).toBe(headerValue(ours.head!.headers, "content-type"));
  }, SLOW);

  test("absolute-form: the origin sees the same request from both, plus the library's own Via/X-Forwarded-For", async () => {
    const sent: Array<[string, string]> = [
      ["host", "public.example"],
      ["x-end-to-end", "yes"],
      ["proxy-authorization", "Basic eA=="],
    ];
    const ours = await absoluteViaOurs("GET", `http://${app()}/headers`, sent);
    const head = sent.map(([n, v]) => `${n}: ${v}\r\n`).join("");
    const lib = parseResponse((await viaLibrary(`GET http://${app()}/headers HTTP/1.1\r\n${head}connection: close\r\n\r\n`)).bytes);
    const seenOurs = new Map(JSON.parse(text(ours.body)) as Array<[string, string]>);
    const seenLib = new Map(JSON.parse(text(lib.body)) as Array<[string, string]>);
    expect(seenLib.get("via")).toBe("HTTP/1.1 iroh-proxy");
    expect(seenLib.get("x-forwarded-for")).toMatch(/^127\.0\.0\.1:\d+$/);
    seenLib.delete("via");
    seenLib.delete("x-forwarded-for");
    expect(Object.fromEntries(seenLib)).toEqual(Object.fromEntries(seenOurs));
    expect(seenOurs.get("host")).toBe("public.example");
    expect(seenOurs.get("proxy-authorization")).toBeUndefined();
  }, SLOW);

  test("absolute-form: a chunked origin body arrives whole through both", async () => {
    const ours = await absoluteViaOurs("GET", `http://${app()}/chunked`, [["host", app()]]);
    const lib = parseResponse((await viaLibrary(`GET http://${app()}/chunked HTTP/1.1\r\nhost: ${app()}\r\nconnection: close\r\n\r\n`)).bytes);
    expect(text(ours.body)).toBe("alpha beta gamma");
    expect(text(lib.body)).toBe("alpha beta gamma");
    expect(headerValue(lib.head.headers, "x-origin")).toBe("chunked");
  }, SLOW);

  test("absolute-form POST of 1 MiB: echoed intact through both", async () => {
    const body = pattern(MiB, 5);
    const ours = await absoluteViaOurs("POST", `http://${app()}/echo`, [["host", app()], ["content-length", String(body.length)]], body);
    const client = await Client.connect(peer.httpProxy);
    client.write(`POST http://${app()}/echo HTTP/1.1\r\nhost: ${app()}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`);
    client.write(body);
    const lib = parseResponse((await client.all()).bytes);
    client.close();
    expect(lib.head.status).toBe(200);
    expect(sha256(lib.body)).toBe(sha256(body));
    expect(sha256(ours.body)).toBe(sha256(body));
  }, SLOW);

  test("websocket upgrade in absolute form: 101 with the right accept, then frames both ways, through both", async () => {
    const upgrade =
      `GET http://${app()}/ws HTTP/1.1\r\nhost: ${app()}\r\nupgrade: websocket\r\nconnection: upgrade\r\n` +
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
    const mask = [1, 2, 3, 4];
    const payload = [..."hi"].map((c, i) => c.charCodeAt(0) ^ mask[i % 4]!);
    const frame = Uint8Array.from([0x81, 0x80 | payload.length, ...mask, ...payload]);
    const echoed = [0x81, 2, 0x68, 0x69];

    // Ours: a bare stream, the same bytes.
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    await stream.write(ascii(upgrade));
    let got: Uint8Array = new Uint8Array(0);
    while (headEnd(got) < 0) {
      const chunk = await stream.read();
      if (chunk === null) break;
      got = concatBytes([got, chunk]);
    }
    const oursHead = parseResponseHead(got);
    if (oursHead.kind !== "complete") throw new Error(`ours: no 101 head: ${JSON.stringify(text(got))}`);
    expect(oursHead.head.status).toBe(101);
    got = got.subarray(oursHead.head.headerLength);
    await stream.write(frame);
    while (got.length < 4) {
      const chunk = await stream.read();
      if (chunk === null) break;
      got = concatBytes([got, chunk]);
    }
    expect([...got.subarray(0, 4)]).toEqual(echoed);
    await stream.abort();

    // The library's HTTP proxy.
    const client = await Client.connect(peer.httpProxy);
    client.write(upgrade);
    const buf = await client.until((b) => headEnd(b) >= 0);
    const libHead = parseResponseHead(buf);
    if (libHead.kind !== "complete") throw new Error(`library: no 101 head: ${JSON.stringify(text(buf))}`);
    expect(libHead.head.status).toBe(101);
    expect(headerValue(libHead.head.headers, "sec-websocket-accept")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    expect(headerValue(libHead.head.headers, "upgrade")?.toLowerCase()).toBe("websocket");
    expect(headerValue(libHead.head.headers, "sec-websocket-accept")).toBe(headerValue(oursHead.head.headers, "sec-websocket-accept"));
    client.take(libHead.head.headerLength);
    client.write(frame);
    const libFrames = await client.until((b) => b.length >= 4);
    expect([...libFrames.subarray(0, 4)]).toEqual(echoed);
    client.close();
  }, SLOW);

  test("a request head over 8 KiB: not proxied; the library answers its client 502, our gateway reports 502", async () => {
    const before = originHits;
    const big = "a".repeat(9000);
    const ours = await gateway.dialAbsolute(endpoint.endpointId, addrs(), null, {
      method: "GET",
      url: `http://${app()}/echo`,
      headers: [["x-big", big]],
    });
    expect(ours.kind === "error" && ours.status).toBe(502);

    const lib = parseResponse((await viaLibrary(`GET http://${app()}/echo HTTP/1.1\r\nhost: ${app()}\r\nx-big: ${big}\r\nconnection: close\r\n\r\n`)).bytes);
    expect(lib.head.status).toBe(502);
    // The same through a CONNECT whose own head is too large.
    const viaConnect = await connectViaLibrary(app(), GET_ECHO, `x-big: ${big}\r\n`);
    expect(viaConnect.head.status).toBe(502);
    expect(originHits).toBe(before);
  }, SLOW);

  test("absolute-form with the origin down: 502 through both", async () => {
    const ours = await absoluteViaOurs("GET", `http://127.0.0.1:${downPort}/`, [["host", "x"]]);
    expect(ours.status).toBe(502);
    const lib = parseResponse((await viaLibrary(`GET http://127.0.0.1:${downPort}/ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)).bytes);
    expect(lib.head.status).toBe(502);
  }, SLOW);

  /** One absolute-form GET/HEAD to the scripted origin through both; the request heads the origin got. */
  async function scriptedBoth(method: string, path: string): Promise<{ ours: Awaited<ReturnType<typeof absoluteViaOurs>>; lib: Parsed; heads: string[] }> {
    const authority = `127.0.0.1:${scriptedPort}`;
    const from = scriptedHeads.length;
    const ours = await absoluteViaOurs(method, `http://${authority}${path}`, [["host", "scripted.test"], ["x-client", "1"]]);
    const client = await Client.connect(peer.httpProxy);
    client.write(`${method} http://${authority}${path} HTTP/1.1\r\nhost: scripted.test\r\nx-client: 1\r\nconnection: close\r\n\r\n`);
    const raw = (await client.all()).bytes;
    client.close();
    // A HEAD answer announces a length it does not send.
    const lib = method === "HEAD" ? { head: (parseResponseHead(raw) as { head: ResponseHead }).head, body: raw.subarray(headEnd(raw)) } : parseResponse(raw);
    return { ours, lib, heads: scriptedHeads.slice(from) };
  }

  test("the origin gets the same request head from both (the library's Via/X-Forwarded-For aside)", async () => {
    const { heads } = await scriptedBoth("GET", "/hop");
    expect(heads).toHaveLength(2);
    const lines = (head: string): string[] =>
      head
        .split("\r\n")
        .filter((l) => l !== "" && !/^(via|x-forwarded-for):/i.test(l))
        .sort();
    expect(lines(heads[1]!)).toEqual(lines(heads[0]!));
    expect(heads[1]).toMatch(/\r\nvia: HTTP\/1\.1 iroh-proxy\r\n/i);
  }, SLOW);

  test("hop-by-hop response headers stop at the device; end-to-end ones reach the library's client", async () => {
    const { ours, lib } = await scriptedBoth("GET", "/hop");
    for (const headers of [ours.head!.headers, lib.head.headers]) {
      expect(headerValue(headers, "x-hop")).toBeUndefined();
      expect(headerValue(headers, "x-kept")).toBe("yes");
    }
    expect(text(lib.body)).toBe("ok");
    expect(lib.body).toEqual(ours.body);
  }, SLOW);

  test("an interim 100 from the origin is skipped: the library's client gets the final 200", async () => {
    const { ours, lib } = await scriptedBoth("GET", "/interim");
    expect([ours.status, text(ours.body)]).toEqual([200, "final"]);
    expect([lib.head.status, text(lib.body)]).toEqual([200, "final"]);
  }, SLOW);

  test("a body framed only by the origin closing arrives whole through both", async () => {
    const { ours, lib } = await scriptedBoth("GET", "/until-close");
    expect(text(ours.body)).toBe("body until close");
    expect(text(lib.body)).toBe("body until close");
    expect(headerValue(lib.head.headers, "x-framing")).toBe("none");
  }, SLOW);

  test("HEAD and 204: headers only, no body, through both", async () => {
    const head = await scriptedBoth("HEAD", "/anything");
    expect(head.ours.status).toBe(200);
    expect(head.ours.body.length).toBe(0);
    expect(head.lib.head.status).toBe(200);
    expect(headerValue(head.lib.head.headers, "x-head")).toBe("yes");
    expect(head.lib.body.length).toBe(0);
    const empty = await scriptedBoth("GET", "/no-content");
    expect([empty.ours.status, empty.ours.body.length]).toEqual([204, 0]);
    expect([empty.lib.head.status, empty.lib.body.length]).toEqual([204, 0]);
    expect(headerValue(empty.lib.head.headers, "x-empty")).toBe("yes");
  }, SLOW);

  test("an origin response head the library cannot read (over 8 KiB, over 64 headers): 502 for the library's client and for our gateway", async () => {
    for (const path of ["/big-head", "/many-headers"]) {
      const { ours, lib } = await scriptedBoth("GET", path);
      expect([path, ours.status]).toEqual([path, 502]);
      expect([path, lib.head.status]).toEqual([path, 502]);
    }
  }, SLOW);

  test("a chunked request body (the library sends it de-chunked, framed by FIN): echoed intact", async () => {
    const parts = ["first ", "second ", "third"];
    const client = await Client.connect(peer.httpProxy);
    client.write(`POST http://${app()}/echo HTTP/1.1\r\nhost: ${app()}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`);
    for (const p of parts) client.write(`${p.length.toString(16)}\r\n${p}\r\n`);
    client.write("0\r\n\r\n");
    const lib = parseResponse((await client.all()).bytes);
    client.close();
    expect([lib.head.status, text(lib.body)]).toEqual([200, parts.join("")]);
  }, SLOW);

  test("expect: 100-continue through the library: one final answer, the body echoed", async () => {
    const body = "after continue";
    const client = await Client.connect(peer.httpProxy);
    client.write(`POST http://${app()}/echo HTTP/1.1\r\nhost: ${app()}\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`);
    // The library's hyper answers 100 itself once it wants the body.
    const interim = await client.until((b) => headEnd(b) >= 0);
    let raw: Uint8Array;
    if (text(interim).startsWith("HTTP/1.1 100")) {
      client.take(headEnd(interim));
      client.write(body);
      raw = (await client.all()).bytes;
    } else {
      raw = (await client.all()).bytes;
    }
    client.close();
    const lib = parseResponse(raw);
    expect([lib.head.status, text(lib.body)]).toEqual([200, body]);
  }, SLOW);

  test("100 concurrent streams through the library (50 CONNECT tunnels, 50 absolute-form POSTs): each gets its own answer", async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const body = `req-${i}`;
        if (i % 2 === 0) {
          const { head, tunnel } = await connectViaLibrary(
            app(),
            `POST /echo HTTP/1.1\r\nhost: app.test\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
          );
          return head.status === 200 && text(parseResponse(tunnel).body) === body;
        }
        const res = parseResponse(
          (await viaLibrary(`POST http://${app()}/echo HTTP/1.1\r\nhost: ${app()}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`)).bytes,
        );
        return res.head.status === 200 && text(res.body) === body;
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(100);
  }, SLOW);
});
