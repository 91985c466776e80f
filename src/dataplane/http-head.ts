/**
 * HTTP/1.x header-section parsing for the iroh stream protocol (docs/wire-facts.md#stream-protocol).
 *
 * The device buffers at most 8192 bytes (`HEADER_SECTION_MAX_LENGTH`) and 64 headers before it
 * must have a complete request head; anything larger is a stream error, never a partial proxy.
 * The parser is pure and byte-oriented (no `TextDecoder` on untrusted input): header bytes are
 * latin1 by definition, so each byte becomes one UTF-16 code unit and nothing can be
 * "normalised" into a different spelling on the way to the allow-list.
 */

export const HEADER_SECTION_MAX_LENGTH = 8192;
export const MAX_HEADERS = 64;

export interface HeadLimits {
  /** Bytes the whole header section (start line to the blank line, inclusive) may take. */
  readonly maxLength: number;
  readonly maxHeaders: number;
}

export const REQUEST_HEAD_LIMITS: HeadLimits = { maxLength: HEADER_SECTION_MAX_LENGTH, maxHeaders: MAX_HEADERS };

/** A header as received: the name lowercased (as the `http` crate stores it), the value trimmed. */
export interface Header {
  readonly name: string;
  readonly value: string;
}

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  readonly headers: readonly Header[];
  /** Bytes consumed by the head, including its terminating blank line; the body starts here. */
  readonly headerLength: number;
}

export interface ResponseHead {
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly Header[];
  readonly headerLength: number;
}

export type HeadResult<T> =
  | { readonly kind: "need-more" }
  | { readonly kind: "complete"; readonly head: T }
  | { readonly kind: "error"; readonly reason: string };

const LF = 0x0a;
const CR = 0x0d;

/**
 * Index just past the blank line ending the header section, or -1. Accepts CRLF and bare LF line
 * endings (as httparse does); `from` lets an incremental caller skip bytes it already scanned.
 */
export function findHeadEnd(buf: Uint8Array, from = 0, start = 0): number {
  for (let i = Math.max(from, start); i < buf.length; i++) {
    if (buf[i] !== LF) continue;
    // A blank line is LF directly followed by LF, or by CR LF.
    const next = buf[i + 1];
    if (next === LF) return i + 2;
    if (next === CR && buf[i + 2] === LF) return i + 3;
  }
  return -1;
}

/** Leading empty lines before the start line are ignored (RFC 9112 §2.2 robustness). */
function skipLeadingNewlines(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === LF) i += 1;
    else if (buf[i] === CR && buf[i + 1] === LF) i += 2;
    else break;
  }
  return i;
}

function isTokenChar(c: number): boolean {
  // RFC 9110 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~"
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true;
  return "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/** The lines of a head (without line terminators) between `start` and `end` (exclusive). */
function splitLines(buf: Uint8Array, start: number, end: number): Array<[number, number]> {
  const lines: Array<[number, number]> = [];
  let lineStart = start;
  for (let i = start; i < end; i++) {
    if (buf[i] !== LF) continue;
    const lineEnd = i > lineStart && buf[i - 1] === CR ? i - 1 : i;
    lines.push([lineStart, lineEnd]);
    lineStart = i + 1;
  }
  return lines;
}

type HeadersResult = { ok: true; headers: Header[] } | { ok: false; reason: string };

function parseHeaderLines(buf: Uint8Array, lines: Array<[number, number]>, maxHeaders: number): HeadersResult {
  const headers: Header[] = [];
  for (const [start, end] of lines) {
    if (start === end) continue; // the terminating blank line
    if (headers.length >= maxHeaders) return { ok: false, reason: "too many headers" };
    const first = buf[start]!;
    // Obsolete line folding is a smuggling vector; httparse rejects it too.
    if (first === 0x20 || first === 0x09) return { ok: false, reason: "obsolete header line folding" };
    let colon = -1;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c === 0x3a) {
        colon = i;
        break;
      }
      if (!isTokenChar(c)) return { ok: false, reason: "invalid header name" };
    }
    if (colon <= start) return { ok: false, reason: colon === start ? "empty header name" : "header line without a colon" };
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && (buf[valueStart] === 0x20 || buf[valueStart] === 0x09)) valueStart++;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === 0x20 || buf[valueEnd - 1] === 0x09)) valueEnd--;
    for (let i = valueStart; i < valueEnd; i++) {
      const c = buf[i]!;
      // field-vchar / SP / HTAB / obs-text; a stray CR or NUL is rejected.
      if (c !== 0x09 && (c < 0x20 || c === 0x7f)) return { ok: false, reason: "invalid header value" };
    }
    headers.push({ name: latin1(buf, start, colon).toLowerCase(), value: latin1(buf, valueStart, valueEnd) });
  }
  return { ok: true, headers };
}

