/**
 * Hostile input into the stream parser (issue 8 item 3), pure and in memory: ≥ 100,000 generated
 * and mutated request header sections go through `parseRequestHead` (whole and split into random
 * reads through `HeadAccumulator`), `classifyRequest`, the allow-list and `serveProxyStream` on an
 * in-memory stream whose origin dialer only records. Every verdict must be clean (need-more /
 * complete / error with a reason), bounded in time, consistent however the bytes arrive, and every
 * stream must end with nothing, the 403 constant or the 502 constant; only allow-listed origins
 * may be dialled, and only at the allow-list's own spelling.
 *
 * Reproduce a failure with FUZZ_SEED=<seed printed by the run>.
 */
import { describe, expect, test } from "bun:test";
import { findAllowed, normalizeHost, originHost, type AllowEntry } from "../../../src/dataplane/allowlist.ts";
import { Pushback, type ByteStream } from "../../../src/dataplane/byte-stream.ts";
import { Counters, HEADER_TIMEOUT_KEY, MALFORMED_KEY } from "../../../src/dataplane/counters.ts";
import {
  classifyRequest,
  HeadAccumulator,
  HEADER_SECTION_MAX_LENGTH,
  MAX_HEADERS,
  parseRequestHead,
  REQUEST_HEAD_LIMITS,
  splitAuthority,
  type HeadResult,
  type RequestHead,
} from "../../../src/dataplane/http-head.ts";
import { FORBIDDEN, ORIGIN_UNREACHABLE } from "../../../src/dataplane/response.ts";
import { headerTimeoutFromEnv, serveProxyStream, type UpstreamContext } from "../../../src/dataplane/upstream.ts";
import { HEADER_READ_TIMEOUT_MS, HEADER_TIMEOUT_ENV } from "../../../src/supervise/budgets.ts";
import { prng } from "../../helpers/prng.ts";
import { concatBytes } from "../../../src/dataplane/bytes.ts";

const SEED = (Number(process.env.FUZZ_SEED ?? 0x5eed_0803) >>> 0) || 1;
/**
 * A parse takes microseconds; this catches a hang or a blow-up. Measured in this process's CPU
 * time, not wall time, so other processes loading the machine cannot make a parse look slow.
 */
const PARSE_BOUND_MS = 250;
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- deterministic randomness -------------------------------------------------------------------

type Rng = () => number;
const int = (r: Rng, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const chance = (r: Rng, p: number): boolean => r() < p;

/** latin1: one byte per code unit (code units > 0xff are reduced, as the wire would carry bytes). */
const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);
const show = (b: Uint8Array, max = 160): string =>
  JSON.stringify(String.fromCharCode(...b.subarray(0, max))) + (b.length > max ? `…(+${b.length - max} bytes)` : "");

// ---- the allow-list under test and an independent oracle for it ---------------------------------

const ALLOW: readonly AllowEntry[] = [
  { id: "app", host: "127.0.0.1", port: 3000, enabled: true },
  { id: "named", host: "localhost", port: 4000, enabled: true },
  { id: "off", host: "127.0.0.1", port: 5000, enabled: false },
  { id: "db", host: "db.internal", port: 5432, enabled: true },
];

/**
 * Written without `normalizeHost`: the spellings docs/wire-facts.md#allow-list equates,
 * case-insensitively, with at most one `http://`/`https://` prefix left over. Nothing else may be
 * allowed.
 */
function oracleAllows(host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/^https?:\/\//, "");
  if (port === 3000 || port === 4000) return ["127.0.0.1", "localhost", "[::1]", "::1"].includes(h);
  if (port === 5432) return h === "db.internal";
  return false;
}

/** Where the device may dial for an allowed port: the allow-list entry's own host, nothing else. */
const DIAL_HOST: Record<number, string> = { 3000: "127.0.0.1", 4000: "localhost", 5432: "db.internal" };

// ---- generators -----------------------------------------------------------------------------------

