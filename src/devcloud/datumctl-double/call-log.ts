/**
 * The double's call log, `$DATUMCTL_DOUBLE_LOG` (datumctl-contract §6.4): one JSON line per
 * finished call. A call in progress is also visible as `<log>.inflight/<pid>.json`, written when
 * it starts and removed when it ends; one the plugin killed (SIGKILL cannot be caught) stays there,
 * which is how tests find the PID of a helper that hung.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The environment subset of §6.4; `null` when unset. */
export const LOGGED_ENV = [
  "DATUM_SESSION",
  "DATUM_PROJECT",
  "DATUM_ORG",
  "DATUM_API_HOST",
  "DATUMCTL_NO_UPDATE_CHECK",
] as const;

export interface CallRecord {
  /** Start, ISO 8601. */
  ts: string;
  startMs: number;
  /** Absent while the call runs (in-flight records). */
  endMs?: number;
  pid: number;
  /** Arguments after the program name. */
  argv: string[];
  cwd: string;
  env: Record<(typeof LOGGED_ENV)[number], string | null>;
  stdinIsTTY: boolean;
  stderrIsTTY: boolean;
  exitCode?: number;
  /** Session the call resolved to, when it got that far. */
  session?: string;
  /** Names of environment variables whose value contains a token this double ever issued. */
  envWithIssuedToken: string[];
  /** Whether any argument contains a token this double ever issued. */
  argvHasIssuedToken: boolean;
}

function inflightDir(logPath: string): string {
  return `${logPath}.inflight`;
}

export function recordStart(logPath: string, record: CallRecord): void {
  const dir = inflightDir(logPath);
  mkdirSync(dir, { recursive: true });
  // Atomic, so a reader never parses half a record.
  const tmp = join(dir, `${record.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(record));
  renameSync(tmp, join(dir, `${record.pid}.json`));
}

export function recordEnd(logPath: string, record: CallRecord): void {
  appendFileSync(logPath, `${JSON.stringify(record)}\n`);
  rmSync(join(inflightDir(logPath), `${record.pid}.json`), { force: true });
}

export interface CallLog {
  /** Finished calls, in the order they ended. */
  calls: CallRecord[];
  /** Calls that started and never finished (killed, or still running). */
  unfinished: CallRecord[];
}

export function readCallLog(logPath: string): CallLog {
  const calls = existsSync(logPath)
    ? readFileSync(logPath, "utf8")
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as CallRecord)
    : [];
  const dir = inflightDir(logPath);
  const unfinished = existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => name.endsWith(".json"))
        .map((name) => JSON.parse(readFileSync(join(dir, name), "utf8")) as CallRecord)
    : [];
  return { calls, unfinished };
}
