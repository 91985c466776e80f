/**
 * datumctl's command line as Cobra/pflag parse it, for the commands the double implements
 * (docs/wire-facts.md#credentials-helper): `auth get-token [--session S] [-o FORMAT]` plus the global
 * `--error-format` and the hidden `-v`. Pure; `main.ts` acts on the result.
 *
 * pflag rules reproduced: `--flag value`, `--flag=value`, `-o value`, `-ovalue`, `-o=value`; a
 * value-taking flag consumes the next argument whatever it looks like; `--` ends flags; flags may
 * sit anywhere, before or after the command words; `_` in long names is read as `-`
 * (`--error_format`).
 */

export type ErrorFormat = "human" | "json" | "yaml";

export interface ParsedArgs {
  positionals: string[];
  session?: string;
  output?: string;
  errorFormat: ErrorFormat;
  verbosity?: string;
  help: boolean;
}

export type ParseResult = { ok: true; args: ParsedArgs } | { ok: false; error: string; errorFormat: ErrorFormat };

interface ParseOptions {
  /** `bad-flag` mode: behave like a datumctl older than v0.14.0, which has no `--session`. */
  withoutSession?: boolean;
}

const LONG_VALUE_FLAGS = new Set(["session", "output", "error-format", "v"]);
const SHORT_VALUE_FLAGS: Record<string, string> = { o: "output", v: "v" };

function toErrorFormat(value: string | undefined): ErrorFormat {
  return value === "json" || value === "yaml" ? value : "human";
}

export function parseArgs(argv: readonly string[], options: ParseOptions = {}): ParseResult {
  const positionals: string[] = [];
  const values: Record<string, string> = {};
  let help = false;
  const fail = (error: string): ParseResult => ({ ok: false, error, errorFormat: toErrorFormat(values["error-format"]) });
  const knownLong = (name: string) => LONG_VALUE_FLAGS.has(name) && !(options.withoutSession && name === "session");

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = (eq >= 0 ? arg.slice(2, eq) : arg.slice(2)).replace(/_/g, "-");
      if (name === "help") {
        help = true;
        continue;
      }
      if (!knownLong(name)) return fail(`unknown flag: --${name}`);
      if (eq >= 0) {
        values[name] = arg.slice(eq + 1);
      } else {
        const next = argv[i + 1];
        if (next === undefined) return fail(`flag needs an argument: --${name}`);
        values[name] = next;
        i++;
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      const shorts = arg.slice(1);
      for (let j = 0; j < shorts.length; j++) {
        const c = shorts[j] as string;
        if (c === "h") {
          help = true;
          continue;
        }
        const long = SHORT_VALUE_FLAGS[c];
        if (!long) return fail(`unknown shorthand flag: '${c}' in ${arg}`);
        const rest = shorts.slice(j + 1);
        if (rest !== "") {
          values[long] = rest.startsWith("=") ? rest.slice(1) : rest;
        } else {
          const next = argv[i + 1];
          if (next === undefined) return fail(`flag needs an argument: '${c}' in -${c}`);
          values[long] = next;
          i++;
        }
        break;
      }
      continue;
    }
    positionals.push(arg);
  }

  const args: ParsedArgs = { positionals, errorFormat: toErrorFormat(values["error-format"]), help };
  if (values.session !== undefined) args.session = values.session;
  if (values.output !== undefined) args.output = values.output;
  if (values.v !== undefined) args.verbosity = values.v;
  return { ok: true, args };
}

export const GET_TOKEN_USAGE = `Usage:
  datumctl auth get-token [flags]

Flags:
  -h, --help             help for get-token
  -o, --output string    Output format: token or client.authentication.k8s.io/v1 (default "token")
      --session string   Session name to use (default: the active login)

Global Flags:
      --error-format string   Error output format: human, json or yaml (default "human")
`;

/** Usage as an older datumctl without `--session` prints it (`bad-flag` mode). */
export const GET_TOKEN_USAGE_WITHOUT_SESSION = GET_TOKEN_USAGE.replace(/ {6}--session string.*\n/, "");