const HOSTS = [
  "127.0.0.1", "localhost", "LOCALHOST", "LocalHost", "[::1]", "[::1", "::1", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]",
  "[::ffff:7f00:1]", "[::]", "0.0.0.0", "0", "127.1", "127.0.1", "127.0.0.01", "127.0.0.2", "2130706433", "0177.0.0.1",
  "0x7f000001", "0x7f.0.0.1", "0x7F.1", "localhost.", "LOCALHOST.", "localhost.localdomain", "user@127.0.0.1",
  "user:pw@127.0.0.1", "127.0.0.1@evil.test", "evil.test\\@127.0.0.1", "xn--lcalhost-9za", "xn--80ak6aa92e.com",
  "%6c%6fcalhost", "127.0.0.1%00", "[127.0.0.1]", "[localhost]", "[::1%25lo]", "db.internal", "DB.INTERNAL",
  "db.internal.", "http://127.0.0.1", "https://localhost", "http://http://127.0.0.1", "example.test", "", "a",
];
const PORTS = ["3000", "4000", "5000", "5432", "80", "443", "0", "65535", "65536", "99999", "", "03000", "00080", "3000 ", "-1", "+3000", "3e3", "0x50", "3000@evil.test", "3000#x", "3000/"];
const SCHEMES = ["http", "https", "HTTP", "HtTpS", "ftp", "ws", "wss", "gopher", "file", "javascript", "h+t-t.p", "1http", ""];
const METHODS = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "connect", "get", "Get", "M-SEARCH", "TRACE", "G(T", "", "GET\x00"];
const VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "HTTP/1.10", "HTTP/1", "HTTP/1.1 ", "", "HTTP/1.1\x00"];
const NAMES = ["Host", "host", "HOST", "content-length", "Content-Length", "transfer-encoding", "connection", "upgrade", "x-forwarded-for", "proxy-authorization", "te", "trailer", "x-a", "X-Very-Long-Name-" + "n".repeat(40), "bad name", "bad(name)", "", "nul\x00"];
const VALUES = ["127.0.0.1:3000", "evil.test", "websocket", "upgrade", "close", "chunked", "gzip, chunked", "0", "5", "-1", "1e3", " 12 ", "x", "", "\t spaced \t", "caf\xe9", "\x80\xff", "a\x00b", "a\rb", "a\x7fb"];
const EOLS = ["\r\n", "\r\n", "\r\n", "\n"];

function authority(r: Rng): string {
  const host = pick(r, HOSTS);
  const p = pick(r, PORTS);
  return chance(r, 0.1) ? host : `${host}:${p}`;
}

function target(r: Rng, method: string): string {
  if (method.toUpperCase() === "CONNECT" && chance(r, 0.8)) {
    const prefix = chance(r, 0.15) ? pick(r, ["http://", "https://", "HTTP://"]) : "";
    return prefix + authority(r) + (chance(r, 0.05) ? "/" : "");
  }
  switch (int(r, 10)) {
    case 0:
      return pick(r, ["/", "/path?q=1", "*", "//127.0.0.1:3000/", "/\\127.0.0.1"]);
    case 1:
      return pick(r, ["http:127.0.0.1:3000/", "http:/127.0.0.1:3000", "127.0.0.1:3000", "http//127.0.0.1:3000/", "http://", "https:///x"]);
    default: {
      const path = pick(r, ["", "/", "/a/b?c=d", "?x=1", "#frag", "/@evil.test", "/%2e%2e/", "?@evil.test/", "#@evil.test/"]);
      return `${pick(r, SCHEMES)}://${authority(r)}${path}`;
    }
  }
}

