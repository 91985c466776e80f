import { describe, expect, test } from "bun:test";
import { NotAuthenticated } from "../../../src/errors.ts";
import {
  TokenSource,
  type TokenEvent,
  type TokenFetcher,
} from "../../../src/auth/token-source.ts";
import { FrozenClock, jwtWithExp, WarpClock } from "./warp-clock.ts";

const T0 = 1_800_000_000_000;
const SEC = 1_000;
const MIN = 60 * SEC;

/**
 * datumctl's real rule (docs/wire-facts.md#token-refresh): hand out the stored token while more than 10 s
 * remain, else mint one valid for `lifetimeMs`. `stuck` simulates a helper (or a skewed clock) that never
 * mints again.
 */
function datumctlLike(clock: WarpClock, lifetimeMs: number, opts: { stuck?: boolean; alreadyExpired?: boolean } = {}) {
  const calls: number[] = [];
  let stored: { token: string; exp: number } | undefined;
  let minted = 0;
  let active = 0;
  let maxActive = 0;
  const fetch: TokenFetcher = async () => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    calls.push(clock.now());
    try {
      const now = clock.now();
      const mustMint = !stored || (!opts.stuck && stored.exp - now <= 10 * SEC) || opts.alreadyExpired;
      if (mustMint) {
        const exp = opts.alreadyExpired ? now - MIN : now + lifetimeMs;
        stored = { token: jwtWithExp(exp, ++minted), exp };
      }
      return stored!.token;
    } finally {
      active -= 1;
    }
  };
  return { fetch, calls, minted: () => minted, maxActive: () => maxActive };
}

