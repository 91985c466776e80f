/**
 * The double's call log, `$DATUMCTL_DOUBLE_LOG` (docs/architecture.md#datumctl-double): one JSON line per
 * finished call. A call in progress is also visible as `<log>.inflight/<pid>.json`, written when
 * it starts and removed when it ends; one the plugin killed (SIGKILL cannot be caught) stays there,
 * which is how tests find the PID of a helper that hung.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The environment subset of docs/architecture.md#datumctl-double; `null` when unset. */
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

/** The file operations `readCallLog` needs; tests pass their own to act between them. */
export interface CallLogFs {
  /** Names in a directory; throws ENOENT when it does not exist. */
  readdir(dir: string): string[];
  /** A file's text; throws ENOENT when it does not exist. */
  readFile(path: string): string;
}

const nodeFs: CallLogFs = {
  readdir: (dir) => readdirSync(dir),
  readFile: (path) => readFileSync(path, "utf8"),
};

function isMissing(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "ENOENT";
}

/** `read()`, or `fallback` when the file or directory is gone. */
function unlessMissing<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (err) {
    if (isMissing(err)) return fallback;
    throw err;
  }
}

/**
 * A snapshot of the log while the double may be writing it from other processes. The in-flight
 * directory is read first and the log second: a call ends by appending its line and only then
 * removing its in-flight record, so a record that vanishes between the listing and the read
 * belongs to a call that finished, and its line is in the log read afterwards. A call seen in
 * flight whose line is also in the log is reported once, as finished. A last line without its
 * newline is an append still in progress and is left for the next read.
 */
export function readCallLog(logPath: string, fs: CallLogFs = nodeFs): CallLog {
  const dir = inflightDir(logPath);
  const inflight: CallRecord[] = [];
  for (const name of unlessMissing(() => fs.readdir(dir), [] as string[])) {
    if (!name.endsWith(".json")) continue;
    const text = unlessMissing(() => fs.readFile(join(dir, name)), undefined);
    if (text !== undefined) inflight.push(JSON.parse(text) as CallRecord);
  }
  const text = unlessMissing(() => fs.readFile(logPath), "");
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  const calls = complete
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as CallRecord);
  const finished = new Set(calls.map(callKey));
  return { calls, unfinished: inflight.filter((r) => !finished.has(callKey(r))) };
}

function callKey(r: CallRecord): string {
  return `${r.pid}/${r.startMs}`;
}
