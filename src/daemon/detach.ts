/**
 * `listen --detach`: start the tunnel as a background process and wait, within a window, until it
 * is verified ready (docs/architecture.md#readiness). The child runs in a new session with stdin
 * closed and its stdout/stderr in the tunnel's log directory; it reports through `run.json`, which
 * the parent polls. The parent never kills a child that is merely slow: past the window it leaves
 * it provisioning (exit 75). A child that fails before ready has already cleaned up after itself
 * (its own teardown disables what it enabled) and exited; the parent relays its error and code.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliError, Exit, isErrorCode } from "../errors.ts";
import { readRunState, type RunState } from "../state/run-state.ts";
import { selfCommand } from "./self-command.ts";

const POLL_MS = 100;

export type DetachOutcome =
  | { readonly outcome: "ready"; readonly pid: number; readonly state: RunState }
  | { readonly outcome: "provisioning"; readonly pid: number; readonly state: RunState | undefined }
  | {
      readonly outcome: "failed";
      readonly pid: number;
      readonly exit: number;
      readonly message: string;
      readonly hint?: string;
      /** The child's error code and wrapped cause, for the parent's `--error-format json|yaml` envelope. */
      readonly code?: string;
      readonly details?: string;
      readonly state: RunState | undefined;
    };

export interface DetachOptions {
  /** Arguments after the executable (e.g. `tunnel listen --name x --endpoint …`). */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly runPath: string;
  readonly logDir: string;
  readonly waitMs: number;
  readonly onState?: (state: RunState) => void;
  /** When the wait is over (default: the child recorded `ready`); past the window the child keeps running. */
  readonly done?: (state: RunState) => boolean;
}

/** The last lines a child printed before dying (a crash that never reached run.json). */
function stdioTail(path: string, lines = 5): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export async function startDetached(o: DetachOptions): Promise<DetachOutcome> {
  mkdirSync(o.logDir, { recursive: true, mode: 0o700 });
  const stdioPath = join(o.logDir, "stdio.log");
  const fd = openSync(stdioPath, "a", 0o600);
  const [command, ...prefix] = selfCommand();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
  let exitCode: number | null = null;
  let child;
  try {
    child = spawn(command as string, [...prefix, ...o.args], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env,
      windowsHide: true,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new CliError("could not start the background tunnel process", 1);
  child.on("exit", (code, signal) => {
    exitCode = code ?? (signal ? 128 : 1);
  });
  child.unref();

  const deadline = Date.now() + o.waitMs;
  let last: RunState | undefined;
  for (;;) {
    const state = await readRunState(o.runPath).catch(() => undefined);
    if (state && state.pid === pid) {
      if (!last || state.updatedAt !== last.updatedAt) o.onState?.(state);
      last = state;
      if (o.done ? o.done(state) : state.phase === "ready") return { outcome: "ready", pid, state };
      if (state.phase === "failed" || state.phase === "stopped") {
        // Let it finish exiting so its code is the final word.
        for (let i = 0; i < 50 && exitCode === null; i++) await Bun.sleep(POLL_MS);
        const err = state.lastError;
        return {
          outcome: "failed",
          pid,
          exit: state.exitCode ?? exitCode ?? 1,
          message: err?.message ?? "the tunnel stopped before it was ready",
          ...(err?.hint ? { hint: err.hint } : {}),
          ...(err?.code ? { code: err.code } : {}),
          ...(err?.details ? { details: err.details } : {}),
          state,
        };
      }
    }
    if (exitCode !== null) {
      const tail = stdioTail(stdioPath);
      return {
        outcome: "failed",
        pid,
        exit: exitCode === 0 ? 1 : exitCode,
        message: `the tunnel process exited (code ${exitCode}) before it was ready${tail ? `:\n${tail}` : ""}`,
        state: last,
      };
    }
    if (Date.now() >= deadline) return { outcome: "provisioning", pid, state: last };
    await Bun.sleep(POLL_MS);
  }
}

/** The child's failure as this process's error: its own code and cause, so `--error-format json` here says what it said there. */
export function childFailure(outcome: Extract<DetachOutcome, { outcome: "failed" }>): CliError {
  return new CliError(
    outcome.message,
    outcome.exit as CliError["exit"],
    outcome.hint,
    isErrorCode(outcome.code) ? outcome.code : "internal",
    outcome.details,
    outcome.exit === Exit.unreachable || outcome.exit === Exit.provisioning,
  );
}
