// "Is it up yet?" probes (docs/wire-facts.md#verify) with scripted GETs and a fake clock: nothing sleeps.
import { describe, expect, test } from "bun:test";
import {
  classifyProbeError,
  type Getter,
  innermostMessage,
  isUp,
  looksLikeDnsError,
  type ProbeAttempt,
  probeDelayMs,
  probeUntilUp,
} from "../../../src/verify/probe.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

type Answer = number | Error;

/** A GET that plays `script` in order (then repeats the last entry); each attempt takes `costMs` of fake time. */
function scriptedGet(script: readonly Answer[], clock: FakeClock, costMs = 0) {
  const urls: string[] = [];
  const get: Getter = async (url) => {
    const answer = script[Math.min(urls.length, script.length - 1)];
    urls.push(url);
    clock.t += costMs;
    if (answer instanceof Error) throw answer;
    if (answer === undefined) throw new Error("empty script");
    return answer;
  };
  return { get, calls: () => urls.length };
}

/** What fetch rejects with when the name does not resolve: a wrapper whose cause carries the code. */
function dnsFailure(host = "abc.datumproxy.net"): Error {
  return new TypeError("fetch failed", { cause: Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }) });
}

function refused(): Error {
  return new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:3000"), { code: "ECONNREFUSED" }) });
}

const URL_ = "https://abc.datumproxy.net";

function probe(script: readonly Answer[], opts: { budgetMs?: number; clock?: FakeClock; controller?: AbortController; costMs?: number; fallback?: (url: string) => Promise<number | undefined> } = {}) {
  const clock = opts.clock ?? new FakeClock();
  const controller = opts.controller ?? new AbortController();
  const { get, calls } = scriptedGet(script, clock, opts.costMs);
  const attempts: ProbeAttempt[] = [];
  const fallbackCalls: string[] = [];
  const fallback = opts.fallback;
  const promise = probeUntilUp({
    url: URL_,
    budgetMs: opts.budgetMs ?? 60_000,
    get,
    ...(fallback
      ? {
          fallback: (url: string) => {
            fallbackCalls.push(url);
            return fallback(url);
          },
        }
      : {}),
    clock,
    signal: controller.signal,
    onAttempt: (a) => attempts.push(a),
  });
  return { promise, clock, calls, attempts, fallbackCalls };
}