function parseVersion(s: string): "HTTP/1.0" | "HTTP/1.1" | undefined {
  return s === "HTTP/1.1" || s === "HTTP/1.0" ? s : undefined;
}

/** Locate the head in `buf` and enforce the length limit; shared by requests and responses. */
function locateHead(buf: Uint8Array, limits: HeadLimits, from: number): { end: number } | HeadResult<never> {
  const start = skipLeadingNewlines(buf);
  const end = findHeadEnd(buf, from, start);
  if (end === -1) {
    return buf.length >= limits.maxLength ? { kind: "error", reason: "header section too large" } : { kind: "need-more" };
  }
  if (end > limits.maxLength) return { kind: "error", reason: "header section too large" };
  return { end };
}

/**
 * Parse a request head from the start of `buf`. `need-more` means "read more bytes and call
 * again"; `from` is an optional scan hint (see `HeadAccumulator`).
 */
export function parseRequestHead(buf: Uint8Array, limits: HeadLimits = REQUEST_HEAD_LIMITS, from = 0): HeadResult<RequestHead> {
  const located = locateHead(buf, limits, from);
  if ("kind" in located) return located;
  const lines = splitLines(buf, skipLeadingNewlines(buf), located.end);
  const [lineStart, lineEnd] = lines[0]!;
  const parts = latin1(buf, lineStart, lineEnd).split(" ");
  if (parts.length !== 3) return { kind: "error", reason: "malformed request line" };
  const [method, target, versionText] = parts as [string, string, string];
  if (method.length === 0 || ![...method].every((ch) => isTokenChar(ch.charCodeAt(0)))) {
    return { kind: "error", reason: "invalid method" };
  }
  if (target.length === 0 || ![...target].every((ch) => ch.charCodeAt(0) > 0x20 && ch.charCodeAt(0) < 0x7f)) {
    return { kind: "error", reason: "invalid request target" };
  }
  const version = parseVersion(versionText);
  if (!version) return { kind: "error", reason: "unsupported HTTP version" };
  const headers = parseHeaderLines(buf, lines.slice(1), limits.maxHeaders);
  if (!headers.ok) return { kind: "error", reason: headers.reason };
  return { kind: "complete", head: { method, target, version, headers: headers.headers, headerLength: located.end } };
}

/** Parse a response head (origin responses, and the device's answer on the gateway side). */
export function parseResponseHead(buf: Uint8Array, limits: HeadLimits = REQUEST_HEAD_LIMITS, from = 0): HeadResult<ResponseHead> {
  const located = locateHead(buf, limits, from);
  if ("kind" in located) return located;
  const lines = splitLines(buf, skipLeadingNewlines(buf), located.end);
  const [lineStart, lineEnd] = lines[0]!;
  const line = latin1(buf, lineStart, lineEnd);
  const match = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(line);
  if (!match) return { kind: "error", reason: "malformed status line" };
  const version = parseVersion(match[1]!)!;
  const reason = match[3] ?? "";
  if ([...reason].some((ch) => ch.charCodeAt(0) < 0x20 && ch !== "\t")) return { kind: "error", reason: "invalid reason phrase" };
  const headers = parseHeaderLines(buf, lines.slice(1), limits.maxHeaders);
  if (!headers.ok) return { kind: "error", reason: headers.reason };
  return {
    kind: "complete",
    head: { version, status: Number(match[2]), reason, headers: headers.headers, headerLength: located.end },
  };
}

/** First value of a header (names are stored lowercased). */
export function headerValue(headers: readonly Header[], name: string): string | undefined {
  return headers.find((h) => h.name === name)?.value;
}

/** Comma-separated tokens of every instance of a header, lowercased (e.g. `Connection`). */
export function headerTokens(headers: readonly Header[], name: string): string[] {
  return headers
    .filter((h) => h.name === name)
    .flatMap((h) => h.value.split(","))
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0);
}

/**
 * Accumulates bytes until a head parses, scanning each byte once: a peer dribbling one byte at a
 * time costs O(n) to find the blank line, not O(n²). `bytes()` keeps everything pushed, so the raw
 * head and whatever followed it in the same reads are both available afterwards.
 */
export class HeadAccumulator<T extends { headerLength: number }> {
  private buf = new Uint8Array(1024);
  private size = 0;
  private scanned = 0;

  constructor(
    private readonly parse: (buf: Uint8Array, limits: HeadLimits, from: number) => HeadResult<T>,
    private readonly limits: HeadLimits = REQUEST_HEAD_LIMITS,
  ) {}

