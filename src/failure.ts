/**
 * Pure rendering of a failure into an exit code and stderr lines (STYLE practice 2), tested by a
 * table. Our `CliError`s carry their code and hint; citty's usage errors (name `CLIError`) are
 * misuse (exit 2); anything else is a bug: exit 1 with the message, and the stack under `--verbose`.
 */
import { CliError, Exit, type ErrorCode } from "./errors.ts";

export const ERROR_FORMATS = ["human", "json", "yaml"] as const;
export type ErrorFormat = (typeof ERROR_FORMATS)[number];

export interface Failure {
  readonly code: number;
  readonly lines: readonly string[];
  /** Print the command's usage before the error (flag-parse errors, Cobra style). */
  readonly showUsage: boolean;
}

interface Envelope {
  code: ErrorCode;
  message: string;
  hint?: string;
  retryable: boolean;
  details?: string;
}

/** citty strips nothing from its messages; drop its ANSI colour codes so stderr stays plain. */
export function stripAnsi(text: string): string {
  // biome-ignore lint: control character is the point
  return text.replace(/\u001B\[[0-9;]*m/g, "");
}

function envelopeOf(err: unknown): { envelope: Envelope; exit: number; showUsage: boolean } {
  if (err instanceof CliError) {
    const envelope: Envelope = { code: err.code, message: err.message, retryable: err.retryable };
    if (err.hint) envelope.hint = err.hint;
    if (err.details) envelope.details = err.details;
    return { envelope, exit: err.exit, showUsage: false };
  }
  if (err instanceof Error && err.name === "CLIError") {
    return {
      envelope: { code: "usage", message: lowerFirst(stripAnsi(err.message)).replace(/\.$/, ""), retryable: false },
      exit: Exit.usage,
      showUsage: true,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  const envelope: Envelope = {
    code: "internal",
    message: `unexpected error: ${message}`,
    hint: "this is a bug in datumctl-connect; rerun with CONSOLA_LEVEL=4 for details and report it",
    retryable: false,
  };
  if (err instanceof Error && err.stack && process.env.CONSOLA_LEVEL && Number(process.env.CONSOLA_LEVEL) >= 4) {
    envelope.details = err.stack;
  }
  return { envelope, exit: Exit.runtime, showUsage: false };
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text[0]!.toLowerCase() + text.slice(1) : text;
}

export function describeFailure(err: unknown, format: ErrorFormat = "human"): Failure {
  const { envelope, exit, showUsage } = envelopeOf(err);
  switch (format) {
    case "json":
      return { code: exit, lines: [JSON.stringify({ error: envelope })], showUsage: false };
    case "yaml": {
      const text = Bun.YAML.stringify({ error: envelope }, null, 2).trimEnd();
      return { code: exit, lines: text.split("\n"), showUsage: false };
    }
    case "human": {
      const lines = [`error: ${envelope.message}`];
      if (envelope.hint) lines.push(`hint: ${envelope.hint}`);
      if (envelope.details && exit === Exit.runtime) lines.push(envelope.details);
      return { code: exit, lines, showUsage };
    }
  }
}
