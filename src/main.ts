/**
 * Our own entry around citty's `runCommand`: citty's `runMain` ends every failure
 * with exit 1, and we need our own codes (README.md#exit-codes). This file resolves the command, rejects
 * unknown flags (citty's parser is lenient), answers `--help`, runs the command and renders any failure
 * through the pure `describeFailure`.
 */
import { renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import { cittyUsageError, describeFailure, ERROR_FORMAT_DESCRIPTION, ERROR_FORMATS, isCittyError, stripAnsi, type ErrorFormat } from "./failure.ts";
import { resolveCommand, unknownFlags, type ResolvedCommand } from "./commands/resolve.ts";
import { root } from "./commands/root.ts";
import { UsageError } from "./errors.ts";
import { writeStdout } from "./stdout.ts";
import { VERSION } from "./version.ts";

/** Pull `--error-format X` / `--error-format=X` (also `--error_format`) out of argv: it applies to every command. */
export function extractErrorFormat(argv: readonly string[]): { format: ErrorFormat; rest: string[]; invalid?: string } {
  const rest: string[] = [];
  let format: ErrorFormat = "human";
  let invalid: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    let value: string | undefined;
    if (arg === "--error-format" || arg === "--error_format") {
      value = argv[i + 1] ?? "";
      i++;
    } else if (arg.startsWith("--error-format=") || arg.startsWith("--error_format=")) {
      value = arg.slice(arg.indexOf("=") + 1);
    } else {
      rest.push(arg);
      continue;
    }
    if ((ERROR_FORMATS as readonly string[]).includes(value)) format = value as ErrorFormat;
    else invalid = value;
  }
  return invalid === undefined ? { format, rest } : { format, rest, invalid };
}

/** The flags every command takes (pulled out of argv before citty sees it): shown in every `--help`. */
export const GLOBAL_OPTIONS_HELP = ["GLOBAL OPTIONS", "", `  --error-format=<${ERROR_FORMATS.join("|")}>    ${ERROR_FORMAT_DESCRIPTION} (Default: human)`];

/** citty's usage text, without colour unless the stream is a terminal (citty only checks NO_COLOR/CI). */
async function usageOf(resolved: ResolvedCommand, color: boolean): Promise<string> {
  const text = await renderUsage(resolved.cmd as CommandDef<ArgsDef>, resolved.parent as CommandDef<ArgsDef> | undefined);
  const plain = color && !process.env.NO_COLOR ? text : stripAnsi(text);
  const lines = plain.split("\n").map((line) => line.trimEnd());
  while (lines.length > 0 && lines.at(-1) === "") lines.pop();
  // A command may explain more than its flags (`tunnel up`: the file it reads).
  const epilog = (resolved.cmd as { readonly epilog?: unknown }).epilog;
  const more = typeof epilog === "string" ? ["", ...epilog.split("\n")] : [];
  return `${[...lines, ...more, "", ...GLOBAL_OPTIONS_HELP].join("\n")}\n`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const { format, rest, invalid } = extractErrorFormat(argv);
  // Under json/yaml every stderr line is machine-readable, the envelope last (src/stderr-format.ts).
  const structured =
    invalid === undefined && format !== "human"
      ? (await import("./stderr-format.ts")).installStructuredStderr(format, (await import("./log.ts")).log)
      : undefined;
  const writeLines = (lines: readonly string[]) => {
    const text = lines.map((line) => `${line}\n`).join("");
    if (structured) structured.raw(text);
    else process.stderr.write(text);
  };
  if (invalid !== undefined) {
    const failure = describeFailure(
      new UsageError(`invalid --error-format "${invalid}"`, `use one of: ${ERROR_FORMATS.join(", ")}`),
      "human",
    );
    writeLines(failure.lines);
    return failure.code;
  }

  let resolved: ResolvedCommand | undefined;
  try {
    if (rest.length === 1 && (rest[0] === "--version" || rest[0] === "-v")) {
      writeStdout(`${VERSION}\n`);
      return 0;
    }
    resolved = await resolveCommand(root, rest);
    if (resolved.help || resolved.missingSubcommand) {
      // A command group without a subcommand prints its help and succeeds, as Cobra does.
      writeStdout(await usageOf(resolved, process.stdout.isTTY === true));
      return 0;
    }
    if (resolved.unknown !== undefined) {
      throw new UsageError(`unknown command "${resolved.unknown}" for "${resolved.path.join(" ")}"`, resolved.suggestion
        ? `did you mean "${resolved.suggestion}"? Run '${resolved.path.join(" ")} --help' for usage.`
        : `run '${resolved.path.join(" ")} --help' for usage`);
    }
    const unknown = await unknownFlags(resolved.cmd, resolved.rest);
    if (unknown.length > 0) {
      const [first] = unknown;
      throw new UsageError(`unknown flag: ${first?.flag}`, first?.suggestion
        ? `did you mean ${first.suggestion}? Run '${resolved.path.join(" ")} --help' for usage.`
        : `run '${resolved.path.join(" ")} --help' for usage`);
    }
    await runCommand(root, { rawArgs: rest });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // citty's parse errors get a `--help` hint, not the whole help text in front of them.
    const failure = describeFailure(isCittyError(err) ? cittyUsageError(err, resolved?.path.join(" ")) : err, format);
    writeLines(failure.lines);
    return failure.code;
  }
}