/** A structured request head: mostly well-formed, with hostile choices at every slot. */
function generateHead(r: Rng): Uint8Array {
  // Half the heads are clean around a hostile target, so the classifier and allow-list see many.
  const clean = chance(r, 0.5);
  const eol = pick(r, EOLS);
  const method = clean ? pick(r, METHODS.slice(0, 8)) : pick(r, METHODS);
  let s = chance(r, 0.05) ? eol.repeat(1 + int(r, 3)) : "";
  s += `${method} ${target(r, method)} ${clean ? "HTTP/1.1" : pick(r, VERSIONS)}${eol}`;
  const count = chance(r, 0.03) ? 60 + int(r, 10) : int(r, 6);
  for (let i = 0; i < count; i++) {
    const name = clean || chance(r, 0.8) ? pick(r, NAMES.slice(0, 14)) : pick(r, NAMES);
    const sep = clean ? ": " : pick(r, [": ", ":", ":\t", " : ", ": "]);
    const value = clean ? pick(r, VALUES.slice(0, 17)) : pick(r, VALUES);
    s += `${name}${sep}${value}${clean || chance(r, 0.9) ? eol : pick(r, EOLS)}`;
  }
  s += chance(r, 0.95) ? eol : "";
  if (chance(r, 0.2)) s += pick(r, ["body", "\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "x".repeat(int(r, 2000))]);
  return latin1(s);
}

const SPECIALS = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x7f, 0x80, 0xff, 0x3a, 0x40, 0x5b, 0x5d, 0x23, 0x2f, 0x5c, 0x25];
const UNICODE = ["ℓocalhost", "ｌｏｃａｌｈｏｓｔ", "é", "\u0130", "☃", "\u200b", "\ufeff", "１２７.０.０.１"];

function randomInsert(b: Uint8Array, at: number, ins: Uint8Array): Uint8Array {
  return concat(b.subarray(0, at), ins, b.subarray(at));
}

/** Named mutations, so a failure says what was done; each takes and returns bytes. */
const MUTATIONS: ReadonlyArray<readonly [string, (r: Rng, b: Uint8Array) => Uint8Array]> = [
  ["flip-bit", (r, b) => {
    if (b.length === 0) return b;
    const c = b.slice();
    c[int(r, c.length)]! ^= 1 << int(r, 8);
    return c;
  }],
  ["set-byte", (r, b) => {
    if (b.length === 0) return b;
    const c = b.slice();
    c[int(r, c.length)] = int(r, 256);
    return c;
  }],
  ["insert-special", (r, b) => randomInsert(b, int(r, b.length + 1), Uint8Array.of(pick(r, SPECIALS)))],
  ["delete-range", (r, b) => {
    const at = int(r, b.length + 1);
    return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(r, 8))));
  }],
  ["duplicate-range", (r, b) => {
    const at = int(r, b.length + 1);
    return randomInsert(b, at, b.subarray(at, at + 1 + int(r, 40)));
  }],
  ["truncate", (r, b) => b.subarray(0, int(r, b.length + 1))],
  ["obs-fold", (r, b) => {
    const lf = b.indexOf(0x0a, int(r, b.length));
    return lf === -1 ? b : randomInsert(b, lf + 1, latin1(pick(r, [" folded\r\n", "\tfolded\r\n", " \r\n"])));
  }],
  ["duplicate-host", (r, b) => {
    const lf = b.indexOf(0x0a);
    return lf === -1 ? b : randomInsert(b, lf + 1, latin1(`Host: ${pick(r, HOSTS)}:${pick(r, PORTS)}\r\n`));
  }],
  ["long-line", (r, b) => {
    const lf = b.indexOf(0x0a);
    return lf === -1 ? b : randomInsert(b, lf + 1, latin1(`x-long: ${"a".repeat(4000 + int(r, 8000))}\r\n`));
  }],
  ["many-headers", (r, b) => {
    const lf = b.indexOf(0x0a);
    const n = pick(r, [MAX_HEADERS - 1, MAX_HEADERS, MAX_HEADERS + 1, 200, 1000]);
    return lf === -1 ? b : randomInsert(b, lf + 1, latin1("h: v\r\n".repeat(n)));
  }],
  ["lowercase-method", (_r, b) => {
    const sp = b.indexOf(0x20);
    const c = b.slice();
    for (let i = 0; i < (sp === -1 ? 0 : sp); i++) if (c[i]! >= 0x41 && c[i]! <= 0x5a) c[i]! += 0x20;
    return c;
  }],
  ["drop-version", (_r, b) => {
    const lf = b.indexOf(0x0a);
    const line = b.subarray(0, lf === -1 ? b.length : lf);
    const sp = line.lastIndexOf(0x20);
    return sp === -1 ? b : concat(b.subarray(0, sp), b.subarray(lf === -1 ? b.length : lf > 0 && b[lf - 1] === 0x0d ? lf - 1 : lf));
  }],
  ["lf-only", (_r, b) => b.filter((x, i) => !(x === 0x0d && b[i + 1] === 0x0a))],
  ["cr-only", (_r, b) => b.map((x) => (x === 0x0a ? 0x0d : x))],
  ["early-blank-line", (r, b) => randomInsert(b, int(r, b.length + 1), latin1(pick(r, ["\r\n\r\n", "\n\n", "\n\r\n", "\r\r\n\n"])))],
  ["non-ascii", (r, b) => randomInsert(b, int(r, b.length + 1), utf8(pick(r, UNICODE)))],
  ["request-line-whitespace", (r, b) => {
    const sp = b.indexOf(0x20);
    return sp === -1 ? b : concat(b.subarray(0, sp), latin1(pick(r, ["\t", "  ", " \t", "\x0b", "\x0c"])), b.subarray(sp + 1));
  }],
  ["leading-newlines", (r, b) => concat(latin1(pick(r, ["\r\n", "\n", "\r"]).repeat(1 + int(r, chance(r, 0.05) ? 5000 : 200))), b)],
  ["nul-soup", (r, b) => randomInsert(b, int(r, b.length + 1), new Uint8Array(1 + int(r, 64)))],
];

