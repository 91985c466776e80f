/**
 * Hostile traffic against the real ListenNode worker over real iroh streams (issue 8 item 3): a
 * table of SSRF spellings, a few thousand generated and mutated heads, and slow header dribbles.
 * The allow-list is `127.0.0.1:<origin port>` (plus a disabled entry); canary listeners sit on
 * every address a wrong spelling could reach and must never see a connection; the origin must
 * see exactly one connection per request the allow-list permits. Loopback only, inside the
 * loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 120000 test/e2e/dataplane-hostile.test.ts
 * Reproduce a fuzz failure with FUZZ_SEED=<seed printed by the run>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { findAllowed } from "../../src/dataplane/allowlist.ts";
import type { ByteStream } from "../../src/dataplane/byte-stream.ts";
import { HEADER_TIMEOUT_KEY, MALFORMED_KEY, type CountersSnapshot } from "../../src/dataplane/counters.ts";
import { classifyRequest, headerValue, parseRequestHead } from "../../src/dataplane/http-head.ts";
import { formatSocketAddr } from "../../src/dataplane/iroh-endpoint.ts";
import { loadDataPlane, type DataPlane, type DataPlaneEndpoint } from "../../src/dataplane/client.ts";
import { FORBIDDEN } from "../../src/dataplane/response.ts";
import { createGateway, type Gateway } from "../../src/devcloud/gateway/gateway.ts";
import { HEADER_TIMEOUT_ENV } from "../../src/supervise/budgets.ts";
import type { AllowListEntry } from "../../workers/messages.ts";
import { prng } from "../helpers/prng.ts";
import { concatBytes } from "../../src/dataplane/bytes.ts";

const SEED = (Number(process.env.FUZZ_SEED ?? 0x5eed_0803) >>> 0) || 1;
/** Streams through the worker in the fuzz run (a share of the pure run's 100,000+). */
const WORKER_CASES = 5_000;
const CONCURRENCY = 8;
/** The worker's header-read timeout for this file (the product default is 10 s). */
const HEADER_TIMEOUT_MS = 1_500;
/** How late the reset may come on a loaded 2-core machine. */
const TIMEOUT_SLACK_MS = 2_500;
/** No single stream may take longer than this to end (a hang fails the case, not the run). */
const STREAM_DEADLINE_MS = 10_000;
/** More than this many response bytes is not a bounded answer. */
const RESPONSE_CAP = 64 * 1024;

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => String.fromCharCode(...b);
const show = (b: Uint8Array, max = 120): string => JSON.stringify(text(b.subarray(0, max))) + (b.length > max ? `…(+${b.length - max})` : "");
const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

// ---- listeners: the origin and the canaries ------------------------------------------------------

interface Listener {
  readonly name: string;
  readonly port: number;
  accepts: number;
  close(): Promise<void>;
}

/** Bind `host:port`; undefined when this machine cannot (no IPv6, a low port refused). */
async function listen(name: string, host: string, port: number, onSocket: (s: net.Socket) => void): Promise<Listener | undefined> {
  const sockets = new Set<net.Socket>();
  const listener = { name, port: 0, accepts: 0, close: async () => {} } as Listener;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    listener.accepts++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onSocket(socket);
  });
  const ok = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => resolve(true));
  });
  if (!ok) return undefined;
  (listener as { port: number }).port = (server.address() as net.AddressInfo).port;
  listener.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return listener;
}

const ORIGIN_ANSWER = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/** The origin: answers once it has a head (or the peer's FIN), then half-closes and keeps draining. */
function originHandler(socket: net.Socket): void {
  let seen = "";
  let answered = false;
  const answer = (): void => {
    if (answered) return;
    answered = true;
    socket.end(ORIGIN_ANSWER);
  };
  socket.on("data", (d: Buffer) => {
    if (answered) return;
    seen += d.toString("latin1");
    if (seen.includes("\r\n\r\n") || seen.length > 65_536) answer();
  });
  socket.on("end", answer);
}

let origin: Listener;
const canaries: Listener[] = [];
let PO = 0; // origin port (allowed)
let PC = 0; // canary port (not in the allow-list)
let PD = 0; // canary port behind a disabled entry
let dataPlane: DataPlane;
let endpoint: DataPlaneEndpoint;
let gateway: Gateway;
let allowList: AllowListEntry[];
const workerLogs: Array<{ level: string; msg: string }> = [];
/** Connections the origin must have seen: one per request the allow-list permits. */
let expectedOriginAccepts = 0;

