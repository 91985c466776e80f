import type { TargetCounters } from "../../workers/messages.ts";
import type { PathTally } from "./path-kind.ts";

/**
 * Device-side counters (docs/wire-facts.md#counters), keyed by target authority (`host:port` as
 * requested, so tunnels with the same origin share them). `active` is derived, as upstream:
 * accepted − completed − failed. A denied request is never "accepted".
 */

/** One target's counters: the shape the worker posts (workers/messages.ts), defined there once. */
export type { TargetCounters };

export interface CountersSnapshot {
  counters: Record<string, TargetCounters>;
  connectionsAccepted: number;
  connectionsCompleted: number;
  /** Live connections by selected path (path-kind.ts); the worker adds it, the counters do not know. */
  paths?: PathTally;
}

/**
 * Authorities come from the peer, so the map is capped at this many keys: once full, new
 * authorities are counted under `OVERFLOW_KEY` instead of growing memory without bound.
 */
export const MAX_TARGETS = 1024;
export const OVERFLOW_KEY = "*";

/**
 * Streams turned away before they named a target are counted (as `denied`) under reserved keys,
 * which no authority can collide with (an authority always has a `:`): a head that did not arrive
 * within the header-read timeout, and a head that was malformed, unsupported or cut short.
 */
export const HEADER_TIMEOUT_KEY = "(header timeout)";
export const MALFORMED_KEY = "(malformed)";
export type RejectedKey = typeof HEADER_TIMEOUT_KEY | typeof MALFORMED_KEY;
const RESERVED_KEYS: ReadonlySet<string> = new Set([HEADER_TIMEOUT_KEY, MALFORMED_KEY]);

type Raw = Omit<TargetCounters, "active">;

export class Counters {
  private readonly targets = new Map<string, Raw>();
  private connectionsAccepted = 0;
  private connectionsCompleted = 0;

  private target(authority: string): Raw {
    let t = this.targets.get(authority);
    if (t) return t;
    // One slot stays free for the overflow bucket itself.
    // Reserved keys are few and fixed, so they never fall into the overflow bucket.
    const key = this.targets.size >= MAX_TARGETS - 1 && !RESERVED_KEYS.has(authority) ? OVERFLOW_KEY : authority;
    t = this.targets.get(key);
    if (!t) {
      t = { accepted: 0, denied: 0, completed: 0, failed: 0, bytesToOrigin: 0, bytesFromOrigin: 0 };
      this.targets.set(key, t);
    }
    return t;
  }

  accepted(authority: string): void {
    this.target(authority).accepted++;
  }
  denied(authority: string): void {
    this.target(authority).denied++;
  }
  /** A stream rejected before it named a target (see `HEADER_TIMEOUT_KEY`, `MALFORMED_KEY`). */
  rejected(key: RejectedKey): void {
    this.target(key).denied++;
  }
  completed(authority: string): void {
    this.target(authority).completed++;
  }
  failed(authority: string): void {
    this.target(authority).failed++;
  }
  toOrigin(authority: string, bytes: number): void {
    this.target(authority).bytesToOrigin += bytes;
  }
  fromOrigin(authority: string, bytes: number): void {
    this.target(authority).bytesFromOrigin += bytes;
  }
  connectionAccepted(): void {
    this.connectionsAccepted++;
  }
  connectionCompleted(): void {
    this.connectionsCompleted++;
  }

  snapshot(): CountersSnapshot {
    const counters: Record<string, TargetCounters> = {};
    for (const [key, t] of this.targets) counters[key] = { ...t, active: t.accepted - t.completed - t.failed };
    return { counters, connectionsAccepted: this.connectionsAccepted, connectionsCompleted: this.connectionsCompleted };
  }
}

/**
 * Counters for an origin, trying the loopback spellings a gateway may have used
 * (docs/wire-facts.md#counters: lookups try `localhost` and `127.0.0.1` variants), summed.
 */
export function countersFor(snapshot: CountersSnapshot, host: string, port: number): TargetCounters | undefined {
  const loopback = ["127.0.0.1", "localhost", "[::1]"];
  const hosts = loopback.includes(host.toLowerCase()) ? loopback : [host];
  const found = hosts.map((h) => snapshot.counters[`${h}:${port}`]).filter((c): c is TargetCounters => c !== undefined);
  if (found.length === 0) return undefined;
  return found.reduce((a, b) => ({
    accepted: a.accepted + b.accepted,
    denied: a.denied + b.denied,
    completed: a.completed + b.completed,
    failed: a.failed + b.failed,
    bytesToOrigin: a.bytesToOrigin + b.bytesToOrigin,
    bytesFromOrigin: a.bytesFromOrigin + b.bytesFromOrigin,
    active: a.active + b.active,
  }));
}
