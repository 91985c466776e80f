/**
 * The tunnel log's line format and the consola reporter that writes it.
 *
 * One JSON object per line:
 *   {"time":"2026-11-27T14:03:12.345Z","level":"info","msg":"…","tunnel":"web","fields":{…}}
 * `time` is ISO 8601 in UTC; `level` is one of error|warn|info|debug; `fields` is present only when
 * there is something in it. A consola tag (`log.withTag("heartbeat")`) becomes `fields.tag`.
 *
 * Redaction (docs/architecture.md#tokens: tokens never appear in logs): a field whose name looks
 * token-like is dropped whatever its value, at any depth; JWT-shaped substrings and `Bearer <x>`
 * credentials are replaced by `[redacted]` in the message and in every string value that is kept.
 */
import type { ConsolaInstance, ConsolaReporter, LogObject } from "consola";
import { tunnelFiles } from "../state/paths.ts";
import { RotatingFileWriter } from "./rotating-file.ts";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export interface LogRecord {
  readonly time: string;
  readonly level: LogLevelName;
  readonly msg: string;
  readonly tunnel: string;
  readonly fields?: Record<string, unknown>;
}

export const REDACTED = "[redacted]";

/**
 * Field names that are dropped: anything containing `token`, `authorization`, `secret` or
 * `password` (so `accessToken`, `x-authorization`, `clientSecret`), and `key`/`keys` as a whole
 * word, where words are split at `_`, `-`, `.`, spaces and camelCase humps (so `key`, `api_key`,
 * `apiKey`, `listen-key`, but not `keyboard` or `monkey`). Case-insensitive.
 */
const SENSITIVE_SUBSTRING = /token|authorization|secret|password|passwd/i;
const SENSITIVE_WORD = /^keys?$/;

export function isSensitiveFieldName(name: string): boolean {
  if (SENSITIVE_SUBSTRING.test(name)) return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[\s_.\-:/]+/)
    .map((w) => w.toLowerCase());
  return words.some((w) => SENSITIVE_WORD.test(w));
}

/** `Bearer <credential>` (any case), and a JWT: three base64url segments, the first a JSON header (`eyJ`). */
const BEARER = /\bBearer\s+[^\s"',;]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

export function redactText(text: string): string {
  return text.replace(BEARER, `Bearer ${REDACTED}`).replace(JWT, REDACTED);
}

/**
 * A JSON-safe, redacted copy of a field value: sensitive keys are dropped at every depth, strings
 * are scrubbed, cycles become `"[circular]"`, errors become `{name, message}`, bigints strings,
 * functions and symbols are dropped.
 */
export function redactValue(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  switch (typeof value) {
    case "string":
      return redactText(value);
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    default:
      break;
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) return "[circular]";
  seen.add(obj);
  try {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
    if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
    if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
    if (Array.isArray(value)) return value.map((item) => redactValue(item, seen) ?? null);
    if (value instanceof Map) return redactFields(Object.fromEntries(value), seen);
    if (value instanceof Set) return [...value].map((item) => redactValue(item, seen) ?? null);
    return redactFields(value as Record<string, unknown>, seen);
  } finally {
    seen.delete(obj);
  }
}

/** Drop sensitive keys and scrub the rest (see `redactValue`). */
export function redactFields(fields: Readonly<Record<string, unknown>>, seen: WeakSet<object> = new WeakSet()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (isSensitiveFieldName(key)) continue;
    const clean = redactValue(value, seen);
    if (clean !== undefined) out[key] = clean;
  }
  return out;
}

/** consola level → our four levels: 0 error (error, fatal, fail), 1 warn, 2–3 info, 4+ debug. */
export function levelName(level: number): LogLevelName {
  if (level <= 0) return "error";
  if (level === 1) return "warn";
  if (level <= 3) return "info";
  return "debug";
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describeArg(arg: unknown): string {
  if (typeof arg === "string") return arg;
  if (arg === undefined) return "undefined";
  try {
    return typeof arg === "object" && arg !== null ? JSON.stringify(redactValue(arg)) : String(arg);
  } catch {
    return String(arg);
  }
}

/**
 * A consola log object → one record. Strings and other scalars join the message (as
 * `console.log` would); plain objects are merged into `fields`; an `Error` becomes the message if
 * there is none yet, else `fields.error`, and its stack goes to `fields.stack`.
 */
export function toRecord(logObj: Pick<LogObject, "level" | "args" | "date"> & { tag?: string }, tunnel: string): LogRecord {
  const words: string[] = [];
  const fields: Record<string, unknown> = {};
  for (const arg of logObj.args) {
    if (arg instanceof Error) {
      if (words.length === 0) words.push(arg.message);
      else fields.error = arg.message;
      if (arg.stack) fields.stack = arg.stack;
    } else if (isPlainObject(arg)) {
      Object.assign(fields, arg);
    } else {
      words.push(describeArg(arg));
    }
  }
  if (logObj.tag) fields.tag = logObj.tag;
  const clean = redactFields(fields);
  const date = logObj.date instanceof Date && !Number.isNaN(logObj.date.getTime()) ? logObj.date : new Date();
  const record: LogRecord = {
    time: date.toISOString(),
    level: levelName(logObj.level),
    msg: redactText(words.join(" ")),
    tunnel,
    ...(Object.keys(clean).length > 0 ? { fields: clean } : {}),
  };
  return record;
}

/** One record → one line (no trailing newline). Never throws. */
export function formatRecord(record: LogRecord): string {
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify({ time: record.time, level: record.level, msg: record.msg, tunnel: record.tunnel });
  }
}

