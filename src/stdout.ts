/**
 * Synchronous writes to stdout (fd 1). Bun's `process.stdout` is a Node stream whose first use
 * costs ~20 ms at start (measured in BENCHMARKS.md, "Cold start"), more than the rest of a
 * `version` run, and its writes are asynchronous, so a short-lived command had to wait for write
 * callbacks before exiting or lose the tail of a large piped output. A blocking `write(2)` loop has
 * neither problem: when it returns, the bytes have left the process.
 *
 * The fd is usually blocking; it is non-blocking when another process sharing the pipe set
 * O_NONBLOCK, so EAGAIN waits a millisecond and retries. A closed reader (`| head`) ends the
 * output quietly, as Cobra and git do: later writes are dropped.
 */
import { writeSync } from "node:fs";

let readerGone = false;
const encoder = new TextEncoder();

function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

/** Write all of `text` to stdout before returning. */
export function writeStdout(text: string): void {
  if (readerGone || text.length === 0) return;
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset, bytes.length - offset);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "EAGAIN" || code === "EWOULDBLOCK") {
        Bun.sleepSync(1);
        continue;
      }
      // EPIPE: the reader went away; EIO: the terminal did (it hung up). Nothing more can be said.
      if (code === "EPIPE" || code === "EIO") {
        readerGone = true;
        return;
      }
      throw err;
    }
  }
}

let stderrGuarded = false;

/**
 * For a process that outlives its terminal (a listen or a group whose terminal hung up, and which
 * goes on to disable its tunnels): a write to the gone terminal fails with EIO (or EPIPE for a
 * pipe) as an `error` event on stderr, which would end the process before its teardown. Those are
 * dropped; anything else still fails loudly. Not at startup: touching `process.stderr` costs cold start.
 */
export function outliveTerminal(): void {
  if (stderrGuarded) return;
  stderrGuarded = true;
  process.stderr.on("error", (err: unknown) => {
    const code = errnoCode(err);
    if (code === "EIO" || code === "EPIPE") return;
    throw err;
  });
}