const addrs = (): string[] => endpoint.addresses.map(formatSocketAddr);
const canaryAccepts = (): Record<string, number> => Object.fromEntries(canaries.map((c) => [c.name, c.accepts]));
const noCanaryAccepts = (): Record<string, number> => Object.fromEntries(canaries.map((c) => [c.name, 0]));

beforeAll(async () => {
  origin = (await listen("origin 127.0.0.1", "127.0.0.1", 0, originHandler))!;
  PO = origin.port;
  const canary = (s: net.Socket): void => void s.destroy();
  const c1 = (await listen("canary 127.0.0.1:PC (not allowed)", "127.0.0.1", 0, canary))!;
  const c2 = (await listen("canary 127.0.0.1:PD (disabled entry)", "127.0.0.1", 0, canary))!;
  PC = c1.port;
  PD = c2.port;
  canaries.push(c1, c2);
  // Same port as the origin, other addresses: where a loopback alias or an odd IPv4 spelling
  // would land if it were dialled as spelled.
  for (const [name, host, port] of [
    ["canary [::1]:PO", "::1", PO],
    ["canary 127.0.0.2:PO", "127.0.0.2", PO],
    ["canary 127.0.0.1:80", "127.0.0.1", 80],
    ["canary 127.0.0.1:443", "127.0.0.1", 443],
    ["canary [::1]:PC", "::1", PC],
  ] as const) {
    const l = await listen(name, host, port, canary);
    if (l) canaries.push(l);
    else console.log(`note: could not bind ${name}; that canary is skipped`);
  }
  allowList = [
    { id: "app", host: "127.0.0.1", port: PO, enabled: true },
    { id: "off", host: "127.0.0.1", port: PD, enabled: false },
  ];
  dataPlane = await loadDataPlane({
    env: { [HEADER_TIMEOUT_ENV]: String(HEADER_TIMEOUT_MS) },
    log: (level, msg) => void workerLogs.push({ level, msg }),
  });
  endpoint = await dataPlane.start({ secretKey: crypto.getRandomValues(new Uint8Array(32)), relayUrls: [], allowList });
  gateway = await createGateway({ dialTimeoutMs: 5_000 });
  console.log(`dataplane-hostile seed=${SEED} origin=127.0.0.1:${PO} canaries=${canaries.map((c) => c.name.replace("PO", String(PO)).replace("PC", String(PC)).replace("PD", String(PD))).join(", ")}`);
});

afterAll(async () => {
  await gateway?.stop();
  await dataPlane?.stop();
  await origin?.close();
  for (const c of canaries) await c.close();
});

// ---- one exchange on a fresh stream ---------------------------------------------------------------

interface Outcome {
  readonly bytes: Uint8Array;
  /** How the worker's side ended: FIN, a reset, too many bytes, or not at all within the deadline. */
  readonly end: "fin" | "reset" | "cap" | "timeout";
  readonly ms: number;
}

async function readOutcome(stream: ByteStream, deadlineMs: number, started = performance.now()): Promise<Outcome> {
  const parts: Uint8Array[] = [];
  let size = 0;
  const reading = (async (): Promise<Outcome["end"]> => {
    try {
      for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
        parts.push(chunk);
        size += chunk.length;
        if (size > RESPONSE_CAP) return "cap";
      }
      return "fin";
    } catch {
      return "reset";
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const end = await Promise.race([reading, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), deadlineMs)))]);
  clearTimeout(timer);
  return { bytes: concat(...parts), end, ms: performance.now() - started };
}

/** Send `input` then FIN on a new stream; the worker's whole answer. */
async function exchange(input: Uint8Array): Promise<Outcome> {
  const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
  const started = performance.now();
  const sending = (async () => {
    try {
      if (input.length > 0) await stream.write(input);
      await stream.finish();
    } catch {
      // The worker may stop reading early (an oversized head); its answer is what counts.
    }
  })();
  const outcome = await readOutcome(stream, STREAM_DEADLINE_MS, started);
  await Promise.race([sending, Bun.sleep(1_000)]);
  await stream.abort();
  return outcome;
}

