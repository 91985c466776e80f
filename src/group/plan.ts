/**
 * What a reload does (docs/groups.md#reload): the running group against the file, services matched by
 * name. Added services are created and enabled, removed ones disabled, changed ones updated in place, kept
 * ones not touched at all. What applies to the whole process (its name, project, session and health
 * address) cannot change while it runs: such a file is refused whole. Pure.
 */
import type { GroupFile, GroupService } from "./config.ts";

export interface RunningGroup {
  readonly name: string;
  readonly project: string | null;
  readonly session: string | null;
  readonly health: string | null;
  readonly services: readonly GroupService[];
}

export interface ServiceChange {
  readonly from: GroupService;
  readonly to: GroupService;
  /** The endpoint differs (the HTTPProxy's backend and the advertisement change). */
  readonly endpoint: boolean;
  /** The label differs (the HTTPProxy's annotation changes). */
  readonly label: boolean;
}

export type ReloadPlan =
  | {
      readonly ok: true;
      /** In the file's order. */
      readonly add: readonly GroupService[];
      /** In the running order. */
      readonly remove: readonly GroupService[];
      /** In the file's order. */
      readonly change: readonly ServiceChange[];
      /** In the file's order. */
      readonly keep: readonly GroupService[];
    }
  | { readonly ok: false; readonly message: string; readonly hint: string };

const PROCESS_WIDE = ["project", "session", "health"] as const;

export function planReload(running: RunningGroup, next: GroupFile): ReloadPlan {
  if (next.name !== running.name) {
    return {
      ok: false,
      message: `the file renames the group from "${running.name}" to "${next.name}"`,
      hint: "the group's name names its identity and state; to rename, stop the group and start the new file",
    };
  }
  const changed = PROCESS_WIDE.filter((key) => running[key] !== next[key]);
  if (changed.length > 0) {
    const what = changed.map((key) => `${key} (${shown(running[key])} → ${shown(next[key])})`);
    return {
      ok: false,
      message: `the file changes the group's ${joined(what)}, which cannot change while it runs`,
      hint: `${joined([...changed])} ${changed.length === 1 ? "applies" : "apply"} to the whole process: stop the group and start it again with the new file`,
    };
  }

  const before = new Map(running.services.map((s) => [s.name, s]));
  const names = new Set(next.services.map((s) => s.name));
  const add: GroupService[] = [];
  const change: ServiceChange[] = [];
  const keep: GroupService[] = [];
  for (const to of next.services) {
    const from = before.get(to.name);
    if (from === undefined) {
      add.push(to);
      continue;
    }
    const endpoint = from.endpoint !== to.endpoint;
    const label = from.label !== to.label;
    if (endpoint || label) change.push({ from, to, endpoint, label });
    else keep.push(to);
  }
  const remove = running.services.filter((s) => !names.has(s.name));
  return { ok: true, add, remove, change, keep };
}

function shown(value: string | null): string {
  return value === null ? "none" : `"${value}"`;
}

function joined(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
