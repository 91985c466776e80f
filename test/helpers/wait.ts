/**
 * Waiting in tests: poll a condition until it holds, bounded in time, failing with what was
 * awaited (and whatever detail the caller adds). One copy for the whole suite.
 */
import { readFileSync } from "node:fs";

export interface UntilOptions {
  /** How often to look (default 25 ms). */
  readonly everyMs?: number;
  /** More to say when it times out (events seen, logs, ...). */
  readonly detail?: () => string;
}

/**
 * Poll `check` until it returns something truthy and return that, or throw naming `what` once
 * `timeoutMs` has passed. A check that throws is retried; its last error is in the message.
 */
export async function until<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  options: UntilOptions | number = {},
): Promise<Exclude<T, false | undefined | null | 0 | "">> {
  const o: UntilOptions = typeof options === "number" ? { everyMs: options } : options;
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Exclude<T, false | undefined | null | 0 | "">;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      const why = last instanceof Error ? `\nlast error: ${last.message}` : "";
      throw new Error(`${what}: not reached within ${timeoutMs} ms${why}${o.detail ? `\n${o.detail()}` : ""}`);
    }
    await Bun.sleep(o.everyMs ?? 25);
  }
}

/** A process with this PID exists (a zombie too; EPERM means it exists but is not ours). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A process with this PID exists and is not a zombie (Linux: read from /proc; elsewhere: exists). */
export function running(pid: number): boolean {
  if (!pidExists(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}