/** A good request through a CONNECT tunnel still works. */
async function goodRequest(): Promise<void> {
  const res = await gateway.dialConnect(endpoint.endpointId, addrs(), null, `127.0.0.1:${PO}`);
  if (res.kind !== "response") throw new Error(`good request failed: ${res.message}`);
  expect(res.status).toBe(200);
  expectedOriginAccepts++;
  await res.stream.write(latin1("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  const out = await readOutcome(res.stream, STREAM_DEADLINE_MS);
  await res.stream.abort();
  expect(text(out.bytes)).toEndWith("\r\n\r\nok");
}

async function waitFor(cond: () => boolean, ms = 3_000): Promise<void> {
  const until = performance.now() + ms;
  while (!cond() && performance.now() < until) await Bun.sleep(20);
}

/** The worker is alive and was never restarted. */
function expectHealthyWorker(): void {
  const s = dataPlane.status();
  expect({ state: s.state, deaths: s.deaths, restarts: s.restarts, lastDeath: s.lastDeath, gaveUp: s.gaveUp }).toEqual({
    state: "running",
    deaths: 0,
    restarts: 0,
    lastDeath: null,
    gaveUp: false,
  });
}

const deniedTotal = (snap: CountersSnapshot): number =>
  Object.entries(snap.counters)
    .filter(([k]) => k !== HEADER_TIMEOUT_KEY && k !== MALFORMED_KEY)
    .reduce((n, [, c]) => n + c.denied, 0);
const reserved = (snap: CountersSnapshot, key: string): number => snap.counters[key]?.denied ?? 0;

type Expect = "forward" | "403" | "none";

/** What the worker must answer, decided by the pure pipeline (the unit fuzz test checks that one). */
function predict(input: Uint8Array): { kind: Expect; badLength: boolean } {
  const r = parseRequestHead(input);
  if (r.kind !== "complete") return { kind: "none", badLength: false };
  const c = classifyRequest(r.head);
  if (!c.ok) return { kind: "none", badLength: false };
  if (!findAllowed(allowList, c.request.host, c.request.port)) return { kind: "403", badLength: false };
  const cl = headerValue(r.head.headers, "content-length");
  const badLength = c.request.kind === "absolute" && !c.request.websocket && cl !== undefined && !/^\d{1,15}$/.test(cl);
  return { kind: "forward", badLength };
}

/** Is this outcome the bounded answer `expected` calls for? */
function judge(expected: { kind: Expect; badLength: boolean }, out: Outcome): string | undefined {
  if (out.end === "timeout") return `no end within ${STREAM_DEADLINE_MS} ms`;
  if (out.end === "cap") return `more than ${RESPONSE_CAP} bytes`;
  switch (expected.kind) {
    case "none":
      return out.bytes.length === 0 ? undefined : `expected no bytes, got ${show(out.bytes)}`;
    case "403":
      return out.end === "fin" && text(out.bytes) === text(FORBIDDEN) ? undefined : `expected the 403, got ${show(out.bytes)} (${out.end})`;
    case "forward":
      if (expected.badLength && out.bytes.length === 0) return undefined;
      // The origin's own answer (its content-length: 2) must be in there: a 200 from elsewhere is not enough.
      return text(out.bytes).startsWith("HTTP/1.1 200 ") && text(out.bytes).includes("content-length: 2\r\n")
        ? undefined
        : `expected the origin's answer, got ${show(out.bytes)} (${out.end})`;
  }
}

// ---- SSRF -----------------------------------------------------------------------------------------

describe("SSRF spellings through the real worker (allow-list: 127.0.0.1:<origin port>)", () => {
  // Purpose: every spelling outside the allow-list gets the 403 and reaches no socket; the documented
  // aliases reach the origin, and only the origin.
  test("each spelling gets its decided answer; canaries see nothing; the origin sees only allowed ones", async () => {
    const connect = (t: string, host = t): string => `CONNECT ${t} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    const get = (url: string, host = "app.test"): string => `GET ${url} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    // With a 5-digit origin port a leading zero makes 6 digits (malformed); shorter, it is the same number.
    const zeroPort: Expect = String(PO).length >= 5 ? "none" : "forward";
    const cases: Array<[string, string | Uint8Array, Expect]> = [
      // The documented spellings of the allowed origin (docs/wire-facts.md#allow-list: scheme prefix,
      // case, loopback aliases).
      ["CONNECT exact", connect(`127.0.0.1:${PO}`), "forward"],
      ["CONNECT localhost", connect(`localhost:${PO}`), "forward"],
      ["CONNECT LOCALHOST (case-folded)", connect(`LOCALHOST:${PO}`), "forward"],
      ["CONNECT [::1] (loopback alias; dialled at the entry's 127.0.0.1)", connect(`[::1]:${PO}`), "forward"],
      ["CONNECT http:// prefix", connect(`http://127.0.0.1:${PO}`), "forward"],
      ["CONNECT HTTPS:// prefix, trailing slash", connect(`HTTPS://localhost:${PO}/`), "forward"],
      ["absolute exact", get(`http://127.0.0.1:${PO}/`), "forward"],
      ["absolute localhost, uppercase scheme and host", get(`HTTP://LOCALHOST:${PO}/x?y`), "forward"],
      ["absolute [::1]", get(`http://[::1]:${PO}/`), "forward"],
      ["absolute https scheme (plain TCP to the same origin)", get(`https://127.0.0.1:${PO}/`), "forward"],
      ["absolute: a fragment is not part of the authority", get(`http://127.0.0.1:${PO}#@127.0.0.1:${PC}/`), "forward"],
      ["absolute: a query is not part of the authority", get(`http://127.0.0.1:${PO}?@127.0.0.1:${PC}/`), "forward"],
      ["absolute: the Host header does not route", get(`http://127.0.0.1:${PO}/`, `127.0.0.1:${PC}`), "forward"],
      ["CONNECT port with a leading zero", connect(`127.0.0.1:0${PO}`), zeroPort],

      // Other ports and disabled entries.
      ["CONNECT other port", connect(`127.0.0.1:${PC}`), "403"],
      ["CONNECT other port via localhost", connect(`localhost:${PC}`), "403"],
      ["CONNECT other port via [::1]", connect(`[::1]:${PC}`), "403"],
      ["CONNECT disabled entry", connect(`127.0.0.1:${PD}`), "403"],
      ["CONNECT allowed port in the Host header only", connect(`127.0.0.1:${PC}`, `127.0.0.1:${PO}`), "403"],
      ["CONNECT port 00080", connect("127.0.0.1:00080"), "403"],
      ["absolute default port 80", get("http://127.0.0.1/"), "403"],
      ["absolute default port 443", get("https://127.0.0.1/"), "403"],
      ["absolute other port", get(`http://127.0.0.1:${PC}/`), "403"],
      ["absolute disabled entry", get(`http://localhost:${PD}/`), "403"],
      // Other addresses that mean "this machine".
      ["CONNECT 0.0.0.0", connect(`0.0.0.0:${PO}`), "403"],
      ["CONNECT 0", connect(`0:${PO}`), "403"],
      ["CONNECT [::]", connect(`[::]:${PO}`), "403"],
      ["CONNECT [::ffff:127.0.0.1]", connect(`[::ffff:127.0.0.1]:${PO}`), "403"],
      ["CONNECT [::ffff:7f00:1]", connect(`[::ffff:7f00:1]:${PO}`), "403"],
      ["CONNECT [0:0:0:0:0:0:0:1]", connect(`[0:0:0:0:0:0:0:1]:${PO}`), "403"],
      ["CONNECT [::1%25lo] (zone id)", connect(`[::1%25lo]:${PO}`), "403"],
      ["CONNECT 127.0.0.2", connect(`127.0.0.2:${PO}`), "403"],
      ["absolute 0.0.0.0", get(`http://0.0.0.0:${PO}/`), "403"],
      ["absolute [::ffff:127.0.0.1]", get(`http://[::ffff:127.0.0.1]:${PO}/`), "403"],
      // Numeric IPv4 spellings inet_aton would accept.
      ["CONNECT decimal 2130706433", connect(`2130706433:${PO}`), "403"],
      ["CONNECT octal 0177.0.0.1", connect(`0177.0.0.1:${PO}`), "403"],
      ["CONNECT hex 0x7f000001", connect(`0x7f000001:${PO}`), "403"],
      ["CONNECT hex 0x7f.0.0.1", connect(`0x7f.0.0.1:${PO}`), "403"],
      ["CONNECT 0x7F.1", connect(`0x7F.1:${PO}`), "403"],
      ["CONNECT 127.1", connect(`127.1:${PO}`), "403"],
      ["CONNECT 127.0.1", connect(`127.0.1:${PO}`), "403"],
      ["CONNECT 127.0.0.01", connect(`127.0.0.01:${PO}`), "403"],
      ["absolute decimal", get(`http://2130706433:${PO}/`), "403"],
      ["absolute octal", get(`http://0177.0.0.1:${PO}/`), "403"],
      ["absolute hex", get(`http://0x7f000001:${PO}/`), "403"],
      ["absolute dotted hex", get(`http://0x7f.0.0.1:${PO}/`), "403"],
      ["absolute 127.1", get(`http://127.1:${PO}/`), "403"],
      // Names.
      ["CONNECT localhost. (trailing dot)", connect(`localhost.:${PO}`), "403"],
      ["CONNECT LOCALHOST.", connect(`LOCALHOST.:${PO}`), "403"],
      ["CONNECT localhost.localdomain", connect(`localhost.localdomain:${PO}`), "403"],
      ["CONNECT [127.0.0.1] (not an IPv6 literal)", connect(`[127.0.0.1]:${PO}`), "403"],
      ["CONNECT [localhost]", connect(`[localhost]:${PO}`), "403"],
      ["CONNECT IDN punycode", connect(`xn--lcalhost-9za:${PO}`), "403"],
      ["CONNECT IDN punycode TLD", connect(`xn--80ak6aa92e.xn--p1ai:${PO}`), "403"],
      ["CONNECT percent-encoded localhost", connect(`%6c%6fcalhost:${PO}`), "403"],
      ["CONNECT localhost%00", connect(`localhost%00:${PO}`), "403"],
      ["CONNECT 127.0.0.1%09", connect(`127.0.0.1%09:${PO}`), "403"],
      ["absolute localhost.", get(`http://localhost.:${PO}/`), "403"],
      ["absolute IDN punycode", get(`http://xn--lcalhost-9za:${PO}/`), "403"],
      ["absolute percent-encoded localhost", get(`http://%6c%6fcalhost:${PO}/`), "403"],
      ["absolute [localhost]", get(`http://[localhost]:${PO}/`), "403"],
      // Userinfo.
      ["CONNECT user@", connect(`user@127.0.0.1:${PO}`), "403"],
      ["CONNECT user:pw@", connect(`user:pw@127.0.0.1:${PO}`), "403"],
      ["CONNECT 127.0.0.1@127.0.0.1", connect(`127.0.0.1@127.0.0.1:${PO}`), "403"],
      ["CONNECT allowed authority as userinfo of another", connect(`127.0.0.1:${PO}@evil.test:${PO}`), "403"],
      ["absolute user@", get(`http://user@127.0.0.1:${PO}/`), "403"],
      ["absolute allowed authority as userinfo (host evil.test:80)", get(`http://127.0.0.1:${PO}@evil.test/`), "403"],
      ["absolute backslash before @", get(`http://evil.test\\@127.0.0.1:${PO}/`), "403"],
      ["absolute userinfo to the disabled port", get(`http://u@127.0.0.1:${PD}/`), "403"],

      // Not a proxy request the device speaks: no answer at all, the stream is aborted
      // (docs/wire-facts.md#stream-protocol).
      ["CONNECT allowed authority as userinfo, no port after it", connect(`127.0.0.1:${PO}@evil.test`), "none"],
      ["CONNECT without a port", connect("127.0.0.1"), "none"],
      ["CONNECT unbracketed IPv6", connect(`::1:${PO}`), "none"],
      ["CONNECT doubled scheme", connect(`http://http://127.0.0.1:${PO}`), "none"],
      ["CONNECT tab after the target", `CONNECT 127.0.0.1:${PO}\t HTTP/1.1\r\n\r\n`, "none"],
      ["CONNECT two spaces", `CONNECT  127.0.0.1:${PO} HTTP/1.1\r\n\r\n`, "none"],
      ["CONNECT space before the port", `CONNECT 127.0.0.1 :${PO} HTTP/1.1\r\n\r\n`, "none"],
      ["CONNECT tab inside the host", `CONNECT 127.0.0.1\t:${PO} HTTP/1.1\r\n\r\n`, "none"],
      ["CONNECT unicode fullwidth localhost (UTF-8)", concat(latin1("CONNECT "), utf8("ｌｏｃａｌｈｏｓｔ"), latin1(`:${PO} HTTP/1.1\r\n\r\n`)), "none"],
      ["absolute unicode IDN (UTF-8)", concat(latin1("GET http://"), utf8("ℓocalhost"), latin1(`:${PO}/ HTTP/1.1\r\n\r\n`)), "none"],
      ["absolute ftp://", get(`ftp://127.0.0.1:${PO}/`), "none"],
      ["absolute gopher://", get(`gopher://127.0.0.1:${PO}/_GET`), "none"],
      ["absolute file://", get("file:///etc/passwd"), "none"],
      ["absolute ws://", get(`ws://127.0.0.1:${PO}/`), "none"],
      ["absolute without //", get(`http:127.0.0.1:${PO}/`), "none"],
      ["origin-form with Host", get("/", `127.0.0.1:${PO}`), "none"],
      ["protocol-relative", get(`//127.0.0.1:${PO}/`), "none"],
      ["CONNECT without a version", `CONNECT 127.0.0.1:${PO}\r\n\r\n`, "none"],
      ["lowercase connect (an unknown method with an authority target)", connect(`127.0.0.1:${PO}`).replace("CONNECT", "connect"), "none"],
    ];

    const before = await dataPlane.stats();
    const acceptsBefore = origin.accepts;
    let forwards = 0;
    let denials = 0;
    const failures: string[] = [];
    for (const [label, raw, expected] of cases) {
      const input = typeof raw === "string" ? latin1(raw) : raw;
      const predicted = predict(input);
      // The table states the decision; the pure pipeline must agree with it.
      if (predicted.kind !== expected) failures.push(`${label}: the parser/allow-list decides ${predicted.kind}, the table says ${expected}`);
      const out = await exchange(input);
      const wrong = judge({ kind: expected, badLength: false }, out);
      if (wrong) failures.push(`${label}: ${wrong}`);
      if (expected === "forward") forwards++;
      if (expected === "403") denials++;
    }
    expectedOriginAccepts += forwards;
    await waitFor(() => origin.accepts - acceptsBefore >= forwards, 1_000);
    // One comparison, so a failure shows every symptom at once.
    expect({ failures, canaries: canaryAccepts(), originConnections: origin.accepts - acceptsBefore }).toEqual({
      failures: [],
      canaries: noCanaryAccepts(),
      originConnections: forwards,
    });
    const after = await dataPlane.stats();
    expect(deniedTotal(after) - deniedTotal(before)).toBe(denials);
    expect(after.counters[`127.0.0.1:${PD}`]?.denied).toBeGreaterThanOrEqual(1);
    console.log(`dataplane-hostile ssrf: ${cases.length} spellings, ${forwards} forwarded, ${denials} denied with 403, ${cases.length - forwards - denials} dropped unanswered`);
    await goodRequest();
    expectHealthyWorker();
  }, 60_000);
});

// ---- generated and mutated heads through the worker ------------------------------------------------


function corpus(count: number, seed: number): Uint8Array[] {
  const r = prng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const hosts = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "127.1", "0x7f000001", "localhost.", "user@127.0.0.1", "[::ffff:127.0.0.1]", "evil.test"];
  const ports = () => pick([String(PO), String(PO), String(PC), String(PD), "80", "0", "65536", `0${PO}`, ""]);
  const base = (): string => {
    const auth = `${pick(hosts)}:${ports()}`;
    const headers = ["host: app.test", "x-a: b", "content-length: 3", "upgrade: websocket", "connection: upgrade", "content-length: x", "transfer-encoding: chunked"]
      .filter(() => r() < 0.3)
      .map((h) => `${h}\r\n`)
      .join("");
    const body = r() < 0.3 ? "abc" : "";
    switch (int(4)) {
      case 0:
        return `CONNECT ${auth} HTTP/1.1\r\n${headers}\r\n${body}`;
      case 1:
        return `${pick(["GET", "POST", "HEAD", "PUT"])} ${pick(["http", "https", "ftp"])}://${auth}${pick(["/", "/p?q", ""])} HTTP/1.1\r\n${headers}\r\n${body}`;
      case 2:
        return `GET ${pick(["/", "*", `//127.0.0.1:${PO}/`])} HTTP/1.1\r\nhost: 127.0.0.1:${PO}\r\n\r\n`;
      default:
        return `${pick(["CONNECT", "GET"])} ${pick(["", `http://127.0.0.1:${PO}/`])} ${pick(["HTTP/1.1", "HTTP/1.0", "HTTP/2", ""])}\r\n${headers}\r\n`;
    }
  };
  const insert = (b: Uint8Array, at: number, x: Uint8Array): Uint8Array => concat(b.subarray(0, at), x, b.subarray(at));
  const mutations: Array<(b: Uint8Array) => Uint8Array> = [
    (b) => {
      const c = b.slice();
      if (c.length > 0) c[int(c.length)]! ^= 1 << int(8);
      return c;
    },
    (b) => insert(b, int(b.length + 1), Uint8Array.of(pick([0x0d, 0x0a, 0x00, 0x20, 0x09, 0x80, 0xff, 0x3a, 0x40]))),
    (b) => b.subarray(0, int(b.length + 1)),
    (b) => {
      const at = int(b.length + 1);
      return concat(b.subarray(0, at), b.subarray(at + 1 + int(6)));
    },
    (b) => insert(b, Math.max(0, b.indexOf(0x0a) + 1), latin1(" folded\r\n")),
    (b) => insert(b, Math.max(0, b.indexOf(0x0a) + 1), latin1(`Host: 127.0.0.1:${PC}\r\n`)),
    (b) => insert(b, Math.max(0, b.indexOf(0x0a) + 1), latin1(`x-long: ${"a".repeat(2000 + int(9000))}\r\n`)),
    (b) => insert(b, Math.max(0, b.indexOf(0x0a) + 1), latin1("h: v\r\n".repeat(pick([63, 64, 65, 300])))),
    (b) => b.filter((x, i) => !(x === 0x0d && b[i + 1] === 0x0a)),
    (b) => concat(latin1("\r\n".repeat(1 + int(50))), b),
    (b) => insert(b, int(b.length + 1), utf8(pick(["ｌｏｃａｌｈｏｓｔ", "é", "☃"]))),
    (b) => {
      const sp = b.indexOf(0x20);
      return b.map((x, i) => (i < sp && x >= 0x41 && x <= 0x5a ? x + 0x20 : x));
    },
  ];
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    let b = latin1(base());
    const n = i % 4 === 0 ? 0 : 1 + int(2); // a quarter stay as generated
    for (let k = 0; k < n; k++) b = pick(mutations)(b);
    out.push(b);
  }
  return out;
}

