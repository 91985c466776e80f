/**
 * Jittered exponential backoff, 1 s → 60 s (the enhancement's "Long-Running Token Refresh" schedule;
 * docs/architecture.md#datumctl-double). Pure: the caller supplies the attempt number and the random source, so
 * schedules are table-tested without sleeping.
 */

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_CAP_MS = 60_000;

/**
 * Delay before retry number `attempt` (0 for the first retry).
 *
 * The ceiling doubles from `2 × base` up to `cap`, and the delay is drawn from its upper half
 * ("equal jitter"): never below `base`, never above `cap`, and many agents that failed together
 * (an identity-provider outage) do not come back in lockstep. `random` must return a number in
 * [0, 1), as `Math.random` does; out-of-range values are clamped rather than trusted.
 */
export function backoffDelay(
  attempt: number,
  random: () => number,
  baseMs: number = BACKOFF_BASE_MS,
  capMs: number = BACKOFF_CAP_MS,
): number {
  const step = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  // 2 ** step overflows to Infinity for huge attempts; Math.min turns that into the cap.
  const ceiling = Math.min(capMs, baseMs * 2 ** (step + 1));
  const r = Math.min(1, Math.max(0, random()));
  const delay = Math.round(ceiling / 2 + (r * ceiling) / 2);
  return Math.min(capMs, Math.max(baseMs, delay));
}
