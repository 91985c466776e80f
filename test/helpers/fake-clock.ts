/**
 * An `AbortableClock` for tests: `sleep` returns at once and moves time forward, recording what it
 * was asked; it rejects when the signal is (or gets) aborted. `onSleep(n)` runs after the n-th sleep.
 */
import type { AbortableClock } from "../../src/retry/sleep.ts";

export class FakeClock implements AbortableClock {
  readonly sleeps: number[] = [];
  constructor(
    public t = 0,
    private readonly onSleep: (n: number) => void = () => undefined,
  ) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.t += ms;
    this.onSleep(this.sleeps.length);
    if (signal.aborted) throw signal.reason;
  }
}
