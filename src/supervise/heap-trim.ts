/**
 * Giving memory back when a thread goes quiet. A tunnel runs for months and is idle most of the
 * time, but JavaScriptCore keeps the heap a burst grew it to: an idle `tunnel listen` held 4 MiB
 * more anonymous memory after its own startup than after a full collection and a shrink, and
 * 30 MiB more after traffic (BENCHMARKS.md, "Footprint").
 *
 * Each thread trims its own heap (a JS heap belongs to one thread): once shortly after it starts
 * (`trimAfterStart`), and the data plane again whenever its streams have all been closed for a
 * while (`IdleTrimmer`). A trim is a full collection, some milliseconds of one thread's time, never
 * taken while a stream is open.
 */

/** Full collection, then ask JavaScriptCore to release what is free. */
export function trimHeap(): void {
  Bun.gc(true);
  // Deprecated in bun-types but still what releases the pages; a full GC alone keeps them.
  Bun.shrink();
}

/** How long after its start a thread trims once: past startup's transient allocations. */
export const START_TRIM_MS = 1_000;
/** How long the data plane must have had no open stream, after traffic, before it trims. */
export const IDLE_TRIM_MS = 30_000;

interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.(); // never the reason a thread stays alive
    return t;
  },
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** One trim `ms` after now, without keeping the thread alive. */
export function trimAfterStart(ms = START_TRIM_MS, trim: () => void = trimHeap, timers: Timers = realTimers): void {
  timers.set(trim, ms);
}

/**
 * Trims once the work it is told about (`begin`/`end`, e.g. streams) has all ended and nothing new
 * began for `idleMs`; then not again until there was more work.
 */
export class IdleTrimmer {
  #active = 0;
  #workSinceTrim = false;
  #timer: unknown;

  constructor(
    private readonly idleMs = IDLE_TRIM_MS,
    private readonly trim: () => void = trimHeap,
    private readonly timers: Timers = realTimers,
  ) {}

  begin(): void {
    this.#active++;
    this.#workSinceTrim = true;
    this.#cancel();
  }

  end(): void {
    this.#active = Math.max(0, this.#active - 1);
    if (this.#active > 0) return;
    this.#cancel();
    this.#timer = this.timers.set(() => {
      this.#timer = undefined;
      if (this.#active > 0 || !this.#workSinceTrim) return;
      this.#workSinceTrim = false;
      this.trim();
    }, this.idleMs);
  }

  stop(): void {
    this.#cancel();
  }

  #cancel(): void {
    if (this.#timer !== undefined) this.timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
