/**
 * Retry budgets for control-plane calls, as pure decisions.
 *
 * A call can fail in three retryable ways, each with its own allowance, so spending one never eats
 * into another:
 * - a 401 gets exactly one retry after the token source hands out a fresh token
 *   (docs/wire-facts.md#authorization);
 * - the operator's quota-check timeout (a 403 that says "please try again in a moment") is waited
 *   out on the fixed 1, 2, 4, 8 s schedule of docs/wire-facts.md#quota-and-retries, then tried once more (~15 s);
 * - transient failures (5xx, 429, network errors, per-attempt timeouts) are retried with fixed
 *   spacing up to an attempt budget: 10 attempts 750 ms apart ≈ 7.5 s, the same tolerance setup
 *   polling has (docs/architecture.md#setup-polling), so a control-plane blip never fails a command
 *   but an outage does, quickly.
 *
 * `decideRetry` only decides; the caller owns the clock and the sleeping, so tests never sleep.
 */

export interface TransientBudget {
  /** Total attempts, the first one included. */
  readonly attempts: number;
  /** Pause between two attempts. */
  readonly spacingMs: number;
}

export const DEFAULT_TRANSIENT_BUDGET: TransientBudget = { attempts: 10, spacingMs: 750 };

/** Pauses before each retry of a quota-check timeout; one final attempt follows the last pause. */
export const QUOTA_CHECK_DELAYS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000];

/** Upper bound announced to the user while waiting out quota-check timeouts (sum of the delays, rounded). */
export const QUOTA_CHECK_WINDOW_S = 15;

/** What went wrong with one attempt, as far as retrying is concerned. */
export type AttemptFailure = "unauthorized" | "quota-check" | "transient";

export interface RetryState {
  /** A fresh token has already been fetched for this call. */
  readonly refreshed: boolean;
  /** Quota-check timeouts seen so far. */
  readonly quotaWaits: number;
  /** Transient failures seen so far. */
  readonly transientFailures: number;
}

export const INITIAL_RETRY_STATE: RetryState = { refreshed: false, quotaWaits: 0, transientFailures: 0 };

export type RetryDecision =
  | { readonly action: "refresh"; readonly state: RetryState }
  | { readonly action: "wait"; readonly delayMs: number; readonly state: RetryState; readonly firstQuotaWait: boolean }
  | { readonly action: "give-up"; readonly state: RetryState };

export function decideRetry(
  state: RetryState,
  failure: AttemptFailure,
  budget: TransientBudget = DEFAULT_TRANSIENT_BUDGET,
): RetryDecision {
  switch (failure) {
    case "unauthorized":
      return state.refreshed
        ? { action: "give-up", state }
        : { action: "refresh", state: { ...state, refreshed: true } };
    case "quota-check": {
      const delayMs = QUOTA_CHECK_DELAYS_MS[state.quotaWaits];
      const next = { ...state, quotaWaits: state.quotaWaits + 1 };
      if (delayMs === undefined) return { action: "give-up", state: next };
      return { action: "wait", delayMs, state: next, firstQuotaWait: state.quotaWaits === 0 };
    }
    case "transient": {
      const next = { ...state, transientFailures: state.transientFailures + 1 };
      // `attempts` counts every try; after the Nth failure there is nothing left to spend.
      if (next.transientFailures >= budget.attempts) return { action: "give-up", state: next };
      return { action: "wait", delayMs: budget.spacingMs, state: next, firstQuotaWait: false };
    }
    default: {
      const unreachable: never = failure;
      throw new Error(`unknown attempt failure ${String(unreachable)}`);
    }
  }
}

/** Sleeping, injectable so tests can run retry loops without waiting. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
