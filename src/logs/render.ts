/**
 * Tunnel log lines for humans (`tunnel logs`, `tunnel status`). Pure.
 *
 *   2026-11-27 14:03:12.345Z  INFO   request served  status=200 path=/healthz
 *
 * Time is shown in UTC, with the `Z` that says so, rather than local time: the file is written in
 * UTC, a system service and the person reading its log often sit in different time zones (or on
 * different machines), UTC lines up with the control plane's and other tools' timestamps, there is
 * no daylight-saving hour that repeats, and rendering does not depend on the reader's `TZ`, so the
 * same line renders the same everywhere (and in tests).
 *
 * A line that is not one of ours (a crash trace, a torn write, anything else) is shown as it is.
 * Control characters are escaped everywhere: messages can carry text from the network (request
 * paths, remote errors), and a log viewer must not let them drive the terminal.
 */
import * as v from "valibot";

const LogLine = v.object({
  time: v.string(),
  level: v.string(),
  msg: v.string(),
  tunnel: v.optional(v.string()),
  fields: v.optional(v.record(v.string(), v.unknown())),
});
export type ParsedLogLine = v.InferOutput<typeof LogLine>;

/** The record in a log line, or undefined for anything that is not a JSON object of our shape. */
export function parseLogLine(line: string): ParsedLogLine | undefined {
  const text = line.trim();
  if (!text.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(LogLine, value);
  return parsed.success ? parsed.output : undefined;
}

// C0 controls but tab (newlines included: one record is one screen line), DEL, C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/** Escape control characters so text cannot move the cursor, recolour or retitle the terminal. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/** `2026-11-27T14:03:12.345Z` → `2026-11-27 14:03:12.345Z`; anything unparseable is shown as given. */
export function formatTime(time: string): string {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return escapeControl(time);
  return date.toISOString().replace("T", " ");
}

const LEVEL_WIDTH = 5; // "ERROR", "DEBUG"

/** `info` → `INFO ` (padded so messages line up). */
export function formatLevel(level: string): string {
  return escapeControl(level.toUpperCase()).padEnd(LEVEL_WIDTH);
}

/** A value in `key=value`: bare when unambiguous, JSON-quoted when it has spaces, quotes or `=`. */
export function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return value !== "" && /^[^\s"=\\]+$/.test(value) ? escapeControl(value) : escapeControl(JSON.stringify(value));
  }
  if (value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  try {
    return escapeControl(JSON.stringify(value) ?? String(value));
  } catch {
    return escapeControl(String(value));
  }
}

export function formatFields(fields: Readonly<Record<string, unknown>> | undefined): string {
  if (!fields) return "";
  return Object.entries(fields)
    .map(([key, value]) => `${escapeControl(key)}=${formatValue(value)}`)
    .join(" ");
}

/** One parsed record for humans. */
export function formatLogRecord(record: ParsedLogLine): string {
  const head = `${formatTime(record.time)}  ${formatLevel(record.level)}  ${escapeControl(record.msg)}`;
  const fields = formatFields(record.fields);
  return (fields ? `${head}  ${fields}` : head).trimEnd();
}

/** One raw line for humans: our records formatted, anything else shown as it is (escaped). */
export function renderLogLine(line: string): string {
  const record = parseLogLine(line);
  return record ? formatLogRecord(record) : escapeControl(line.replace(/\r?\n$/, ""));
}
