/**
 * The README's commands table is what a new user reads first: it must name every command the CLI
 * has, and every flag of each (the notes under the table cover the flags every command shares).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandMeta } from "citty";
import { type AnyCommand, flagTable, resolveValue, subCommandsOf } from "../../../src/commands/resolve.ts";
import { root } from "../../../src/commands/root.ts";

const README = readFileSync(join(import.meta.dir, "..", "..", "..", "README.md"), "utf8");

/** The "## Commands" section: its table's first cells, and the notes after the table. */
function commandsSection(): { rows: string[]; notes: string } {
  const start = README.indexOf("## Commands");
  const section = README.slice(start, README.indexOf("\n## ", start + 1));
  const lines = section.split("\n");
  const rows = lines.filter((l) => l.startsWith("| `")).map((l) => (l.split(/(?<!\\)\|/)[1] ?? "").replace(/\\\|/g, "|"));
  const last = lines.findLastIndex((l) => l.startsWith("|"));
  return { rows, notes: lines.slice(last + 1).join("\n") };
}

async function leafCommands(cmd: AnyCommand, path: string[] = []): Promise<{ path: string; cmd: AnyCommand }[]> {
  const subs = await subCommandsOf(cmd);
  if (!subs) return [{ path: path.join(" "), cmd }];
  const out: { path: string; cmd: AnyCommand }[] = [];
  for (const [name, entry] of Object.entries(subs)) {
    const sub = (await resolveValue(entry)) as AnyCommand;
    if ((await resolveValue<CommandMeta>(sub.meta))?.hidden) continue;
    out.push(...(await leafCommands(sub, [...path, name])));
  }
  return out;
}

function mentions(text: string, flag: string, aliases: string[]): boolean {
  return [flag, ...aliases].some((f) => new RegExp(`(^|[\\s\\[\`(/])${f.replace(/-/g, "\\-")}(?![a-z-])`).test(text));
}

describe("README commands table", async () => {
  const { rows, notes } = commandsSection();
  const leaves = await leafCommands(root);

  test.each(leaves.map((l) => [l.path, l.cmd] as const))("%s is in it, with every flag", async (path, cmd) => {
    const own = rows.filter((r) => r.includes(`\`${path} `) || r.includes(`\`${path}\``));
    expect(own.length).toBeGreaterThan(0);
    const text = own.join("\n");
    const table = await flagTable(cmd);
    const byCanonical = new Map<string, string[]>();
    for (const [name, info] of table) {
      const aliases = byCanonical.get(info.canonical) ?? [];
      if (/^-[a-z]$/.test(name)) aliases.push(name);
      byCanonical.set(info.canonical, aliases);
    }
    const missing = [...byCanonical].filter(([flag, aliases]) => !mentions(text, flag, aliases) && !mentions(notes, flag, []));
    expect(missing.map(([flag]) => flag)).toEqual([]);
  });
});

describe("the hand-run commands we print", () => {
  test("the demo's closing hint runs the checkout's launcher, which exists", () => {
    const demo = readFileSync(join(import.meta.dir, "..", "..", "..", "scripts", "demo.ts"), "utf8");
    expect(demo).toContain("bin/datumctl-connect dev cloud --env-file");
    expect(existsSync(join(import.meta.dir, "..", "..", "..", "bin", "datumctl-connect"))).toBe(true);
  });

  // `npx datumctl-connect dev cloud --env-file F` fails: npm takes `--env-file` for itself.
  test.each(["README.md", "scripts/demo.ts"])("%s always puts `--` after npx", (file) => {
    const text = readFileSync(join(import.meta.dir, "..", "..", "..", file), "utf8");
    expect(text.match(/npx datumctl-connect[^\n]*/g) ?? []).toEqual([]);
  });
});