function mutate(r: Rng, b: Uint8Array, counts: Map<string, number>): Uint8Array {
  let out = b;
  for (let n = 1 + int(r, 4); n > 0; n--) {
    const [name, fn] = pick(r, MUTATIONS);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    out = fn(r, out);
    if (out.length > 4 * HEADER_SECTION_MAX_LENGTH) out = out.subarray(0, 4 * HEADER_SECTION_MAX_LENGTH);
  }
  return out;
}

/** Byte soup, biased towards the bytes HTTP cares about. */
function soup(r: Rng): Uint8Array {
  const alphabet = latin1("GETPOSTCONNECT HTTP/1.1\r\n:@[]./0123456789abcdefxX%#?\t\x00\x7f\x80\xff");
  return Uint8Array.from({ length: int(r, 600) }, () => (chance(r, 0.7) ? alphabet[int(r, alphabet.length)]! : int(r, 256)));
}

/** Heads sized around the 8192-byte limit, and header counts around 64. */
function boundary(r: Rng): Uint8Array {
  const line = "CONNECT 127.0.0.1:3000 HTTP/1.1\r\n";
  if (chance(r, 0.5)) {
    const total = HEADER_SECTION_MAX_LENGTH - 4 + int(r, 9); // 8188 … 8196
    const pad = total - line.length - "x: \r\n\r\n".length;
    return latin1(`${line}x: ${"v".repeat(Math.max(0, pad))}\r\n\r\n`);
  }
  const n = MAX_HEADERS - 2 + int(r, 5);
  return latin1(`${line}${"h: v\r\n".repeat(n)}\r\n`);
}

// ---- the checks -----------------------------------------------------------------------------------

const REASONS = new Map<string, number>();
const stats = { parses: 0, incremental: 0, streams: 0, complete: 0, needMore: 0, error: 0, allowed: 0, denied: 0, unclassified: 0, maxParseMs: 0 };

function timedParse(buf: Uint8Array): HeadResult<RequestHead> {
  const t0 = cpuMs();
  const result = parseRequestHead(buf);
  const ms = cpuMs() - t0;
  stats.parses++;
  if (ms > stats.maxParseMs) stats.maxParseMs = ms;
  if (ms > PARSE_BOUND_MS) throw new Error(`parse took ${ms.toFixed(1)} ms (bound ${PARSE_BOUND_MS} ms)`);
  return result;
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A verdict is one of three shapes, and a complete head obeys every limit. */
function checkVerdict(buf: Uint8Array, r: HeadResult<RequestHead>): void {
  if (r.kind === "need-more") {
    // Only while there is still room for a head.
    if (buf.length >= HEADER_SECTION_MAX_LENGTH) throw new Error("need-more past the length limit");
    return;
  }
  if (r.kind === "error") {
    if (typeof r.reason !== "string" || r.reason.length === 0) throw new Error("error without a reason");
    return;
  }
  if (r.kind !== "complete") throw new Error(`unknown verdict ${JSON.stringify(r)}`);
  const h = r.head;
  if (!(h.headerLength > 0 && h.headerLength <= buf.length && h.headerLength <= HEADER_SECTION_MAX_LENGTH)) throw new Error(`headerLength ${h.headerLength}`);
  const end = buf.subarray(0, h.headerLength);
  const blank = end.at(-1) === 0x0a && (end.at(-2) === 0x0a || (end.at(-2) === 0x0d && end.at(-3) === 0x0a));
  if (!blank) throw new Error("complete head does not end with a blank line");
  if (h.headers.length > MAX_HEADERS) throw new Error(`${h.headers.length} headers`);
  if (!TCHAR.test(h.method)) throw new Error(`method ${JSON.stringify(h.method)}`);
  if (!/^[\x21-\x7e]+$/.test(h.target)) throw new Error(`target ${JSON.stringify(h.target)}`);
  if (h.version !== "HTTP/1.1" && h.version !== "HTTP/1.0") throw new Error(`version ${h.version}`);
  for (const { name, value } of h.headers) {
    if (!TCHAR.test(name) || name !== name.toLowerCase()) throw new Error(`header name ${JSON.stringify(name)}`);
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value) || /^[ \t]|[ \t]$/.test(value)) throw new Error(`header value ${JSON.stringify(value)}`);
  }
}

