import { describe, expect, test } from "bun:test";
import {
  classifyRequest,
  HeadAccumulator,
  HEADER_SECTION_MAX_LENGTH,
  MAX_HEADERS,
  ORIGIN_FORM_ERROR,
  parseRequestHead,
  parseResponseHead,
  REQUEST_HEAD_LIMITS,
  splitAuthority,
  type RequestHead,
} from "../../../src/dataplane/http-head.ts";

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

function head(s: string): RequestHead {
  const r = parseRequestHead(bytes(s));
  if (r.kind !== "complete") throw new Error(`expected a complete head, got ${JSON.stringify(r)}`);
  return r.head;
}

describe("parseRequestHead", () => {
  test.each([
    ["CONNECT 127.0.0.1:8080 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", "CONNECT", "127.0.0.1:8080", [["host", "127.0.0.1:8080"]]],
    ["GET http://a:1/p?q HTTP/1.0\r\n\r\n", "GET", "http://a:1/p?q", []],
    ["GET / HTTP/1.1\nX-A: 1\n\n", "GET", "/", [["x-a", "1"]]],
    ["\r\nGET / HTTP/1.1\r\nA:b\r\n\r\n", "GET", "/", [["a", "b"]]],
    ["GET / HTTP/1.1\r\nA: \t spaced \t\r\nB:\r\n\r\n", "GET", "/", [["a", "spaced"], ["b", ""]]],
    ["GET / HTTP/1.1\r\nX-Latin: caf\xe9\r\n\r\n", "GET", "/", [["x-latin", "caf\xe9"]]],
  ])("complete %#", (input, method, target, headers) => {
    const h = head(input);
    expect(h.method).toBe(method);
    expect(h.target).toBe(target);
    expect(h.headers.map((x) => [x.name, x.value])).toEqual(headers);
    expect(h.headerLength).toBe(input.length);
  });

  test("headerLength stops at the blank line; the body is not part of the head", () => {
    const input = "POST http://a:1/ HTTP/1.1\r\ncontent-length: 4\r\n\r\nbody";
    expect(head(input).headerLength).toBe(input.length - 4);
  });

  test.each([
    ["GET / HTTP/1.1\r\nHost: a\r\n"],
    ["GET / HTTP/1.1\r\n"],
    ["GET / HTTP/1.1\r\n\r"],
    ["GET"],
    [""],
  ])("need-more %#", (input) => {
    expect(parseRequestHead(bytes(input)).kind).toBe("need-more");
  });

  test.each([
    ["GET  / HTTP/1.1\r\n\r\n", "malformed request line"],
    ["GET / HTTP/1.1 extra\r\n\r\n", "malformed request line"],
    ["G(T / HTTP/1.1\r\n\r\n", "invalid method"],
    ["GET /\x01 HTTP/1.1\r\n\r\n", "invalid request target"],
    ["GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"],
    ["GET / http/1.1\r\n\r\n", "unsupported HTTP version"],
    ["GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "obsolete header line folding"],
    ["GET / HTTP/1.1\r\nNoColon\r\n\r\n", "header line without a colon"],
    ["GET / HTTP/1.1\r\nA : b\r\n\r\n", "invalid header name"],
    ["GET / HTTP/1.1\r\n: b\r\n\r\n", "empty header name"],
    ["GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n", "invalid header value"],
    ["GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "invalid header value"],
  ])("error %#: %p", (input, reason) => {
    expect(parseRequestHead(bytes(input))).toEqual({ kind: "error", reason });
  });

  const withHeaders = (n: number): string => `GET / HTTP/1.1\r\n${Array.from({ length: n }, (_, i) => `h${i}: v\r\n`).join("")}\r\n`;

  test("64 headers parse, 65 do not", () => {
    expect(head(withHeaders(MAX_HEADERS)).headers).toHaveLength(64);
    expect(parseRequestHead(bytes(withHeaders(MAX_HEADERS + 1)))).toEqual({ kind: "error", reason: "too many headers" });
  });

  const padded = (total: number): string => {
    const start = "GET / HTTP/1.1\r\nx-pad: ";
    return `${start}${"a".repeat(total - start.length - 4)}\r\n\r\n`;
  };

  test("a head of exactly 8192 bytes parses; 8193 is too large", () => {
    expect(padded(HEADER_SECTION_MAX_LENGTH).length).toBe(8192);
    expect(head(padded(HEADER_SECTION_MAX_LENGTH)).headerLength).toBe(8192);
    expect(parseRequestHead(bytes(padded(HEADER_SECTION_MAX_LENGTH + 1)))).toEqual({ kind: "error", reason: "header section too large" });
  });

  test("8192 bytes without a blank line is an error, not need-more", () => {
    const input = `GET / HTTP/1.1\r\nx: ${"a".repeat(9000)}`;
    expect(parseRequestHead(bytes(input))).toEqual({ kind: "error", reason: "header section too large" });
    expect(parseRequestHead(bytes(input.slice(0, 8191))).kind).toBe("need-more");
  });
});

describe("HeadAccumulator", () => {
  const input = "GET http://h:1/ HTTP/1.1\r\nHost: h:1\r\nX-A: 1\r\n\r\nBODY";

  test.each([1, 2, 3, 5, 7, 64])("fed %p bytes at a time it gives the same head, once", (step) => {
    const acc = new HeadAccumulator(parseRequestHead, REQUEST_HEAD_LIMITS);
    const results = [];
    for (let i = 0; i < input.length; i += step) results.push(acc.push(bytes(input.slice(i, i + step))));
    const complete = results.filter((r) => r.kind === "complete");
    expect(complete.length).toBeGreaterThan(0);
    const first = complete[0]!;
    if (first.kind !== "complete") throw new Error("unreachable");
    expect(first.head.headerLength).toBe(input.length - 4);
    expect(results.slice(0, results.indexOf(first)).every((r) => r.kind === "need-more")).toBe(true);
    expect(new TextDecoder().decode(acc.bytes())).toBe(input.slice(0, Math.min(input.length, results.length * step)));
  });

  test("overflow while dribbling is reported at the limit", () => {
    const acc = new HeadAccumulator(parseRequestHead, REQUEST_HEAD_LIMITS);
    let result = acc.push(bytes("GET / HTTP/1.1\r\n"));
    let pushed = 16;
    while (result.kind === "need-more" && pushed < 20_000) {
      result = acc.push(bytes("x"));
      pushed++;
    }
    expect(result).toEqual({ kind: "error", reason: "header section too large" });
    expect(pushed).toBe(HEADER_SECTION_MAX_LENGTH);
  });
});

describe("classifyRequest", () => {
  const classify = (line: string, headers = ""): unknown => {
    const r = classifyRequest(head(`${line}\r\n${headers}\r\n`));
    return r.ok ? r.request : r.reason;
  };

  test.each([
    ["CONNECT 127.0.0.1:8080 HTTP/1.1", { kind: "tunnel", host: "127.0.0.1", port: 8080, authority: "127.0.0.1:8080" }],
    ["CONNECT localhost:3000 HTTP/1.1", { kind: "tunnel", host: "localhost", port: 3000, authority: "localhost:3000" }],
    ["CONNECT http://127.0.0.1:8080 HTTP/1.1", { kind: "tunnel", host: "127.0.0.1", port: 8080, authority: "127.0.0.1:8080" }],
    ["CONNECT https://127.0.0.1:8443/ HTTP/1.1", { kind: "tunnel", host: "127.0.0.1", port: 8443, authority: "127.0.0.1:8443" }],
    ["CONNECT [::1]:80 HTTP/1.1", { kind: "tunnel", host: "[::1]", port: 80, authority: "[::1]:80" }],
    ["CONNECT user@127.0.0.1:80 HTTP/1.1", { kind: "tunnel", host: "user@127.0.0.1", port: 80, authority: "user@127.0.0.1:80" }],
    ["CONNECT 127.0.0.1 HTTP/1.1", "invalid CONNECT target: missing port"],
    ["CONNECT 127.0.0.1: HTTP/1.1", "invalid CONNECT target: missing port"],
    ["CONNECT 127.0.0.1:0 HTTP/1.1", "invalid CONNECT target: invalid port"],
    ["CONNECT 127.0.0.1:65536 HTTP/1.1", "invalid CONNECT target: invalid port"],
    ["CONNECT 127.0.0.1:80x HTTP/1.1", "invalid CONNECT target: invalid port"],
    ["CONNECT ::1:80 HTTP/1.1", "invalid CONNECT target: IPv6 host must be bracketed"],
    ["CONNECT [::1 HTTP/1.1", "invalid CONNECT target: unterminated IPv6 literal"],
    ["CONNECT :80 HTTP/1.1", "invalid CONNECT target: missing host"],
    ["GET / HTTP/1.1", ORIGIN_FORM_ERROR],
    ["GET /path?q=1 HTTP/1.1", ORIGIN_FORM_ERROR],
    ["OPTIONS * HTTP/1.1", ORIGIN_FORM_ERROR],
    ["GET ftp://h:21/ HTTP/1.1", "unsupported scheme ftp"],
    ["GET h:80/ HTTP/1.1", "invalid request target"],
    ["GET http:///p HTTP/1.1", "invalid absolute target: missing host"],
  ])("%s", (line, expected) => {
    expect(classify(line)).toEqual(expected);
  });

  test.each([
    ["GET http://127.0.0.1:8080/a/b?c=d HTTP/1.1", "127.0.0.1", 8080, "/a/b?c=d", "http"],
    ["GET http://example.test/ HTTP/1.1", "example.test", 80, "/", "http"],
    ["GET https://example.test HTTP/1.1", "example.test", 443, "/", "https"],
    ["GET HTTP://example.test:81?x HTTP/1.1", "example.test", 81, "/?x", "http"],
    ["POST http://[::1]:9000/p#frag HTTP/1.1", "[::1]", 9000, "/p", "http"],
    ["GET http://user:pw@127.0.0.1:80/ HTTP/1.1", "user:pw@127.0.0.1", 80, "/", "http"],
  ])("absolute %s", (line, host, port, path, scheme) => {
    expect(classify(line)).toEqual({ kind: "absolute", scheme, host, port, authority: `${host}:${port}`, path, websocket: false });
  });

  test.each([
    ["upgrade: websocket\r\nconnection: upgrade\r\n", true],
    ["Upgrade: WebSocket\r\n", true],
    ["upgrade: h2c\r\nconnection: upgrade\r\n", false],
    ["connection: upgrade\r\n", false],
  ])("websocket detection %#", (headers, websocket) => {
    const r = classify("GET http://127.0.0.1:1/ws HTTP/1.1", headers) as { websocket: boolean };
    expect(r.websocket).toBe(websocket);
  });
});

describe("splitAuthority", () => {
  test.each([
    ["a:1", undefined, { host: "a", port: 1 }],
    ["a", 80, { host: "a", port: 80 }],
    ["[fe80::1]:65535", undefined, { host: "[fe80::1]", port: 65535 }],
    ["[fe80::1]x", undefined, { error: "invalid authority" }],
    ["a:-1", undefined, { error: "invalid port" }],
  ])("%p", (input, defaultPort, expected) => {
    expect(splitAuthority(input, defaultPort)).toEqual(expected);
  });
});

describe("parseResponseHead", () => {
  test.each([
    ["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 200, "OK", 1],
    ["HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", 403, "Forbidden", 1],
    ["HTTP/1.1 502 Origin Is Unreachable\r\ncontent-length: 0\r\n\r\n", 502, "Origin Is Unreachable", 1],
    ["HTTP/1.0 204\r\n\r\n", 204, "", 0],
    ["HTTP/1.1 299 \r\n\r\n", 299, "", 0],
  ])("%#", (input, status, reason, headers) => {
    const r = parseResponseHead(bytes(input));
    expect(r.kind).toBe("complete");
    if (r.kind !== "complete") return;
    expect([r.head.status, r.head.reason, r.head.headers.length, r.head.headerLength]).toEqual([status, reason, headers, input.length]);
  });

  test.each(["HTTP/1.1 20 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 200 OK\r\nbad header\r\n\r\n"])("error %p", (input) => {
    expect(parseResponseHead(bytes(input)).kind).toBe("error");
  });
});

describe("fuzz: never throws, never reads past the limit", () => {
  // A small deterministic PRNG, so a failure is reproducible from the seed.
  const rng = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const valid = "CONNECT 127.0.0.1:8080 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: b, c\r\n\r\n";

  test("random bytes and mutations of a valid head", () => {
    const random = rng(42);
    for (let i = 0; i < 3000; i++) {
      const input =
        i % 2 === 0
          ? Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256))
          : (() => {
              const b = bytes(valid);
              for (let k = 0; k < 3; k++) b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
              return b;
            })();
      const r = parseRequestHead(input);
      if (r.kind === "complete") {
        expect(r.head.headerLength).toBeLessThanOrEqual(input.length);
        classifyRequest(r.head);
      }
      parseResponseHead(input);
    }
  });
});
