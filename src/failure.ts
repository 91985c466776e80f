/**
 * Pure rendering of a failure into an exit code and stderr lines, tested by a
 * table. Our `CliError`s carry their code and hint; citty's usage errors (name `CLIError`) are
 * misuse (exit 2) with a hint, never a help dump; anything else is a bug: exit 1 with the message,
 * and the stack under `CONSOLA_LEVEL=4`.
 */
import { CliError, Exit, UsageError, type ErrorCode } from "./errors.ts";

export const ERROR_FORMATS = ["human", "json", "yaml"] as const;
export type ErrorFormat = (typeof ERROR_FORMATS)[number];
/** `--error-format`'s line in every `--help` and in completion. */
export const ERROR_FORMAT_DESCRIPTION = "How errors are printed on stderr (json/yaml: datumctl's envelope, every stderr line machine-readable)";

export interface Failure {
  readonly code: number;
  readonly lines: readonly string[];
}

/** datumctl's envelope (docs/wire-facts.md#get-token-failures), keys in its order; empty ones are left out. */
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

/**
 * citty's own parse errors ("Invalid value for argument: --output (xml). Expected one of: …",
 * "Missing required argument: --name") as our usage error: a plain message and a hint, never the
 * whole help text in front of it. `command` is the command's display path, for the `--help` hint.
 */
export function cittyUsageError(err: Error, command?: string): UsageError {
  const text = stripAnsi(err.message).trim();
  const help = command ? `run '${command} --help' for usage` : undefined;
  const invalid = /^Invalid value for argument: (\S+) \((.*)\)\. Expected one of: (.*?)\.?$/.exec(text);
  if (invalid) return new UsageError(`invalid ${invalid[1]} "${invalid[2]}"`, `use one of: ${invalid[3]}`);
  const missing = /^Missing required (?:positional )?argument: (\S+?)\.?$/.exec(text);
  if (missing) return new UsageError(`${missing[1]} is required`, help);
  return new UsageError(lowerFirst(text).replace(/\.$/, ""), help);
}

export function isCittyError(err: unknown): err is Error {
  return err instanceof Error && err.name === "CLIError";
}

function envelopeOf(err: unknown): { envelope: Envelope; exit: number } {
  if (isCittyError(err)) err = cittyUsageError(err);
  if (err instanceof CliError) {
    const envelope: Envelope = {
      code: err.code,
      message: err.message,
      ...(err.hint ? { hint: err.hint } : {}),
      retryable: err.retryable,
      ...(err.details ? { details: err.details } : {}),
    };
    return { envelope, exit: err.exit };
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
  return { envelope, exit: Exit.runtime };
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text[0]!.toLowerCase() + text.slice(1) : text;
}

export function describeFailure(err: unknown, format: ErrorFormat = "human"): Failure {
  const { envelope, exit } = envelopeOf(err);
  switch (format) {
    case "json":
      return { code: exit, lines: [JSON.stringify({ error: envelope })] };
    case "yaml": {
      const text = Bun.YAML.stringify({ error: envelope }, null, 2).trimEnd();
      return { code: exit, lines: text.split("\n") };
    }
    case "human": {
      const lines = [`error: ${envelope.message}`];
      if (envelope.hint) lines.push(`hint: ${envelope.hint}`);
      if (envelope.details && (exit === Exit.runtime || exit === Exit.malformed)) lines.push(envelope.details);
      return { code: exit, lines };
    }
  }
}