const sameVerdict = (a: HeadResult<RequestHead>, b: HeadResult<RequestHead>): boolean =>
  a.kind === b.kind && (a.kind !== "error" || a.reason === (b as { reason: string }).reason) && (a.kind !== "complete" || JSON.stringify(a.head) === JSON.stringify((b as { head: RequestHead }).head));

/** The same bytes in random reads give the same verdict as in one piece (the worker reads in pieces). */
function checkIncremental(r: Rng, buf: Uint8Array, whole: HeadResult<RequestHead>): void {
  const acc = new HeadAccumulator(parseRequestHead, REQUEST_HEAD_LIMITS);
  const maxPiece = pick(r, [1, 3, 17, 256, 4096, buf.length + 1]);
  let result: HeadResult<RequestHead> = { kind: "need-more" };
  const t0 = cpuMs();
  for (let i = 0; i < buf.length && result.kind === "need-more"; ) {
    const n = 1 + int(r, maxPiece);
    result = acc.push(buf.subarray(i, i + n));
    i += n;
  }
  const ms = cpuMs() - t0;
  if (ms > PARSE_BOUND_MS * 4) throw new Error(`incremental parse took ${ms.toFixed(1)} ms`);
  stats.incremental++;
  if (!sameVerdict(result, whole)) throw new Error(`incremental verdict ${JSON.stringify(result)} ≠ whole ${JSON.stringify(whole)}`);
}

/** Classification and authorization of a complete head against the independent oracle. */
function checkClassification(head: RequestHead): void {
  const c = classifyRequest(head);
  if (!c.ok) {
    if (typeof c.reason !== "string" || c.reason.length === 0) throw new Error("classification error without a reason");
    stats.unclassified++;
    return;
  }
  const q = c.request;
  if (!Number.isInteger(q.port) || q.port < 1 || q.port > 65535) throw new Error(`port ${q.port}`);
  if (q.host.length === 0 || q.authority !== `${q.host}:${q.port}`) throw new Error(`authority ${q.authority}`);
  if (q.kind === "absolute" && (!q.path.startsWith("/") || (q.scheme !== "http" && q.scheme !== "https"))) throw new Error(`absolute ${JSON.stringify(q)}`);
  const entry = findAllowed(ALLOW, q.host, q.port);
  const expected = oracleAllows(q.host, q.port);
  if ((entry !== undefined) !== expected) {
    throw new Error(`allow-list said ${entry ? "allowed" : "denied"} for ${q.authority} (normalized ${normalizeHost(q.host)}); expected ${expected ? "allowed" : "denied"}`);
  }
  if (entry) stats.allowed++;
  else stats.denied++;
}

/** An in-memory stream: the input arrives in random pieces, then FIN; everything written is kept. */
class MemoryStream implements ByteStream {
  readonly written: Uint8Array[] = [];
  finished = false;
  aborted = false;
  readsAfterAbort = 0;
  private readonly back = new Pushback();
  constructor(
    private readonly pieces: Uint8Array[],
    private readonly stall = false,
  ) {}
  async read(max = 65536): Promise<Uint8Array | null> {
    if (this.aborted) {
      // As `IrohByteStream`: an aborted stream's reads fail.
      this.readsAfterAbort++;
      throw new Error("stream aborted");
    }
    const pushed = this.back.take(max);
    if (pushed) return pushed;
    const next = this.pieces.shift();
    if (!next) return this.stall ? new Promise<never>(() => {}) : null;
    if (next.length > max) this.pieces.unshift(next.subarray(max));
    return next.subarray(0, max);
  }
  unshift(bytes: Uint8Array): void {
    this.back.unshift(bytes);
  }
  async write(bytes: Uint8Array): Promise<void> {
    if (this.finished || this.aborted) throw new Error("write after finish/abort");
    this.written.push(bytes.slice());
  }
  async finish(): Promise<void> {
    this.finished = true;
  }
  async abort(): Promise<void> {
    this.aborted = true;
  }
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The device's whole answer on a stream: nothing (aborted), the 403 or the 502 — and dials only where allowed. */
async function checkStream(r: Rng, buf: Uint8Array, whole: HeadResult<RequestHead>): Promise<void> {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = 1 + int(r, pick(r, [1, 64, 8192]));
    pieces.push(buf.subarray(i, i + n));
    i += n;
  }
  const dials: string[] = [];
  const ctx: UpstreamContext = {
    allowList: () => ALLOW,
    counters: new Counters(),
    log: () => {},
    connect: async (host, port) => {
      dials.push(`${host}:${port}`);
      throw new Error("connect ECONNREFUSED (recorded, never dialled)");
    },
  };
  const stream = new MemoryStream(pieces);
  await serveProxyStream(stream, ctx);
  stats.streams++;
  const out = concat(...stream.written);
  const classified = whole.kind === "complete" ? classifyRequest(whole.head) : undefined;
  const entry = classified?.ok ? findAllowed(ALLOW, classified.request.host, classified.request.port) : undefined;
  if (!classified?.ok) {
    if (out.length !== 0 || !stream.aborted) throw new Error(`a rejected head got ${show(out)} (aborted=${stream.aborted})`);
  } else if (!entry) {
    if (!equalBytes(out, FORBIDDEN) || !stream.finished) throw new Error(`a denied request got ${show(out)} instead of the 403`);
  } else if (!equalBytes(out, ORIGIN_UNREACHABLE) || !stream.finished) {
    throw new Error(`an allowed request with a refusing origin got ${show(out)} instead of the 502`);
  }
  const expectedDials = entry ? [`${DIAL_HOST[entry.port]}:${entry.port}`] : [];
  if (JSON.stringify(dials) !== JSON.stringify(expectedDials)) throw new Error(`dialled ${JSON.stringify(dials)}, expected ${JSON.stringify(expectedDials)}`);
  if (stream.readsAfterAbort > 0) throw new Error("read after abort");
}