export interface JsonLinesReporterOptions {
  readonly writer: Pick<RotatingFileWriter, "writeLine" | "droppedLines" | "lastError">;
  readonly tunnel: string;
}

/**
 * A consola reporter writing JSON lines through the writer. It never throws. After a run of
 * dropped lines (full disk, …) the first line that gets through is followed by a warning saying
 * how many were lost and why, so the gap is visible in the log itself.
 */
export function createJsonLinesReporter(options: JsonLinesReporterOptions): ConsolaReporter {
  const { writer, tunnel } = options;
  let reportedDrops = writer.droppedLines;
  return {
    log(logObj) {
      try {
        if (logObj.type === "silent") return;
        const ok = writer.writeLine(formatRecord(toRecord(logObj, tunnel)));
        if (ok && writer.droppedLines > reportedDrops) {
          const lost = writer.droppedLines - reportedDrops;
          const note: LogRecord = {
            time: new Date().toISOString(),
            level: "warn",
            msg: `${lost} log line${lost === 1 ? " was" : "s were"} dropped: ${writer.lastError ?? "write error"}`,
            tunnel,
            fields: { droppedLines: lost },
          };
          if (writer.writeLine(formatRecord(note))) reportedDrops = writer.droppedLines;
        }
      } catch {
        // A reporter must never break the caller; the writer already counts what it could not write.
      }
    },
  };
}

export interface FileLoggingOptions {
  /** The tunnel's directory (`tunnelDir(root, name)`); the log is `tunnelFiles(dir).log` = `<dir>/logs/tunnel.log`. */
  readonly dir: string;
  /** The tunnel name recorded in every line. */
  readonly tunnel: string;
  readonly maxBytes?: number;
  readonly keep?: number;
  /** Where the size overrides are read from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface FileLogging {
  readonly writer: RotatingFileWriter;
  readonly reporter: ConsolaReporter;
  /** Put the previous reporters back and close the file. Idempotent. */
  detach(): void;
}

/**
 * Daemon and service mode: replace the logger's reporters with the JSON-lines file reporter, so
 * nothing is written to the terminal at all. The level is left as it is.
 *
 * consola copies its reporters into every `withTag` child when the child is created, so call this
 * before any tagged child logger is made; children created earlier keep their old reporters.
 * Nothing is opened until the first line is logged.
 */
export function attachFileLogging(logger: ConsolaInstance, options: FileLoggingOptions): FileLogging {
  const writer = new RotatingFileWriter({
    path: tunnelFiles(options.dir).log,
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.keep !== undefined ? { keep: options.keep } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  });
  const reporter = createJsonLinesReporter({ writer, tunnel: options.tunnel });
  const previous = [...logger.options.reporters];
  logger.setReporters([reporter]);
  let detached = false;
  return {
    writer,
    reporter,
    detach() {
      if (detached) return;
      detached = true;
      if (logger.options.reporters.length === 1 && logger.options.reporters[0] === reporter) {
        logger.setReporters(previous);
      } else {
        logger.removeReporter(reporter);
      }
      writer.close();
    },
  };
}

/**
 * Container mode (`tunnel listen --log-format json`): the same JSON lines, on stdout instead of the
 * tunnel's file, where a container runtime collects them. Replaces the logger's reporters like
 * `attachFileLogging`; `detach()` puts them back.
 */
export function attachStdoutLogging(logger: ConsolaInstance, tunnel: string, write: (text: string) => void): { detach(): void } {
  const reporter = createJsonLinesReporter({
    writer: {
      writeLine: (line) => {
        write(`${line}\n`);
        return true;
      },
      droppedLines: 0,
      lastError: undefined,
    },
    tunnel,
  });
  const previous = [...logger.options.reporters];
  logger.setReporters([reporter]);
  return {
    detach() {
      if (logger.options.reporters.length === 1 && logger.options.reporters[0] === reporter) logger.setReporters(previous);
      else logger.removeReporter(reporter);
    },
  };
}
