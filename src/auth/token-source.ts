/**
 * The access token, from datumctl's credentials helper (docs/wire-facts.md#credentials-helper, #token-refresh;
 * docs/wire-facts.md#authorization).
 *
 * - `token()` returns the cached token while it is valid, else asks the helper.
 * - `invalidate(rejected)` is what a 401 calls: one refresh per burst — every caller that reports
 *   the same rejected token while a refresh runs shares that one helper call; after a failed call,
 *   reports within its backoff get that failure again rather than another call.
 * - `start(signal)` / `stop()` run the background refresh loop of a long-running `listen`.
 * - One helper call is in flight at any time (single flight here; `runGetToken` also serializes
 *   across sources in the process).
 *
 * The schedule follows datumctl's real behaviour: it returns the **same** token until fewer than
 * 10 s of validity remain (docs/wire-facts.md#token-refresh) and a refresh cannot be forced. So we
 * refresh at `exp − 60 s`; when that hands back the same token, that is success and the next attempt is
 * at `exp − 9 s`, when datumctl is sure to mint a new one. A token without `exp` is re-checked hourly.
 * Whenever the natural time is already past (a helper that keeps returning an expiring or expired token)
 * the next attempt waits a jittered backoff instead: at most one helper call per schedule step, never a
 * spin. Failures back off 1 s → 60 s.
 *
 * Time and randomness are injected (`Clock`, `random`) so the schedule is tested without sleeping.
 * Events and errors never carry the token.
 */
import { CliError, type ExitCode } from "../errors.ts";
import { backoffDelay } from "../retry/backoff.ts";
import type { AbortableClock } from "../retry/sleep.ts";
import { DEFAULT_HELPER_TIMEOUT_MS, redact, runGetToken, type Env } from "./credentials-helper.ts";
import { tokenExpiryMs } from "./jwt.ts";

/** Epoch milliseconds, and the one sleep contract of the code base: an abort rejects (src/retry/sleep.ts). */
export type Clock = AbortableClock;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      // The loop alone must not keep a finished process alive; `listen` has its own handles.
      timer.unref?.();
      signal.addEventListener("abort", onAbort, { once: true });
    }),
};

/** Refresh this long before `exp`. */
export const REFRESH_LEAD_MS = 60_000;
/** After datumctl handed back the same token: ask again this long before `exp` (it mints under 10 s). */
export const STICKY_LEAD_MS = 9_000;
/** datumctl's `defaultExpiryDelta`: a token with less left than this is not handed out again. */
export const VALIDITY_MARGIN_MS = 10_000;
/** Re-check a token without `exp` this often (upstream's `ExternalTokenSource` does the same). */
export const OPAQUE_REFRESH_MS = 3_600_000;

/** Fetch one token; the helper by default. `secrets` are values to keep out of child env and errors. */
export type TokenFetcher = (signal: AbortSignal, secrets: readonly string[]) => Promise<string>;

export type RefreshReason = "initial" | "scheduled" | "expired" | "invalidated";

export interface TokenError {
  message: string;
  hint?: string;
  exit: ExitCode;
  code: string;
  at: number;
}

export type TokenEvent =
  | {
      type: "refreshed" | "same_token";
      reason: RefreshReason;
      at: number;
      durationMs: number;
      expiresAt?: number;
      nextRefreshAt: number;
    }
  | {
      type: "refresh_failed";
      reason: RefreshReason;
      at: number;
      durationMs: number;
      /** Consecutive failures so far, 1 for the first. */
      attempt: number;
      retryInMs: number;
      error: TokenError;
    };

export interface TokenState {
  hasToken: boolean;
  expiresAt?: number;
  /** Last helper call that returned a token (new or the same). */
  lastRefreshAt?: number;
  lastAttemptAt?: number;
  nextRefreshAt?: number;
  inFlight: boolean;
  running: boolean;
  consecutiveFailures: number;
  lastError?: TokenError;
  counts: { refreshed: number; same_token: number; refresh_failed: number };
}

export interface TokenSourceOptions {
  /** `DATUM_CREDENTIALS_HELPER`, or the path a persisted tunnel recorded. */
  helper?: string | undefined;
  session?: string | undefined;
  /** Per helper call; 45 s by default. */
  timeoutMs?: number;
  /** Environment the helper's is derived from; `process.env` by default. */
  env?: Env;
  /** Replaces the helper call (another token origin, or a scripted one in schedule tests). */
  fetchToken?: TokenFetcher;
  clock?: Clock;
  random?: () => number;
  onEvent?: (event: TokenEvent) => void;
}

interface Current {
  token: string;
  expiresAt: number | undefined;
}

interface Loop {
  controller: AbortController;
  done: Promise<void>;
}

interface InFlight {
  promise: Promise<string>;
  controller: AbortController;
  /** Started by the background loop. */
  background: boolean;
  /** Callers other than the loop waiting on it; a loop call nobody else awaits may be aborted by `stop()`. */
  joiners: number;
}