async function runCase(r: Rng, buf: Uint8Array, label: string, withStream: boolean): Promise<HeadResult<RequestHead>> {
  try {
    let whole: HeadResult<RequestHead>;
    try {
      whole = timedParse(buf);
    } catch (err) {
      throw new Error(`parser threw: ${String(err)}`);
    }
    checkVerdict(buf, whole);
    if (whole.kind === "complete") stats.complete++;
    else if (whole.kind === "need-more") stats.needMore++;
    else {
      stats.error++;
      REASONS.set(whole.reason, (REASONS.get(whole.reason) ?? 0) + 1);
    }
    checkIncremental(r, buf, whole);
    if (whole.kind === "complete") checkClassification(whole.head);
    if (withStream) await checkStream(r, buf, whole);
    return whole;
  } catch (err) {
    throw new Error(`seed ${SEED}, case ${label}: ${err instanceof Error ? err.message : String(err)}\n  input ${show(buf)}`);
  }
}

// ---- the runs ---------------------------------------------------------------------------------------

/** Runs `run` once, however many tests ask for its result, in whatever order. */
function once<T>(run: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= run());
}

/**
 * Each fuzz phase runs once, when its own test or the totals ask for it first: the totals do not
 * depend on the phases' tests having run before them (or at all, with `-t totals`).
 */
const mutationCounts = new Map<string, number>();
const phases = {
  truncation: once(async () => {
    const r = prng(SEED ^ 0x1);
    let bases = 0;
    let prefixes = 0;
    while (prefixes < 10_000) {
      const base = generateHead(r);
      const whole = parseRequestHead(base);
      if (whole.kind !== "complete") continue;
      bases++;
      for (let cut = 0; cut <= base.length; cut++) {
        const prefix = base.subarray(0, cut);
        const v = await runCase(r, prefix, `truncate#${bases}@${cut}`, cut % 7 === 0);
        prefixes++;
        const expectedKind = cut < whole.head.headerLength ? "need-more" : "complete";
        if (v.kind !== expectedKind) throw new Error(`seed ${SEED}: prefix ${cut}/${base.length} of ${show(base)} gave ${v.kind}, expected ${expectedKind}`);
      }
    }
    return prefixes;
  }),
  generated: once(async () => {
    const r = prng(SEED ^ 0x2);
    for (let i = 0; i < 40_000; i++) await runCase(r, generateHead(r), `generated#${i}`, true);
    return 40_000;
  }),
  mutated: once(async () => {
    const r = prng(SEED ^ 0x3);
    for (let i = 0; i < 50_000; i++) await runCase(r, mutate(r, generateHead(r), mutationCounts), `mutated#${i}`, true);
    return 50_000;
  }),
  soupAndBoundaries: once(async () => {
    const r = prng(SEED ^ 0x4);
    for (let i = 0; i < 6_000; i++) await runCase(r, soup(r), `soup#${i}`, true);
    for (let i = 0; i < 2_000; i++) await runCase(r, boundary(r), `boundary#${i}`, true);
    return 8_000;
  }),
};

