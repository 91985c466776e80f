/**
 * A `Clock` for schedule tests: `sleep(ms)` moves virtual time forward at once instead of waiting,
 * so an hour of refresh loop runs in milliseconds. When a sleep would cross `horizon`, time stops
 * there and `onHorizon` runs (tests abort the loop from it).
 */
import type { Clock } from "../../../src/auth/token-source.ts";

export class WarpClock implements Clock {
  readonly sleeps: number[] = [];

  constructor(
    public t: number,
    private readonly horizon = Number.POSITIVE_INFINITY,
    private readonly onHorizon: () => void = () => undefined,
  ) {}

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    if (this.t + ms >= this.horizon) {
      this.t = this.horizon;
      this.onHorizon();
    } else {
      this.t += ms;
    }
    return Promise.resolve();
  }
}

/** A clock that stands still: `sleep` ends only when its signal aborts (rejecting). For tests of on-demand calls. */
export class FrozenClock implements Clock {
  constructor(public t: number) {}

  now(): number {
    return this.t;
  }

  sleep(_ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((_resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }
}

/** An unsigned JWT whose payload carries `exp` (seconds); the signature segment is a dummy. */
export function jwtWithExp(expMs: number, id: string | number = 0): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub: "user-1", exp: Math.floor(expMs / 1000), jti: String(id) })}.c2ln`;
}