function describeError(err: unknown, at: number, secrets: readonly string[]): TokenError {
  if (err instanceof CliError) {
    const out: TokenError = { message: redact(err.message, secrets), exit: err.exit, code: err.code, at };
    if (err.hint) out.hint = redact(err.hint, secrets);
    return out;
  }
  const message = err instanceof Error ? err.message : String(err);
  return { message: redact(message, secrets), exit: 1, code: "internal", at };
}

export class TokenSource {
  readonly #fetch: TokenFetcher;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onEvent: ((event: TokenEvent) => void) | undefined;
  readonly #listeners = new Set<(event: TokenEvent) => void>();

  #current: Current | undefined;
  #inflight: InFlight | undefined;
  /** When the next helper call is due (the loop sleeps until then). */
  #nextRefreshAt: number | undefined;
  /** Until then, `token()` does not call the helper again: the last call failed or gave an expiring token. */
  #quietUntil = 0;
  #failures = 0;
  /** Consecutive successful calls whose natural next time was already past. */
  #dueStreak = 0;
  /** The last token a 401 was reported for, and how long re-reports of it are answered from cache. */
  #rejected: { token: string; streak: number; quietUntil: number } | undefined;
  #lastFailure: unknown;
  #lastError: TokenError | undefined;
  #lastRefreshAt: number | undefined;
  #lastAttemptAt: number | undefined;
  #counts = { refreshed: 0, same_token: 0, refresh_failed: 0 };
  #loop: Loop | undefined;

  constructor(options: TokenSourceOptions = {}) {
    const { helper, session, timeoutMs = DEFAULT_HELPER_TIMEOUT_MS, env } = options;
    this.#fetch =
      options.fetchToken ??
      ((signal, secrets) => runGetToken({ helper, session, timeoutMs, env: env ?? process.env, signal, secrets }));
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#onEvent = options.onEvent;
  }