describe(`generated and mutated heads through the real worker (seed ${SEED})`, () => {
  // Purpose: a few thousand hostile streams end with a bounded answer each, exactly as the pure
  // pipeline predicts, the worker counts every one, never dies, and keeps serving.
  test(`${WORKER_CASES} streams: nothing, the 403, or (only when allowed) a forwarded answer`, async () => {
    const inputs = corpus(WORKER_CASES, SEED);
    const predictions = inputs.map(predict);
    const tally = { none: 0, "403": 0, forward: 0 } as Record<Expect, number>;
    for (const p of predictions) tally[p.kind]++;
    const malformedExpected = inputs.filter((b, i) => predictions[i]!.kind === "none" && b.length > 0).length;
    const before = await dataPlane.stats();
    const acceptsBefore = origin.accepts;
    const failures: string[] = [];
    let slowest = 0;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < inputs.length; i = next++) {
          const out = await exchange(inputs[i]!);
          slowest = Math.max(slowest, out.ms);
          const wrong = judge(predictions[i]!, out);
          if (wrong && failures.length < 20) failures.push(`case ${i} (seed ${SEED}) ${show(inputs[i]!)}: ${wrong}`);
        }
      }),
    );
    const elapsed = performance.now() - t0;
    expectedOriginAccepts += tally.forward;
    await waitFor(() => origin.accepts - acceptsBefore >= tally.forward);
    console.log(
      `dataplane-hostile fuzz: seed=${SEED} streams=${inputs.length} expected none=${tally.none} 403=${tally["403"]} forward=${tally.forward} ` +
        `in ${(elapsed / 1000).toFixed(1)} s, slowest stream ${slowest.toFixed(0)} ms`,
    );
    expect({ failures, canaries: canaryAccepts(), originConnections: origin.accepts - acceptsBefore }).toEqual({
      failures: [],
      canaries: noCanaryAccepts(),
      originConnections: tally.forward,
    });
    expect(tally.none).toBeGreaterThan(WORKER_CASES / 10);
    expect(tally["403"]).toBeGreaterThan(WORKER_CASES / 20);
    expect(tally.forward).toBeGreaterThan(WORKER_CASES / 50);
    const after = await dataPlane.stats();
    expect(reserved(after, MALFORMED_KEY) - reserved(before, MALFORMED_KEY)).toBe(malformedExpected);
    expect(deniedTotal(after) - deniedTotal(before)).toBe(tally["403"]);
    await goodRequest();
    expectHealthyWorker();
  }, 150_000);
});