  push(chunk: Uint8Array): HeadResult<T> {
    if (this.size + chunk.length > this.buf.length) {
      let capacity = this.buf.length * 2;
      while (capacity < this.size + chunk.length) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    this.buf.set(chunk, this.size);
    this.size += chunk.length;
    // A terminator may straddle two pushes: re-check the last two bytes already scanned.
    const result = this.parse(this.bytes(), this.limits, Math.max(0, this.scanned - 2));
    this.scanned = this.size;
    return result;
  }

  /** Every byte pushed so far, in order (a view: copy it before pushing more). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }
}

/** What a request on the stream asks the device to do (docs/wire-facts.md#stream-protocol). */
export type ProxyRequest =
  | {
      readonly kind: "tunnel";
      /** Host as requested (a scheme prefix removed, IPv6 still bracketed). */
      readonly host: string;
      readonly port: number;
      /** `host:port` as requested: the counters' key (docs/wire-facts.md#counters). */
      readonly authority: string;
    }
  | {
      readonly kind: "absolute";
      readonly scheme: "http" | "https";
      readonly host: string;
      readonly port: number;
      readonly authority: string;
      /** Origin-form target to send to the origin: path and query, at least `/`. */
      readonly path: string;
      /** True for `Upgrade: websocket`, the only upgrade honoured (docs/wire-facts.md#stream-protocol). */
      readonly websocket: boolean;
    };

export type Classified = { readonly ok: true; readonly request: ProxyRequest } | { readonly ok: false; readonly reason: string };

export const ORIGIN_FORM_ERROR = "Received origin-form request but expected proxy request";

const DEFAULT_PORTS = { http: 80, https: 443 } as const;

/** Split `host:port` (IPv6 in brackets). The port is mandatory unless a default is given. */
export function splitAuthority(authority: string, defaultPort?: number): { host: string; port: number } | { error: string } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close === -1) return { error: "unterminated IPv6 literal" };
    host = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after.length > 0 && !after.startsWith(":")) return { error: "invalid authority" };
    portText = after.length > 0 ? after.slice(1) : undefined;
  } else {
    // Userinfo (`user:pw@host`) is kept as part of the host, so it can only fail the allow-list.
    // The port is the one after the host, so a `:` inside the userinfo (`127.0.0.1:80@evil`)
    // never counts as one: that authority has host `…@evil` and no port of its own.
    const colon = authority.lastIndexOf(":");
    const portColon = colon > authority.lastIndexOf("@") ? colon : -1;
    host = portColon === -1 ? authority : authority.slice(0, portColon);
    portText = portColon === -1 ? undefined : authority.slice(portColon + 1);
    if (host.includes(":") && !host.includes("@")) return { error: "IPv6 host must be bracketed" };
  }
  if (host.length === 0 || host === "[]") return { error: "missing host" };
  if (portText === undefined || portText === "") {
    if (defaultPort === undefined) return { error: "missing port" };
    return { host, port: defaultPort };
  }
  if (!/^\d{1,5}$/.test(portText)) return { error: "invalid port" };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { error: "invalid port" };
  return { host, port };
}

/**
 * Classify a parsed request head (docs/wire-facts.md#stream-protocol). CONNECT targets may carry an
 * `http://` or `https://` prefix (gateways sometimes send the host with its scheme,
 * docs/wire-facts.md#allow-list); it is removed here and again by the allow-list, so both spellings reach
 * the same decision.
 */
export function classifyRequest(head: RequestHead): Classified {
  if (head.method === "CONNECT") {
    const target = head.target.replace(/^https?:\/\//i, "").replace(/\/$/, "");
    const split = splitAuthority(target);
    if ("error" in split) return { ok: false, reason: `invalid CONNECT target: ${split.error}` };
    return { ok: true, request: { kind: "tunnel", host: split.host, port: split.port, authority: `${split.host}:${split.port}` } };
  }
  if (head.target.startsWith("/") || head.target === "*") return { ok: false, reason: ORIGIN_FORM_ERROR };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(head.target);
  if (!scheme) return { ok: false, reason: "invalid request target" };
  const schemeName = scheme[1]!.toLowerCase();
  if (schemeName !== "http" && schemeName !== "https") return { ok: false, reason: `unsupported scheme ${schemeName}` };
  const rest = head.target.slice(scheme[0].length).replace(/#.*$/, "");
  const pathStart = rest.search(/[/?]/);
  const authority = pathStart === -1 ? rest : rest.slice(0, pathStart);
  let path = pathStart === -1 ? "/" : rest.slice(pathStart);
  if (path.startsWith("?")) path = `/${path}`;
  const split = splitAuthority(authority, DEFAULT_PORTS[schemeName]);
  if ("error" in split) return { ok: false, reason: `invalid absolute target: ${split.error}` };
  const websocket = headerTokens(head.headers, "upgrade").includes("websocket");
  return {
    ok: true,
    request: {
      kind: "absolute",
      scheme: schemeName,
      host: split.host,
      port: split.port,
      authority: `${split.host}:${split.port}`,
      path,
      websocket,
    },
  };
}
