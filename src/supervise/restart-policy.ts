/**
 * Pure restart decisions for the worker supervisor: functions of the attempt
 * number, the clock and a random source, so tests need no sleeping.
 */

/** Jittered exponential delay in [ceiling/2, ceiling], ceiling = min(cap, base·2^attempt); never zero. */
export function restartDelay(attempt: number, random: () => number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}

/**
 * Whether the worker that just died had been healthy long enough (ready for at least the grace
 * period) for the backoff to start over.
 */
export function ranHealthy(readyAt: number | undefined, diedAt: number, graceMs: number): boolean {
  return readyAt !== undefined && diedAt - readyAt >= graceMs;
}
