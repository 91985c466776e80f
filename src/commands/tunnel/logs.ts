/**
 * `tunnel logs --name N [--tail N] [--follow] [-o json] [--system]`: a named tunnel's log
 * (`tunnels/<name>/logs/tunnel.log` and its rotated files) rendered for humans, or the raw JSON
 * lines with `-o json`; `--follow` keeps printing across rotations until SIGINT/SIGTERM (exit 0).
 */
import { statSync } from "node:fs";
import { defineCommand } from "citty";
import { NotAuthenticated, Rejected, UsageError } from "../../errors.ts";
import { follow, tailLines } from "../../logs/follow.ts";
import { renderLogLine } from "../../logs/render.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";

export const DEFAULT_TAIL = 50;

/** `--tail`: a non-negative whole number of lines. */
export function parseTail(value: string | undefined): number {
  if (value === undefined || value === "") return DEFAULT_TAIL;
  if (!/^\d+$/.test(value.trim())) {
    throw new UsageError(`invalid --tail "${value}"`, "use a whole number of lines, e.g. --tail 100 (0 shows none)");
  }
  return Number.parseInt(value.trim(), 10);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A permission error reading the log becomes exit 77 with advice; anything else is returned as is. */
function permissionError(err: unknown, path: string, system: boolean): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== "EACCES" && code !== "EPERM") return err;
  return new NotAuthenticated(
    `cannot read ${path}: permission denied`,
    system ? "a system tunnel's logs are readable by root only; rerun with sudo" : "check the ownership of the tunnel's state directory",
    undefined,
    "forbidden",
  );
}

/** After an interrupted `--follow`, how long queued lines may take to drain before we exit anyway. */
const FLUSH_LIMIT_MS = 2_000;

/**
 * Lines to stdout whose delivery can be awaited. `emit` (src/output.ts) cannot be awaited, and Bun's
 * piped stdout reports nothing pending while a large write is still queued, so the exit that
 * follows the command cut `tunnel logs --tail 20000 | less` short. A write's own callback is
 * reliable (an empty write's is not), so the last one is what we wait for.
 */
function awaitableStdout() {
  let last: Promise<void> = Promise.resolve();
  return {
    write(text: string): void {
      last = new Promise((resolve) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`, () => resolve()));
    },
    /**
     * Everything written so far has reached the OS, or `signal` aborted (the reader went away), or
     * `limitMs` passed (a reader that stopped reading must not hold an interrupted command).
     */
    async flushed(signal: AbortSignal | undefined, limitMs?: number): Promise<void> {
      if (signal?.aborted) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<void>((resolve) => {
        if (limitMs !== undefined) timer = setTimeout(resolve, limitMs);
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
      await Promise.race([last, limit]);
      clearTimeout(timer);
    },
  };
}

export const logs = defineCommand({
  meta: { name: "logs", description: "Show a background tunnel's log, optionally following it across rotations" },
  args: {
    name: {
      type: "string",
      description: "Tunnel name",
      valueHint: "name",
      required: true,
    },
    tail: {
      type: "string",
      description: `Show this many lines from the end (default ${DEFAULT_TAIL})`,
      valueHint: "lines",
    },
    follow: {
      type: "boolean",
      alias: "f",
      description: "Keep printing new lines until interrupted",
    },
    output: {
      type: "enum",
      alias: "o",
      description: "Output format (json: the raw JSON lines)",
      options: ["table", "json"],
      default: "table",
    },
    system: {
      type: "boolean",
      description: "A system-scope tunnel (installed as a system service)",
    },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const tail = parseTail(args.tail);
    const system = args.system === true;
    const dir = tunnelDir(stateRoot(system ? "system" : "user"), name);
    if (!isDirectory(dir)) {
      throw new Rejected(`no tunnel named "${name}"`, `run 'tunnel ps'${system ? " --system" : ""} to list tunnels`, "not_found");
    }
    const path = tunnelFiles(dir).log;
    const show = args.output === "json" ? (line: string) => line : renderLogLine;
    const out = awaitableStdout();

    const stop = new AbortController();
    const onSignal = () => stop.abort();
    // A reader that went away (`logs -f | head`) ends following quietly, as `tail -f` would.
    let brokenPipe = false;
    const onStdoutError = (err: unknown) => {
      if ((err as { code?: unknown } | null)?.code !== "EPIPE") throw err;
      brokenPipe = true;
      stop.abort();
    };
    // Installed before the first read, so an early Ctrl-C still ends in a clean exit 0.
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    process.stdout.on("error", onStdoutError);
    try {
      const { lines, cursor } = tailLines(path, tail);
      if (lines.length > 0) out.write(lines.map(show).join("\n"));
      if (!args.follow) {
        if (lines.length === 0 && tail > 0) process.stderr.write(`No log lines yet for tunnel ${name}.\n`);
        await out.flushed(stop.signal); // as long as the reader reads; Ctrl-C or EPIPE end it
        return;
      }
      await follow(path, {
        cursor,
        signal: stop.signal,
        onLine: (line) => {
          if (!stop.signal.aborted) out.write(show(line));
        },
      });
      if (!brokenPipe) await out.flushed(undefined, FLUSH_LIMIT_MS);
    } catch (err) {
      throw permissionError(err, path, system);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // After EPIPE the listener stays: writes still queued would fail the same way.
      if (!brokenPipe) process.stdout.off("error", onStdoutError);
    }
  },
});
