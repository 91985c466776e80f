/**
 * Time, and a sleep an `AbortSignal` cuts short: what the loops that wait (setup polls, public-URL
 * probes, the heartbeat) take as a parameter, so tests drive them with a fake clock.
 */
export interface AbortableClock {
  now(): number;
  /** Resolve after `ms`; reject with the signal's reason once it is (or gets) aborted. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** A `setTimeout` sleep that an `AbortSignal` cuts short (rejecting with the signal's reason). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