describe("probeUntilUp", () => {
  test.each([200, 204, 301, 302, 401, 403, 404, 499])("first answer %p (< 500) wins at once", async (status) => {
    const r = probe([status, 200]);
    expect(await r.promise).toEqual({ up: true, status, elapsedMs: 0, viaFallback: false });
    expect(r.calls()).toBe(1);
    expect(r.clock.sleeps).toEqual([]);
    expect(r.attempts).toEqual([{ elapsedMs: 0, status }]);
  });

  test("503s keep waiting, backing off 250, 500, 1000, 2000, 2000 ms", async () => {
    const r = probe([503, 503, 503, 503, 503, 200]);
    expect(await r.promise).toEqual({ up: true, status: 200, elapsedMs: 5_750, viaFallback: false });
    expect(r.clock.sleeps).toEqual([250, 500, 1_000, 2_000, 2_000]);
    expect(r.attempts.map((a) => a.status)).toEqual([503, 503, 503, 503, 503, 200]);
    expect(r.attempts.map((a) => a.elapsedMs)).toEqual([0, 250, 750, 1_750, 3_750, 5_750]);
  });

  test.each([500, 502, 504, 599])("%p keeps waiting too", async (status) => {
    const r = probe([status, 404]);
    expect(await r.promise).toMatchObject({ up: true, status: 404 });
    expect(r.clock.sleeps).toEqual([250]);
  });

  test("budget exhausted: not up, with the last status; never sleeps past the budget", async () => {
    const r = probe([503], { budgetMs: 3_000 });
    const result = await r.promise;
    expect(result).toEqual({ up: false, last: { elapsedMs: 1_750, status: 503 }, elapsedMs: 1_750, aborted: false });
    expect(r.clock.sleeps).toEqual([250, 500, 1_000]);
  });

  test("the time attempts take counts against the budget", async () => {
    const r = probe([503], { budgetMs: 5_000, costMs: 1_000 });
    const result = await r.promise;
    expect(result.up).toBe(false);
    // Attempts end at 1000, 2250, 3750 and 5750; only the wait before the next one is checked
    // (3750 + 1000 fits, 5750 + 2000 does not).
    expect(r.clock.sleeps).toEqual([250, 500, 1_000]);
    expect(r.calls()).toBe(4);
    expect(result.elapsedMs).toBe(5_750);
  });

  test("a zero budget makes one attempt", async () => {
    const r = probe([503], { budgetMs: 0 });
    expect(await r.promise).toMatchObject({ up: false, aborted: false, last: { status: 503 } });
    expect(r.calls()).toBe(1);
  });

  test("network errors keep waiting and report the innermost message", async () => {
    const r = probe([refused(), refused(), 200]);
    expect(await r.promise).toMatchObject({ up: true, status: 200 });
    expect(r.attempts[0]).toEqual({ elapsedMs: 0, error: "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:3000" });
  });

  test("budget exhausted after errors: the last attempt carries the error", async () => {
    const r = probe([refused()], { budgetMs: 1_000 });
    expect(await r.promise).toEqual({
      up: false,
      last: { elapsedMs: 750, error: "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:3000" },
      elapsedMs: 750,
      aborted: false,
    });
  });

  test("a DNS-looking error triggers the fallback, whose answer counts", async () => {
    const r = probe([dnsFailure()], { fallback: async () => 200 });
    expect(await r.promise).toEqual({ up: true, status: 200, elapsedMs: 0, viaFallback: true });
    expect(r.fallbackCalls).toEqual([URL_]);
    expect(r.attempts).toEqual([{ elapsedMs: 0, status: 200, viaFallback: true }]);
  });

  test("a fallback 503 keeps waiting, and the fallback is tried on every DNS failure", async () => {
    const r = probe([dnsFailure(), dnsFailure(), 200], { fallback: async () => 503 });
    expect(await r.promise).toEqual({ up: true, status: 200, elapsedMs: 750, viaFallback: false });
    expect(r.fallbackCalls).toHaveLength(2);
    expect(r.attempts[0]).toEqual({ elapsedMs: 0, status: 503, viaFallback: true });
  });

  test.each<[string, (url: string) => Promise<number | undefined>]>([
    ["answers undefined", async () => undefined],
    ["throws", async () => Promise.reject(new Error("no NS for datumproxy.net"))],
  ])("a fallback that %s leaves the DNS error as the attempt's result", async (_name, fallback) => {
    const r = probe([dnsFailure(), 200], { fallback });
    expect(await r.promise).toMatchObject({ up: true, status: 200, viaFallback: false });
    expect(r.attempts[0]).toEqual({ elapsedMs: 0, error: "ENOTFOUND: getaddrinfo ENOTFOUND abc.datumproxy.net" });
  });

  test("a non-DNS error never calls the fallback", async () => {
    const r = probe([refused(), 200], { fallback: async () => 200 });
    await r.promise;
    expect(r.fallbackCalls).toEqual([]);
  });

  test("aborted before the first attempt", async () => {
    const controller = new AbortController();
    controller.abort();
    const r = probe([200], { controller });
    expect(await r.promise).toEqual({ up: false, last: undefined, elapsedMs: 0, aborted: true });
    expect(r.calls()).toBe(0);
  });

  test("aborted during a backoff wait", async () => {
    const controller = new AbortController();
    const clock = new FakeClock(0, (n) => {
      if (n === 2) controller.abort();
    });
    const r = probe([503], { controller, clock });
    expect(await r.promise).toEqual({ up: false, last: { elapsedMs: 250, status: 503 }, elapsedMs: 750, aborted: true });
    expect(r.calls()).toBe(2);
  });

  test("the getter is handed a signal that aborts with the probe's", async () => {
    const controller = new AbortController();
    const clock = new FakeClock();
    let seen: AbortSignal | undefined;
    const result = probeUntilUp({
      url: URL_,
      budgetMs: 10_000,
      clock,
      signal: controller.signal,
      get: async (_url, signal) => {
        seen = signal;
        controller.abort();
        return 503;
      },
    });
    expect(await result).toMatchObject({ up: false, aborted: true });
    expect(seen?.aborted).toBe(true);
  });
});