/** Run the background loop in virtual time for `horizonMs`, the helper built on the same clock. */
async function simulate(
  build: (clock: WarpClock) => { fetch: TokenFetcher; calls: number[] },
  horizonMs: number,
  random = () => 0.5,
) {
  const stop = new AbortController();
  const clock = new WarpClock(T0, T0 + horizonMs, () => stop.abort());
  const helper = build(clock);
  const events: TokenEvent[] = [];
  const source = new TokenSource({ fetchToken: helper.fetch, clock, random, onEvent: (e) => events.push(e) });
  const ended = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
  source.start(stop.signal);
  await ended;
  await source.stop();
  return { source, clock, events, calls: helper.calls.map((t) => t - T0) };
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

describe("refresh schedule (virtual time)", () => {
  test("datumctl's sticky token: refresh at exp−60 s gets the same token, exp−9 s gets a new one", async () => {
    let helper!: ReturnType<typeof datumctlLike>;
    const { calls, events } = await simulate((clock) => (helper = datumctlLike(clock, 5 * MIN)), 60 * MIN);
    // Each 300 s token: one same-token answer at T−60 s, a new token at T−9 s (a 291 s cycle).
    expect(calls.slice(0, 5)).toEqual([0, 240 * SEC, 291 * SEC, 531 * SEC, 582 * SEC]);
    expect(calls.length).toBe(25);
    expect(helper.minted()).toBe(13);
    expect(events.filter((e) => e.type === "same_token").length).toBe(12);
    expect(events.filter((e) => e.type === "refreshed").length).toBe(13);
    expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(51 * SEC);
    expect(helper.maxActive()).toBe(1);
  });

  test.each([
    ["1 h token", 60 * MIN, [0, 59 * MIN, 60 * MIN - 9 * SEC]],
    ["30 s token (shorter than the 60 s lead)", 30 * SEC, [0, 21 * SEC, 42 * SEC]],
  ])("%s: first calls at the expected times", async (_name, lifetime, expected) => {
    const { calls } = await simulate((clock) => datumctlLike(clock, lifetime), 2 * 60 * MIN);
    expect(calls.slice(0, 3)).toEqual(expected);
  });

  test("a helper stuck on one token past expiry never makes the loop spin", async () => {
    const { calls, events } = await simulate((clock) => datumctlLike(clock, 5 * MIN, { stuck: true }), 20 * MIN);
    // 0 (new), 240 s (same), 291 s (same, now inside the 10 s window) then backoff: 1.5, 3, 6, 12, 24, 45, 45, ...
    expect(calls.slice(0, 3)).toEqual([0, 240 * SEC, 291 * SEC]);
    const after = gaps(calls.slice(2));
    expect(after.slice(0, 7)).toEqual([1500, 3000, 6000, 12000, 24000, 45000, 45000]);
    expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(1000);
    expect(calls.length).toBeLessThanOrEqual(3 + 7 + Math.ceil((20 * MIN) / (45 * SEC)));
    expect(events.every((e) => e.type !== "refresh_failed")).toBe(true);
  });

  test("a helper that hands out already-expired tokens is asked at backoff pace, not hot", async () => {
    const { calls } = await simulate((clock) => datumctlLike(clock, 5 * MIN, { alreadyExpired: true }), 10 * MIN);
    expect(gaps(calls).slice(0, 6)).toEqual([1500, 3000, 6000, 12000, 24000, 45000]);
    expect(calls.length).toBeLessThan(25);
  });

  test("an opaque token (no exp) is re-checked hourly", async () => {
    const { calls } = await simulate(
      (clock) => {
        const calls: number[] = [];
        return {
          calls,
          fetch: async () => {
            calls.push(clock.now());
            return "opaque-token-value";
          },
        };
      },
      3 * 60 * MIN + 1,
    );
    expect(calls).toEqual([0, 60 * MIN, 120 * MIN, 180 * MIN]);
  });

  test("failures back off 1 s → 60 s (jittered) and recover", async () => {
    let failuresLeft = 8;
    const { calls, events, source } = await simulate((clock) => {
      const calls: number[] = [];
      return {
        calls,
        fetch: async () => {
          calls.push(clock.now());
          if (failuresLeft-- > 0) throw new NotAuthenticated("datumctl auth get-token failed: boom");
          return jwtWithExp(clock.now() + 60 * MIN);
        },
      };
    }, 10 * MIN);
    expect(gaps(calls).slice(0, 8)).toEqual([1500, 3000, 6000, 12000, 24000, 45000, 45000, 45000]);
    const failed = events.filter((e) => e.type === "refresh_failed");
    expect(failed.map((e) => (e.type === "refresh_failed" ? e.attempt : 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(failed[0]).toMatchObject({ type: "refresh_failed", reason: "initial", retryInMs: 1500, error: { exit: 77 } });
    expect(events.at(-1)).toMatchObject({ type: "refreshed" });
    const state = source.state();
    expect(state.consecutiveFailures).toBe(0);
    expect(state.counts).toEqual({ refreshed: 1, same_token: 0, refresh_failed: 8 });
    expect(state.lastError).toBeUndefined();
  });
});

/** A fetcher whose calls the test resolves by hand. */
function manualHelper() {
  const pending: Array<{ resolve: (t: string) => void; reject: (e: unknown) => void; signal: AbortSignal }> = [];
  let calls = 0;
  const fetch: TokenFetcher = (signal) =>
    new Promise<string>((resolve, reject) => {
      calls += 1;
      pending.push({ resolve, reject, signal });
    });
  return {
    fetch,
    calls: () => calls,
    next: () => {
      const p = pending.shift();
      if (!p) throw new Error("no pending helper call");
      return p;
    },
    pending,
  };
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe("on-demand tokens and 401s", () => {
  test("subscribers hear each event beside onEvent, until they unsubscribe; a throwing one harms nobody", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const fromOption: string[] = [];
    const source = new TokenSource({ fetchToken: helper.fetch, clock, onEvent: (e) => fromOption.push(e.type) });
    const heard: string[] = [];
    source.subscribe(() => {
      throw new Error("broken listener");
    });
    const unsubscribe = source.subscribe((e) => heard.push(e.type));
    const first = source.token();
    helper.next().resolve(jwtWithExp(T0 + 60 * MIN, "a"));
    await first;
    expect(heard).toEqual(["refreshed"]);
    expect(fromOption).toEqual(["refreshed"]);
    unsubscribe();
    clock.t = T0 + 60 * MIN - 5 * SEC;
    const second = source.token();
    helper.next().resolve(jwtWithExp(T0 + 120 * MIN, "b"));
    await second;
    expect(heard).toEqual(["refreshed"]);
    expect(fromOption).toEqual(["refreshed", "refreshed"]);
  });

  test("token() caches while valid and shares one call among concurrent callers", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const source = new TokenSource({ fetchToken: helper.fetch, clock });
    const a = jwtWithExp(T0 + 60 * MIN, "a");
    const all = Promise.all([source.token(), source.token(), source.token()]);
    helper.next().resolve(a);
    expect(await all).toEqual([a, a, a]);
    expect(await source.token()).toBe(a);
    expect(helper.calls()).toBe(1);
    expect(source.expiresAt()).toBe(Math.floor((T0 + 60 * MIN) / 1000) * 1000);
    // Within 10 s of expiry the cached token is no longer handed out.
    clock.t = T0 + 60 * MIN - 5 * SEC;
    const b = jwtWithExp(T0 + 120 * MIN, "b");
    const refreshed = source.token();
    helper.next().resolve(b);
    expect(await refreshed).toBe(b);
    expect(helper.calls()).toBe(2);
  });

  test("a burst of invalidate() for the same token makes exactly one helper call", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const source = new TokenSource({ fetchToken: helper.fetch, clock });
    const a = jwtWithExp(T0 + 60 * MIN, "a");
    const first = source.token();
    helper.next().resolve(a);
    await first;

    const burst = Promise.all(Array.from({ length: 8 }, () => source.invalidate(a)));
    await tick();
    expect(helper.pending.length).toBe(1);
    const b = jwtWithExp(T0 + 60 * MIN, "b");
    helper.next().resolve(b);
    expect(new Set(await burst)).toEqual(new Set([b]));
    expect(helper.calls()).toBe(2);
    // A late report of the old token does not refresh again.
    expect(await source.invalidate(a)).toBe(b);
    expect(helper.calls()).toBe(2);
  });

  test("when datumctl hands the rejected token back, re-reports are quiet for a backoff", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const events: TokenEvent[] = [];
    const source = new TokenSource({ fetchToken: helper.fetch, clock, random: () => 0.5, onEvent: (e) => events.push(e) });
    const a = jwtWithExp(T0 + 60 * MIN, "a");
    const first = source.token();
    helper.next().resolve(a);
    await first;

    const again = source.invalidate(a);
    helper.next().resolve(a);
    expect(await again).toBe(a);
    expect(events.at(-1)).toMatchObject({ type: "same_token", reason: "invalidated" });
    // Reported again at once: answered from cache, no helper call.
    expect(await source.invalidate(a)).toBe(a);
    expect(helper.calls()).toBe(2);
    // After the quiet period (1.5 s at random 0.5) the next report asks again.
    clock.t += 1_500;
    const third = source.invalidate(a);
    expect(helper.calls()).toBe(3);
    helper.next().resolve(a);
    await third;
    // The quiet period grows: 3 s now.
    clock.t += 2_000;
    expect(await source.invalidate(a)).toBe(a);
    expect(helper.calls()).toBe(3);
  });

  test("after a failure, token() rethrows without calling until the backoff is over", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const source = new TokenSource({ fetchToken: helper.fetch, clock, random: () => 0 });
    const first = source.token();
    helper.next().reject(new NotAuthenticated("datumctl auth get-token failed: no"));
    await expect(first).rejects.toThrow("datumctl auth get-token failed: no");
    await expect(source.token()).rejects.toThrow("datumctl auth get-token failed: no");
    expect(helper.calls()).toBe(1);
    clock.t += 1_000;
    const retry = source.token();
    expect(helper.calls()).toBe(2);
    helper.next().resolve("opaque-token-1");
    expect(await retry).toBe("opaque-token-1");
  });

  test("the loop, token() and invalidate() never overlap helper calls", async () => {
    const clock = new FrozenClock(T0);
    let active = 0;
    let maxActive = 0;
    let n = 0;
    const fetch: TokenFetcher = async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      active -= 1;
      return jwtWithExp(T0 + 60 * MIN, ++n);
    };
    const source = new TokenSource({ fetchToken: fetch, clock });
    source.start();
    const first = await source.token();
    await Promise.all([source.invalidate(first), source.invalidate(first), source.token(), source.token()]);
    await source.stop();
    expect(maxActive).toBe(1);
    expect(n).toBe(2);
  });

  test("stop() kills a call only the loop waits for, and leaves one a caller joined", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const source = new TokenSource({ fetchToken: helper.fetch, clock });
    source.start();
    await tick();
    const loopCall = helper.next();
    await source.stop();
    expect(loopCall.signal.aborted).toBe(true);
    expect(source.state()).toMatchObject({ running: false, counts: { refresh_failed: 0 } });

    source.start();
    await tick();
    const joined = source.token();
    const stopped = source.stop();
    const call = helper.next();
    expect(call.signal.aborted).toBe(false);
    call.resolve("opaque-token-2");
    expect(await joined).toBe("opaque-token-2");
    await stopped;
  });

  test("aborting the start() signal ends the loop like stop()", async () => {
    const clock = new FrozenClock(T0);
    const helper = manualHelper();
    const source = new TokenSource({ fetchToken: helper.fetch, clock });
    const outer = new AbortController();
    source.start(outer.signal);
    await tick();
    const call = helper.next();
    expect(source.state().running).toBe(true);
    outer.abort();
    await tick();
    expect(call.signal.aborted).toBe(true);
    expect(source.state()).toMatchObject({ running: false, inFlight: false });
    // And it can be started again.
    source.start();
    await tick();
    expect(source.state().running).toBe(true);
    helper.next().resolve("opaque-token-3");
    await tick();
    await source.stop();
    expect(source.state()).toMatchObject({ running: false, hasToken: true });
  });

  test("events and state never carry the token", async () => {
    const clock = new FrozenClock(T0);
    const events: TokenEvent[] = [];
    const secret = jwtWithExp(T0 + 60 * MIN, "secret");
    let calls = 0;
    const source = new TokenSource({
      clock,
      onEvent: (e) => events.push(e),
      fetchToken: async () => {
        calls += 1;
        if (calls === 2) throw new NotAuthenticated(`datumctl auth get-token failed: bad token ${secret}`);
        return secret;
      },
    });
    await source.token();
    await expect(source.invalidate(secret)).rejects.toThrow();
    const text = JSON.stringify({ events, state: source.state() });
    expect(text).not.toContain(secret);
    expect(text).toContain("[redacted]");
  });
});
