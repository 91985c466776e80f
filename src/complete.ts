/**
 * Cobra's completion protocol (docs/wire-facts.md#completion): datumctl forwards
 * `datumctl __complete connect <words...>` as `__complete <words...>`. We print one candidate per
 * line (`value<TAB>description`), then `:<directive>`. Diagnostics go to stderr only.
 */
import type { CommandMeta } from "citty";
import { flagTable, resolveCommand, resolveValue, subCommandsOf } from "./commands/resolve.ts";
import { root } from "./commands/root.ts";
import { writeStdout } from "./stdout.ts";

/** Cobra ShellCompDirective bits. */
export const Directive = { error: 1, noSpace: 2, noFileComp: 4, filterExt: 8, filterDirs: 16, keepOrder: 32 } as const;

export interface Completion {
  readonly candidates: readonly { value: string; description?: string }[];
  readonly directive: number;
}

export async function completionsFor(words: readonly string[]): Promise<Completion> {
  const toComplete = words.at(-1) ?? "";
  const before = words.slice(0, -1);
  const resolved = await resolveCommand(root, before);
  if (resolved.unknown !== undefined) return { candidates: [], directive: Directive.noFileComp };

  const flags = await flagTable(resolved.cmd);
  // The value of the flag just before the cursor.
  const previous = before.at(-1);
  if (previous?.startsWith("-") && !previous.includes("=")) {
    const info = flags.get(previous);
    if (info && (info.def.type === "string" || info.def.type === "enum")) {
      const options = info.def.type === "enum" ? (info.def.options ?? []) : [];
      return {
        candidates: options.filter((o) => o.startsWith(toComplete)).map((value) => ({ value })),
        directive: Directive.noFileComp,
      };
    }
  }

  if (toComplete.startsWith("-")) {
    const seen = new Set<string>();
    const candidates: { value: string; description?: string }[] = [];
    for (const [name, info] of flags) {
      if (!name.startsWith(toComplete) || name.startsWith("--no-") || seen.has(info.canonical)) continue;
      if (name !== info.canonical && name.startsWith("--")) continue;
      seen.add(info.canonical);
      const description = info.def.description;
      candidates.push(description ? { value: name, description } : { value: name });
    }
    return { candidates, directive: Directive.noFileComp };
  }

  const subs = await subCommandsOf(resolved.cmd);
  if (!subs) return { candidates: [], directive: Directive.noFileComp };
  const candidates: { value: string; description?: string }[] = [];
  for (const [name, entry] of Object.entries(subs)) {
    if (!name.startsWith(toComplete)) continue;
    const cmd = await resolveValue(entry);
    const meta = cmd ? await resolveValue<CommandMeta>(cmd.meta) : undefined;
    if (meta?.hidden) continue;
    candidates.push(meta?.description ? { value: name, description: meta.description } : { value: name });
  }
  return { candidates, directive: Directive.noFileComp };
}

export function formatCompletion(completion: Completion, withDescriptions: boolean): string {
  const lines = completion.candidates.map((c) =>
    withDescriptions && c.description ? `${c.value}\t${c.description.split("\n")[0]}` : c.value,
  );
  lines.push(`:${completion.directive}`);
  return `${lines.join("\n")}\n`;
}

export async function complete(words: readonly string[], withDescriptions: boolean): Promise<number> {
  try {
    writeStdout(formatCompletion(await completionsFor(words), withDescriptions));
  } catch (err) {
    process.stderr.write(`completion failed: ${err instanceof Error ? err.message : String(err)}\n`);
    writeStdout(`:${Directive.error}\n`);
  }
  return 0;
}
