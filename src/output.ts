/**
 * The only writer of stdout: tables, `-o json|yaml`, and result lines.
 * Everything else (progress, warnings, logs) goes to stderr through `src/log.ts`.
 */
import { writeStdout } from "./stdout.ts";

export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Column<T> {
  /** Header, printed upper-case. */
  readonly header: string;
  readonly value: (row: T) => string;
}

/**
 * kubectl-style table: UPPER CASE headers, columns separated by at least 3 spaces, no trailing
 * whitespace, no borders (docs/wire-facts.md#output-conventions).
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = [columns.map((c) => c.header.toUpperCase()), ...rows.map((r) => columns.map((c) => c.value(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? "").length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function formatYaml(value: unknown): string {
  const text = Bun.YAML.stringify(value, null, 2);
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** Render `value` in the requested format; `table` needs the columns and the rows. */
export function render<T>(format: OutputFormat, rows: readonly T[], columns: readonly Column<T>[], value: unknown = rows): string {
  switch (format) {
    case "json":
      return formatJson(value);
    case "yaml":
      return formatYaml(value);
    case "table":
      return formatTable(rows, columns);
    default: {
      const never: never = format;
      return never;
    }
  }
}

/** Write one block of data to stdout, newline-terminated; it has left the process on return. */
export function emit(text: string): void {
  writeStdout(text.endsWith("\n") ? text : `${text}\n`);
}
