/**
 * Find the command an argv names, before citty runs it, so that `--help` shows the right usage,
 * an unknown subcommand or flag is a usage error (exit 2) with a did-you-mean, and completion can
 * walk the same tree. citty's own parser silently accepts unknown flags.
 */
import type { ArgDef, ArgsDef, CommandDef, CommandMeta, Resolvable, SubCommandsDef } from "citty";
import { ERROR_FORMAT_DESCRIPTION, ERROR_FORMATS } from "../failure.ts";

/** Any command, whatever its args (citty's `CommandDef` is invariant in them). */
// biome-ignore lint/suspicious/noExplicitAny: the tree holds commands of every argument shape
export type AnyCommand = CommandDef<any>;

export async function resolveValue<T>(value: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

export interface ResolvedCommand {
  readonly cmd: CommandDef<ArgsDef>;
  readonly parent: CommandDef<ArgsDef> | undefined;
  /** Display path, e.g. `["datumctl connect", "tunnel", "list"]`. */
  readonly path: readonly string[];
  /** Arguments after the command's name. */
  readonly rest: readonly string[];
  readonly help: boolean;
  readonly missingSubcommand: boolean;
  readonly unknown?: string;
  readonly suggestion?: string;
}

const HELP = new Set(["-h", "--help"]);

function beforeTerminator(args: readonly string[]): readonly string[] {
  const end = args.indexOf("--");
  return end === -1 ? args : args.slice(0, end);
}

export async function commandName(cmd: CommandDef<ArgsDef>, fallback: string): Promise<string> {
  const meta = await resolveValue<CommandMeta>(cmd.meta);
  return meta?.name ?? fallback;
}

export async function subCommandsOf(cmd: CommandDef<ArgsDef>): Promise<SubCommandsDef | undefined> {
  const subs = await resolveValue<SubCommandsDef>(cmd.subCommands);
  return subs && Object.keys(subs).length > 0 ? subs : undefined;
}

export async function resolveCommand(root: AnyCommand, argv: readonly string[]): Promise<ResolvedCommand> {
  let cmd = root;
  let parent: CommandDef<ArgsDef> | undefined;
  const path = [await commandName(root, "datumctl connect")];
  let i = 0;
  for (;;) {
    const subs = await subCommandsOf(cmd);
    if (!subs) break;
    const args = beforeTerminator(argv.slice(i));
    const offset = args.findIndex((a) => !a.startsWith("-"));
    const help = args.slice(0, offset === -1 ? args.length : offset).some((a) => HELP.has(a));
    if (offset === -1 || help) {
      return { cmd, parent, path, rest: argv.slice(i), help, missingSubcommand: !help };
    }
    const name = args[offset] as string;
    if (!Object.hasOwn(subs, name)) {
      const suggestion = closest(name, Object.keys(subs));
      return { cmd, parent, path, rest: argv.slice(i), help: false, missingSubcommand: false, unknown: name, ...(suggestion ? { suggestion } : {}) };
    }
    parent = cmd;
    cmd = (await resolveValue(subs[name] as Resolvable<CommandDef<ArgsDef>>)) as CommandDef<ArgsDef>;
    path.push(name);
    i += offset + 1;
  }
  const rest = argv.slice(i);
  return { cmd, parent, path, rest, help: beforeTerminator(rest).some((a) => HELP.has(a)), missingSubcommand: false };
}

interface FlagInfo {
  readonly def: ArgDef;
  readonly canonical: string;
}

function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

export async function flagTable(cmd: AnyCommand): Promise<Map<string, FlagInfo>> {
  const defs = (await resolveValue<ArgsDef>(cmd.args)) ?? {};
  const table = new Map<string, FlagInfo>();
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    const canonical = `--${kebab(name)}`;
    const names = [kebab(name), name, kebab(name).replace(/-/g, "_")];
    const aliases = "alias" in def && def.alias ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const n of names) table.set(`--${n}`, { def, canonical });
    for (const a of aliases) table.set(a.length === 1 ? `-${a}` : `--${a}`, { def, canonical });
    if (def.type === "boolean") table.set(`--no-${kebab(name)}`, { def, canonical });
  }
  // Global: `main` pulls it out of argv before any command sees it; listed here for completion.
  table.set("--error-format", { def: { type: "enum", options: [...ERROR_FORMATS], description: ERROR_FORMAT_DESCRIPTION }, canonical: "--error-format" });
  table.set("--error_format", { def: { type: "enum", options: [...ERROR_FORMATS] }, canonical: "--error-format" });
  table.set("--help", { def: { type: "boolean" }, canonical: "--help" });
  table.set("-h", { def: { type: "boolean" }, canonical: "--help" });
  return table;
}

export interface UnknownFlag {
  readonly flag: string;
  readonly suggestion?: string;
}

/** Flags in `rest` that the command does not declare. Values of string flags are skipped. */
export async function unknownFlags(cmd: AnyCommand, rest: readonly string[]): Promise<UnknownFlag[]> {
  const table = await flagTable(cmd);
  const unknown: UnknownFlag[] = [];
  const args = beforeTerminator(rest);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith("-") || arg === "-") continue;
    const eq = arg.indexOf("=");
    let name = eq === -1 ? arg : arg.slice(0, eq);
    // `-ojson`: a single-letter alias with its value attached.
    if (!arg.startsWith("--") && name.length > 2) name = name.slice(0, 2);
    const info = table.get(name);
    if (!info) {
      const suggestion = closest(name, [...new Set([...table.values()].map((f) => f.canonical))]);
      unknown.push(suggestion ? { flag: name, suggestion } : { flag: name });
      continue;
    }
    const takesValue = info.def.type === "string" || info.def.type === "enum";
    if (takesValue && eq === -1 && name === arg) i++;
  }
  return unknown;
}

/** The candidate within edit distance 2 of `input`, if exactly one is closest. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(input, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