describe(`fuzz the stream parser (seed ${SEED})`, () => {
  test("truncation at every offset: a prefix of a complete head is need-more, never a different verdict", async () => {
    expect(await phases.truncation()).toBeGreaterThanOrEqual(10_000);
  }, 60_000);

  test("generated heads (structured, hostile slot values)", async () => {
    expect(await phases.generated()).toBe(40_000);
  }, 60_000);

  test("mutated heads (byte flips, inserted CR/LF/NUL, obs-fold, long lines, huge header counts, …)", async () => {
    await phases.mutated();
    // Every mutation was exercised, many times.
    for (const [name] of MUTATIONS) expect(mutationCounts.get(name) ?? 0).toBeGreaterThan(1000);
  }, 60_000);

  test("byte soup and the 8192-byte / 64-header boundaries", async () => {
    expect(await phases.soupAndBoundaries()).toBe(8_000);
  }, 60_000);

  test("totals: ≥ 100,000 cases, every verdict kind and outcome reached", async () => {
    let cases = 0;
    // One after another, as their tests run them (already done ones answer at once).
    for (const phase of Object.values(phases)) cases += await phase();
    console.log(
      `fuzz-head seed=${SEED} cases=${cases} parses=${stats.parses} incremental=${stats.incremental} streams=${stats.streams} ` +
        `complete=${stats.complete} need-more=${stats.needMore} error=${stats.error} allowed=${stats.allowed} denied=${stats.denied} ` +
        `unclassified=${stats.unclassified} maxParseMs=${stats.maxParseMs.toFixed(2)}`,
    );
    console.log(`fuzz-head error reasons: ${JSON.stringify(Object.fromEntries(REASONS))}`);
    expect(cases).toBeGreaterThanOrEqual(100_000);
    expect(stats.streams).toBeGreaterThanOrEqual(90_000);
    for (const n of [stats.complete, stats.needMore, stats.error, stats.allowed, stats.denied, stats.unclassified]) expect(n).toBeGreaterThan(500);
    for (const reason of ["header section too large", "too many headers", "obsolete header line folding", "invalid header value", "unsupported HTTP version", "invalid method", "invalid request target"]) {
      expect(REASONS.get(reason) ?? 0).toBeGreaterThan(0);
    }
  }, 120_000);
});

