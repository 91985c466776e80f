/**
 * The heartbeat's timing, as pure functions of (lease duration, attempt, random) so it is
 * table-tested without sleeping (docs/wire-facts.md#heartbeat).
 */

export const DEFAULT_LEASE_DURATION_S = 30;
export const HEARTBEAT_BACKOFF_INITIAL_MS = 2_000;
export const HEARTBEAT_BACKOFF_MAX_MS = 30_000;

/**
 * Time until the next renewal: `base + jitter` seconds with `base = max(1, ⌊d/2⌋)` and `jitter`
 * a uniform whole number of seconds in `[0, max(1, ⌊base/5⌋)]`. A 30 s lease renews every 15–18 s,
 * so one missed renewal still leaves the lease valid.
 */
export function renewalIntervalMs(leaseDurationS: number, random: () => number): number {
  const d = Number.isFinite(leaseDurationS) && leaseDurationS > 0 ? Math.floor(leaseDurationS) : DEFAULT_LEASE_DURATION_S;
  const base = Math.max(1, Math.floor(d / 2));
  const spread = Math.max(1, Math.floor(base / 5));
  const r = Math.min(0.999_999, Math.max(0, random()));
  return (base + Math.floor(r * (spread + 1))) * 1_000;
}

/** Failure backoff: 2 s doubling to 30 s (`attempt` 0 is the first failure). */
export function heartbeatBackoffMs(attempt: number): number {
  const step = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  return Math.min(HEARTBEAT_BACKOFF_MAX_MS, HEARTBEAT_BACKOFF_INITIAL_MS * 2 ** Math.min(step, 16));
}

/** Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits (`…:00.123000Z`). */
export function microTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-07-01T12:00:00.123Z
  return `${iso.slice(0, -1)}000Z`;
}

/**
 * The lease ran out between two renewals (the machine slept, the process was stopped, the network
 * was gone): the platform has marked the Connector not Ready and the next renewal brings it back.
 */
export function leaseLapsed(lastRenewedAtMs: number | undefined, leaseDurationS: number, nowMs: number): boolean {
  return lastRenewedAtMs !== undefined && nowMs - lastRenewedAtMs > leaseDurationS * 1_000;
}