// ---- slow headers ---------------------------------------------------------------------------------

describe(`slow request heads (header-read timeout ${HEADER_TIMEOUT_MS} ms in this worker)`, () => {
  /** Write `head` one byte every `everyMs` until told to stop or the bytes run out (bounded both ways). */
  function dribble(stream: ByteStream, head: Uint8Array, everyMs: number): { stop: () => void; done: Promise<number> } {
    let stopped = false;
    const done = (async () => {
      let sent = 0;
      for (; sent < head.length && !stopped; sent++) {
        try {
          await stream.write(head.subarray(sent, sent + 1));
        } catch {
          break; // the worker stopped the stream
        }
        await Bun.sleep(everyMs);
      }
      return sent;
    })();
    return { stop: () => (stopped = true), done };
  }

  // Purpose: a head dribbled one byte every 200 ms is reset at the timeout, counted, and the worker keeps serving.
  test("one byte every 200 ms, never completing: reset after the timeout, with no answer", async () => {
    const before = await dataPlane.stats();
    const acceptsBefore = origin.accepts;
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    // Long enough to outlast timeout + slack at 200 ms a byte: the head would never complete in time.
    const head = latin1(`GET http://127.0.0.1:${PO}/ HTTP/1.1\r\nx-slow: ${"a".repeat(100)}`);
    const started = performance.now();
    const d = dribble(stream, head, 200);
    const out = await readOutcome(stream, HEADER_TIMEOUT_MS + TIMEOUT_SLACK_MS + 5_000, started);
    d.stop();
    const sent = await d.done;
    await stream.abort();
    console.log(`dataplane-hostile dribble: stream ended (${out.end}) after ${out.ms.toFixed(0)} ms (timeout ${HEADER_TIMEOUT_MS} ms), ${sent} bytes sent`);
    expect(out.end).toBe("reset");
    expect(out.bytes.length).toBe(0);
    expect(out.ms).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 50);
    expect(out.ms).toBeLessThan(HEADER_TIMEOUT_MS + TIMEOUT_SLACK_MS);
    expect(sent).toBeLessThan(head.length);
    const after = await dataPlane.stats();
    expect(reserved(after, HEADER_TIMEOUT_KEY) - reserved(before, HEADER_TIMEOUT_KEY)).toBe(1);
    expect(origin.accepts).toBe(acceptsBefore);
    expect(workerLogs.some((l) => l.msg === "stream reset: request head not received in time")).toBe(true);
    await goodRequest();
    expectHealthyWorker();
  }, 30_000);

  // Purpose: a partial head followed by silence (no FIN) is reset at the timeout too.
  test("a partial head and then silence: reset after the timeout", async () => {
    const before = await dataPlane.stats();
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    const started = performance.now();
    await stream.write(latin1(`CONNECT 127.0.0.1:${PO} HTTP/1.1\r\nHost: x`));
    const out = await readOutcome(stream, HEADER_TIMEOUT_MS + TIMEOUT_SLACK_MS + 5_000, started);
    await stream.abort();
    expect([out.end, out.bytes.length]).toEqual(["reset", 0]);
    expect(out.ms).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 50);
    expect(out.ms).toBeLessThan(HEADER_TIMEOUT_MS + TIMEOUT_SLACK_MS);
    const after = await dataPlane.stats();
    expect(reserved(after, HEADER_TIMEOUT_KEY) - reserved(before, HEADER_TIMEOUT_KEY)).toBe(1);
    await goodRequest();
    expectHealthyWorker();
  }, 30_000);

  // Purpose: a slow head that completes within the timeout is served normally (the timer is not per byte).
  test("a head in three pieces, 300 ms apart, within the timeout: served", async () => {
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    const pieces = [`CONNECT 127.0.0.1:${PO}`, " HTTP/1.1\r\nHost:", ` 127.0.0.1:${PO}\r\n\r\n`];
    for (const [i, p] of pieces.entries()) {
      if (i > 0) await Bun.sleep(300);
      await stream.write(latin1(p));
    }
    await stream.write(latin1("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    await stream.finish();
    expectedOriginAccepts++;
    const out = await readOutcome(stream, STREAM_DEADLINE_MS);
    await stream.abort();
    expect(text(out.bytes)).toStartWith("HTTP/1.1 200 Connection Established\r\n\r\n");
    expect(text(out.bytes)).toEndWith("\r\n\r\nok");
    expectHealthyWorker();
  }, 30_000);

  // Purpose: across the whole file, only the origin was ever reached, and exactly as often as allowed.
  test("totals: the origin saw exactly the allowed connections, canaries none", async () => {
    await waitFor(() => origin.accepts >= expectedOriginAccepts);
    expect(origin.accepts).toBe(expectedOriginAccepts);
    expect(canaryAccepts()).toEqual(noCanaryAccepts());
    expectHealthyWorker();
  });
});
