/**
 * stderr under `--error-format json|yaml`: a script that asked for a machine-readable error must be
 * able to parse all of stderr, not find a human `WARN … retrying` line in front of the envelope.
 *
 * - json: every line on stderr is one JSON object. Log lines and notices are
 *   `{"time","level","msg"[,"fields"]}` (the shape of the tunnel's log file); the failure, if any,
 *   is datumctl's `{"error":{…}}` envelope, always the last line.
 * - yaml: every log line or notice becomes a YAML comment (`# warn: …`), so stderr as a whole parses
 *   as the envelope document and nothing else.
 *
 * The line shaping is pure (`structuredLine`, `plainLineLevel`); `installStructuredStderr` wires it
 * into the process: consola gets a reporter of its own (exact level and tag), and every other write
 * to stderr (`say`, `warn`, the listen reporter) is re-shaped line by line.
 */
import type { ConsolaInstance, LogObject } from "consola";
import { toRecord } from "./logs/json-lines.ts";

export type StructuredFormat = "json" | "yaml";

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields?: Record<string, unknown>;
  readonly time?: string;
}

// biome-ignore lint: control characters are the point
const ANSI = /\u001B\[[0-9;?]*[A-Za-z]|\u001B\][^\u0007]*\u0007/g;

/** The level a plain stderr line announces by its prefix (`warning: `, `error: `), else info. */
export function plainLineLevel(line: string): LogLine {
  const text = line.replace(ANSI, "").replace(/\r/g, "").trimEnd();
  const m = /^\s*(warning|warn|error|hint|note):\s?(.*)$/i.exec(text);
  if (!m) return { level: "info", msg: text.trim() };
  const word = (m[1] as string).toLowerCase();
  const level = word === "warning" || word === "warn" ? "warn" : word === "error" ? "error" : "info";
  return { level, msg: word === "hint" || word === "note" ? text.trim() : (m[2] as string).trim() };
}

/** One log line in the chosen format, without the trailing newline; "" for nothing to say. */
export function structuredLine(format: StructuredFormat, line: LogLine): string {
  if (line.msg === "" && !line.fields) return "";
  if (format === "json") {
    return JSON.stringify({ time: line.time ?? new Date().toISOString(), level: line.level, msg: line.msg, ...(line.fields ? { fields: line.fields } : {}) });
  }
  const tag = typeof line.fields?.tag === "string" ? ` [${line.fields.tag}]` : "";
  return line.msg
    .split("\n")
    .map((part, i) => (i === 0 ? `# ${line.level}${tag}: ${part}` : `#   ${part}`))
    .join("\n");
}

/** Split written text into whole lines, keeping an unfinished tail for the next write. */
export class LineSplitter {
  #tail = "";

  push(text: string): string[] {
    const lines = (this.#tail + text).split("\n");
    this.#tail = lines.pop() ?? "";
    return lines;
  }

  flush(): string[] {
    const rest = this.#tail;
    this.#tail = "";
    return rest === "" ? [] : [rest];
  }
}

export interface StructuredStderr {
  /** Write text to stderr as is (the envelope), after whatever was still buffered. */
  raw(text: string): void;
}

/**
 * Re-shape everything this process writes to stderr from now on. Call once, before the command
 * runs (consola hands its reporters to `withTag` children when they are made).
 */
export function installStructuredStderr(format: StructuredFormat, logger: ConsolaInstance): StructuredStderr {
  const stream = process.stderr;
  const original = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  const splitter = new LineSplitter();
  const emitLine = (line: LogLine) => {
    const text = structuredLine(format, line);
    if (text !== "") original(`${text}\n`);
  };
  logger.setReporters([
    {
      log(obj: LogObject) {
        try {
          const record = toRecord(obj, "");
          emitLine({ level: record.level, msg: record.msg, time: record.time, ...(record.fields ? { fields: record.fields } : {}) });
        } catch {
          // A reporter never breaks its caller.
        }
      },
    },
  ]);
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    for (const line of splitter.push(text)) emitLine(plainLineLevel(line));
    const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof stream.write;
  return {
    raw(text: string) {
      for (const line of splitter.flush()) emitLine(plainLineLevel(line));
      original(text);
    },
  };
}