  /**
   * Hear every event besides the constructor's `onEvent` (the listen session hands a refreshed
   * token to its heartbeat worker at once). Returns the unsubscribe function.
   */
  subscribe(listener: (event: TokenEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The current token, refreshed first when it is missing or within 10 s of expiry. */
  async token(): Promise<string> {
    const now = this.#clock.now();
    if (this.#current && this.#usable(this.#current, now)) return this.#current.token;
    if (this.#inflight) return this.#join(this.#inflight);
    if (now < this.#quietUntil) {
      // The last call already answered badly; asking again this soon would only spin.
      if (this.#current) return this.#current.token;
      if (this.#lastFailure !== undefined) throw this.#lastFailure;
    }
    return this.#refresh(this.#current ? "expired" : "initial", false);
  }

  /**
   * A request was rejected (401) with `rejected`: get a fresh token. Concurrent reports share one
   * helper call; a token already replaced is not refreshed again. datumctl may hand the rejected
   * token back (it is still valid by its clock); then repeated reports of it are answered from
   * cache with a growing quiet period, so a server that keeps rejecting never makes us spin.
   */
  async invalidate(rejected: string): Promise<string> {
    if (this.#inflight) return this.#join(this.#inflight);
    if (!this.#current || this.#current.token !== rejected) return this.token();
    const now = this.#clock.now();
    // The last helper call failed and its backoff is not over: every 401 meanwhile (the heartbeat's,
    // the watch's) would otherwise be one more helper call and one more log line, off the schedule.
    if (this.#lastFailure !== undefined && now < this.#quietUntil) throw this.#lastFailure;
    if (this.#rejected?.token === rejected && now < this.#rejected.quietUntil) return rejected;
    return this.#refresh("invalidated", false, rejected);
  }

  /** Expiry of the current token in epoch ms; `undefined` with no token or an opaque one. */
  expiresAt(): number | undefined {
    return this.#current?.expiresAt;
  }

  state(): TokenState {
    const state: TokenState = {
      hasToken: this.#current !== undefined,
      inFlight: this.#inflight !== undefined,
      running: this.#loop !== undefined,
      consecutiveFailures: this.#failures,
      counts: { ...this.#counts },
    };
    if (this.#current?.expiresAt !== undefined) state.expiresAt = this.#current.expiresAt;
    if (this.#lastRefreshAt !== undefined) state.lastRefreshAt = this.#lastRefreshAt;
    if (this.#lastAttemptAt !== undefined) state.lastAttemptAt = this.#lastAttemptAt;
    if (this.#nextRefreshAt !== undefined) state.nextRefreshAt = this.#nextRefreshAt;
    if (this.#lastError) state.lastError = { ...this.#lastError };
    return state;
  }

  /** Start the background refresh loop (idempotent). It ends when `signal` aborts or on `stop()`. */
  start(signal?: AbortSignal): void {
    if (this.#loop) return;
    const loop: Loop = { controller: new AbortController(), done: Promise.resolve() };
    this.#loop = loop;
    loop.done = this.#run(loop.controller.signal).finally(() => {
      if (this.#loop === loop) this.#loop = undefined;
    });
    if (signal?.aborted) void this.#end(loop);
    else signal?.addEventListener("abort", () => void this.#end(loop), { once: true });
  }

  /**
   * Stop the loop and wait for it. A helper call the loop started and nobody else awaits is killed;
   * one a caller is waiting on (say, a last request during shutdown) is left to finish.
   */
  async stop(): Promise<void> {
    if (this.#loop) await this.#end(this.#loop);
  }

  #end(loop: Loop): Promise<void> {
    if (this.#loop === loop) this.#loop = undefined;
    loop.controller.abort();
    const inflight = this.#inflight;
    if (inflight?.background && inflight.joiners === 0) inflight.controller.abort();
    return loop.done;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const now = this.#clock.now();
      const due = this.#nextRefreshAt ?? now;
      if (due > now) {
        try {
          await this.#clock.sleep(due - now, signal);
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
        // Re-evaluate rather than call: an on-demand refresh may have moved the schedule meanwhile.
        continue;
      }
      try {
        await this.#refresh(this.#current ? "scheduled" : "initial", true);
      } catch {
        // Recorded by #failed, which also set the backoff the next iteration sleeps for.
      }
    }
  }

  #usable(current: Current, now: number): boolean {
    return current.expiresAt === undefined || current.expiresAt - now > VALIDITY_MARGIN_MS;
  }

  #join(inflight: InFlight): Promise<string> {
    inflight.joiners += 1;
    return inflight.promise;
  }

  #refresh(reason: RefreshReason, background: boolean, rejected?: string): Promise<string> {
    if (this.#inflight) return background ? this.#inflight.promise : this.#join(this.#inflight);
    const controller = new AbortController();
    const previous = this.#current?.token;
    const secrets = previous ? [previous] : [];
    const started = this.#clock.now();
    this.#lastAttemptAt = started;
    const promise = this.#fetchAbortable(controller.signal, secrets)
      .then(
        (token) => {
          if (!controller.signal.aborted) this.#succeeded(token, reason, previous, started, rejected);
          return token;
        },
        (err: unknown) => {
          if (!controller.signal.aborted) this.#failed(err, reason, started, secrets);
          throw err;
        },
      )
      .finally(() => {
        if (this.#inflight?.promise === promise) this.#inflight = undefined;
      });
    this.#inflight = { promise, controller, background, joiners: background ? 0 : 1 };
    return promise;
  }

  /** The fetch, settled by an abort even if the fetcher ignores its signal. */
  #fetchAbortable(signal: AbortSignal, secrets: readonly string[]): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const onAbort = () => reject(signal.reason ?? new DOMException("The operation was aborted.", "AbortError"));
      signal.addEventListener("abort", onAbort, { once: true });
      this.#fetch(signal, secrets)
        .then(resolve, reject)
        .finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  #succeeded(token: string, reason: RefreshReason, previous: string | undefined, started: number, rejected?: string): void {
    const now = this.#clock.now();
    const expiresAt = tokenExpiryMs(token);
    const same = token === previous;
    const current: Current = { token, expiresAt };
    this.#current = current;
    this.#failures = 0;
    this.#lastFailure = undefined;
    this.#lastError = undefined;
    this.#lastRefreshAt = now;

    let next: number;
    if (expiresAt === undefined) next = now + OPAQUE_REFRESH_MS;
    else if (same) next = expiresAt - STICKY_LEAD_MS;
    else next = expiresAt - REFRESH_LEAD_MS > now ? expiresAt - REFRESH_LEAD_MS : expiresAt - STICKY_LEAD_MS;
    if (next <= now) {
      // Already inside datumctl's window (or expired): asking at once would get the same answer.
      next = now + backoffDelay(this.#dueStreak, this.#random);
      this.#dueStreak += 1;
    } else {
      this.#dueStreak = 0;
    }
    this.#nextRefreshAt = next;
    this.#quietUntil = this.#usable(current, now) ? 0 : next;

    if (rejected !== undefined) {
      if (token === rejected) {
        const streak = this.#rejected?.token === rejected ? this.#rejected.streak : 0;
        this.#rejected = { token, streak: streak + 1, quietUntil: now + backoffDelay(streak, this.#random) };
      } else {
        this.#rejected = undefined;
      }
    }

    const type = same ? "same_token" : "refreshed";
    this.#counts[type] += 1;
    const event: TokenEvent = { type, reason, at: now, durationMs: now - started, nextRefreshAt: next };
    if (expiresAt !== undefined) event.expiresAt = expiresAt;
    this.#emit(event);
  }

  #failed(err: unknown, reason: RefreshReason, started: number, secrets: readonly string[]): void {
    const now = this.#clock.now();
    const retryInMs = backoffDelay(this.#failures, this.#random);
    this.#failures += 1;
    this.#counts.refresh_failed += 1;
    this.#nextRefreshAt = now + retryInMs;
    this.#quietUntil = now + retryInMs;
    this.#lastFailure = err;
    this.#lastError = describeError(err, now, secrets);
    this.#emit({
      type: "refresh_failed",
      reason,
      at: now,
      durationMs: now - started,
      attempt: this.#failures,
      retryInMs,
      error: { ...this.#lastError },
    });
  }

  #emit(event: TokenEvent): void {
    for (const listener of [this.#onEvent, ...this.#listeners]) {
      try {
        listener?.(event);
      } catch {
        // A broken listener must not break token delivery.
      }
    }
  }
}