describe("the 403 and 502 constants are the only answers a rejected stream gets, and they are small", () => {
  // Purpose: the bounded answers themselves: exact bytes, content-length 0, well under a packet.
  test("exact bytes", () => {
    expect(String.fromCharCode(...FORBIDDEN)).toBe("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    expect(String.fromCharCode(...ORIGIN_UNREACHABLE)).toBe("HTTP/1.1 502 Origin Is Unreachable\r\ncontent-length: 0\r\n\r\n");
    expect(Math.max(FORBIDDEN.length, ORIGIN_UNREACHABLE.length)).toBeLessThan(100);
  });
});

describe("header-read timeout, in memory", () => {
  const ctxWith = (counters: Counters, headerTimeoutMs: number): UpstreamContext => ({
    allowList: () => ALLOW,
    counters,
    log: () => {},
    headerTimeoutMs,
    connect: async () => {
      throw new Error("no origin may be dialled");
    },
  });

  // Purpose: a partial head followed by silence (no FIN) is reset at the deadline and counted.
  test("a stalled partial head is cut off at the deadline, nothing written", async () => {
    const counters = new Counters();
    const stream = new MemoryStream([latin1("GET http://127.0.0.1:3000/ HTTP/1.1\r\nx-a: ")], true);
    const t0 = performance.now();
    await serveProxyStream(stream, ctxWith(counters, 150));
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(ms).toBeLessThan(1_500);
    expect([stream.aborted, stream.written.length]).toEqual([true, 0]);
    expect(counters.snapshot().counters[HEADER_TIMEOUT_KEY]?.denied).toBe(1);
  });

  // Purpose: the deadline covers the whole head, so a byte every 20 ms cannot keep extending it.
  test("a dribble of one byte every 20 ms is cut off at the deadline, not per byte", async () => {
    const counters = new Counters();
    let served = 0;
    let stopped = false;
    const stream = new MemoryStream([]);
    stream.read = async () => {
      if (stream.aborted) throw new Error("stream aborted");
      if (stopped || served >= 500) return null; // bounded, whatever happens
      await Bun.sleep(20);
      served++;
      return latin1("a");
    };
    const t0 = performance.now();
    await serveProxyStream(stream, ctxWith(counters, 200));
    const ms = performance.now() - t0;
    stopped = true;
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(1_500);
    expect(served).toBeLessThan(60);
    expect(stream.aborted).toBe(true);
    expect(counters.snapshot().counters[HEADER_TIMEOUT_KEY]?.denied).toBe(1);
  });

  // Purpose: a head that completes in time is unaffected by the timer (and leaves none behind).
  test("a head that arrives in time is served normally", async () => {
    const counters = new Counters();
    const stream = new MemoryStream([latin1("CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n")]);
    await serveProxyStream(stream, ctxWith(counters, 60_000));
    expect(String.fromCharCode(...concat(...stream.written))).toBe(String.fromCharCode(...FORBIDDEN));
    expect(counters.snapshot().counters[HEADER_TIMEOUT_KEY]).toBeUndefined();
  });

  // Purpose: malformed and truncated heads are counted under their reserved key; an empty stream is not.
  test("malformed and cut-short heads are counted, an empty stream is not", async () => {
    const counters = new Counters();
    for (const input of ["GET / HTTP/1.1\r\n\r\n", "garbage\r\n\r\n", "CONNECT 127.0.0.1:3000 HTTP/1.1\r\n", ""]) {
      await serveProxyStream(new MemoryStream(input ? [latin1(input)] : []), ctxWith(counters, 60_000));
    }
    expect(counters.snapshot().counters[MALFORMED_KEY]?.denied).toBe(3);
  });

  // Purpose: the timeout knob: a positive integer from the env, anything else means the default.
  test.each([
    [undefined, HEADER_READ_TIMEOUT_MS],
    ["1500", 1500],
    [" 250 ", 250],
    ["0", HEADER_READ_TIMEOUT_MS],
    ["-5", HEADER_READ_TIMEOUT_MS],
    ["1e3", HEADER_READ_TIMEOUT_MS],
    ["soon", HEADER_READ_TIMEOUT_MS],
  ])("headerTimeoutFromEnv(%p) = %p", (value, expected) => {
    expect(headerTimeoutFromEnv({ [HEADER_TIMEOUT_ENV]: value })).toBe(expected);
  });
});

describe("regressions the fuzzers found", () => {
  // Purpose: brackets are stripped only around an IPv6 literal; `[127.0.0.1]`/`[localhost]` were allowed.
  test.each([
    ["[127.0.0.1]", "[127.0.0.1]"],
    ["[localhost]", "[localhost]"],
    ["[::1]", "127.0.0.1"],
    ["[fd00::1]", "fd00::1"],
  ])("normalizeHost(%p) = %p", (host, expected) => {
    expect(normalizeHost(host)).toBe(expected);
    expect(findAllowed(ALLOW, host, 3000) !== undefined).toBe(expected === "127.0.0.1");
  });

  // Purpose: an allowed request is dialled at the entry's host, so `[::1]`/`LOCALHOST` cannot reach another socket.
  test("originHost is the entry's host without a scheme", () => {
    expect(originHost({ id: "a", host: "http://LocalHost", port: 1, enabled: true })).toBe("LocalHost");
    expect(originHost({ id: "a", host: " [::1] ", port: 1, enabled: true })).toBe("[::1]");
    expect(originHost(findAllowed(ALLOW, "[::1]", 3000)!)).toBe("127.0.0.1");
  });

  // Purpose: a `:` inside userinfo is not the port: `127.0.0.1:3000@evil` is host `…@evil`, so it gets the 403.
  test.each([
    ["127.0.0.1:3000@evil.test", 80, { host: "127.0.0.1:3000@evil.test", port: 80 }],
    ["127.0.0.1:3000@evil.test", undefined, { error: "missing port" }],
    ["127.0.0.1:3000@evil.test:3000", undefined, { host: "127.0.0.1:3000@evil.test", port: 3000 }],
    ["user:pw@127.0.0.1:3000", undefined, { host: "user:pw@127.0.0.1", port: 3000 }],
    ["user@[::1]:3000", undefined, { host: "user@[::1]", port: 3000 }],
  ])("splitAuthority(%p, %p)", (authority, defaultPort, expected) => {
    expect(splitAuthority(authority, defaultPort)).toEqual(expected);
  });
});