describe("probeDelayMs and isUp", () => {
  test.each([
    [0, 250],
    [1, 500],
    [2, 1_000],
    [3, 2_000],
    [4, 2_000],
    [50, 2_000],
    [-1, 250],
  ])("attempt %p → %p ms", (attempt, expected) => {
    expect(probeDelayMs(attempt)).toBe(expected);
  });

  test.each([
    [100, true],
    [200, true],
    [404, true],
    [499, true],
    [500, false],
    [503, false],
    [599, false],
  ])("isUp(%p) → %p", (status, expected) => {
    expect(isUp(status)).toBe(expected);
  });
});

describe("looksLikeDnsError", () => {
  test.each([
    ["dns error: failed to lookup address information", true],
    ["DNS resolution failed", true],
    ["Name or service not known", true],
    ["NODOMAIN", true],
    ["failed to lookup address information: nodename nor servname provided", true],
    ["dial tcp: lookup abc.datumproxy.net: no such host", true],
    ["ENOTFOUND: getaddrinfo ENOTFOUND abc.datumproxy.net", true],
    ["getaddrinfo EAI_AGAIN abc.datumproxy.net", true],
    // Bun's fetch says this when the name does not resolve (and also when the connection is refused).
    ["Unable to connect. Is the computer able to access the url?", true],
    ["ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:443", false],
    ["The operation timed out.", false],
    ["certificate has expired", false],
    ["HTTP 503", false],
    ["", false],
  ])("%p → %p", (text, expected) => {
    expect(looksLikeDnsError(text)).toBe(expected);
  });
});

describe("innermostMessage", () => {
  const withCode = (message: string, code: string, cause?: unknown) => Object.assign(new Error(message, cause === undefined ? {} : { cause }), { code });
  const chain = (depth: number): Error => {
    let e = new Error("level 0");
    for (let i = 1; i <= depth; i++) e = new Error(`level ${i}`, { cause: e });
    return e;
  };

  test.each<[string, unknown, string]>([
    ["a plain error", new Error("boom"), "boom"],
    ["the innermost cause", new TypeError("fetch failed", { cause: new Error("socket hang up") }), "socket hang up"],
    ["with its code", dnsFailure(), "ENOTFOUND: getaddrinfo ENOTFOUND abc.datumproxy.net"],
    ["code on the outer error only when it is the innermost", withCode("outer", "EOUTER", new Error("inner")), "inner"],
    ["the first line only", new Error("line one\nline two"), "line one"],
    ["a string", "plain text", "plain text"],
    ["a number", 42, "42"],
    ["a non-Error cause", new Error("outer", { cause: "a string cause" }), "a string cause"],
    ["three levels deep", chain(3), "level 0"],
    ["at most eight levels deep", chain(10), "level 2"],
  ])("%s", (_name, err, expected) => {
    expect(innermostMessage(err)).toBe(expected);
  });
});

describe("classifyProbeError (what the origin warning says)", () => {
  test.each([
    ["ECONNREFUSED: ECONNREFUSED: Unable to connect. Is the computer able to access the url?", "refused"],
    ["ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:3000", "refused"],
    ["ConnectionRefused: Unable to connect. Is the computer able to access the url?", "refused"],
    ["23: The operation timed out.", "timeout"],
    ["TimeoutError: The operation timed out.", "timeout"],
    ["ETIMEDOUT: connect ETIMEDOUT 10.0.0.1:80", "timeout"],
    ["ECONNRESET: socket hang up", "reset"],
    ["ConnectionClosed: The socket connection was closed unexpectedly.", "reset"],
    ["EAI_AGAIN: getaddrinfo EAI_AGAIN no-such-host.invalid", "dns"],
    ["ENOTFOUND: getaddrinfo ENOTFOUND abc.datumproxy.net", "dns"],
    ["Unable to connect. Is the computer able to access the url?", "dns"],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate", "tls"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT: self signed certificate", "tls"],
    ["boom", "other"],
  ])("%j → %s", (text, expected) => {
    expect(classifyProbeError(text)).toBe(expected as ReturnType<typeof classifyProbeError>);
  });

  test("a real refused connection, as this runtime's fetch reports it", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("x") });
    const url = `http://127.0.0.1:${server.port}/`;
    await server.stop(true);
    const error = await fetch(url).then(
      () => "answered",
      (err: unknown) => innermostMessage(err),
    );
    expect(classifyProbeError(error)).toBe("refused");
  });
});
