/**
 * The per-identity allow-list, `state.yml` (docs/wire-facts.md#local-files): which local host:port pairs the
 * data plane may forward to, one entry per tunnel, keyed by the HTTPProxy name. The file keeps the
 * upstream layout so state written by the Rust agent reads here and back.
 *
 * The edits are pure functions over entries; the file functions read with validation (a corrupt
 * file is `Malformed`, exit 65, naming the path) and write atomically.
 */
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import type { AllowListEntry } from "../../workers/messages.ts";
import { Malformed } from "../errors.ts";
import { isCode, writeFileAtomic } from "./atomic-write.ts";
import { oneAtATime } from "./one-at-a-time.ts";

/** One entry of `state.yml`: the data plane's entry (its `id` the tunnel's HTTPProxy name), plus a label. */
export interface AllowEntry extends AllowListEntry {
  readonly label?: string;
}

const FileEntry = v.looseObject({
  info: v.looseObject({
    resource_id: v.pipe(v.string(), v.minLength(1)),
    label: v.optional(v.nullable(v.string())),
    data: v.looseObject({
      host: v.pipe(v.string(), v.minLength(1)),
      port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
    }),
  }),
  enabled: v.boolean(),
});

const AllowListFile = v.nullable(v.looseObject({ proxies: v.optional(v.nullable(v.array(FileEntry))) }));

// ---------- pure edits ----------

function sameTarget(a: AllowEntry, b: AllowEntry): boolean {
  return a.port === b.port && a.host.toLowerCase() === b.host.toLowerCase();
}

/**
 * Drop entries that point at the same host:port as tunnel `id` but belong to another id: left over
 * from a tunnel recreated for the same endpoint, they would keep the origin reachable through a
 * tunnel the user disabled or deleted (docs/wire-facts.md#allow-list).
 */
export function pruneSharedTargets(entries: readonly AllowEntry[], id: string): AllowEntry[] {
  const keep = entries.find((e) => e.id === id);
  if (!keep) return [...entries];
  return entries.filter((e) => e.id === id || !sameTarget(e, keep));
}

/** Insert or replace the entry for `entry.id` (keeping its position), then prune stale twins. */
export function upsertEntry(entries: readonly AllowEntry[], entry: AllowEntry): AllowEntry[] {
  const index = entries.findIndex((e) => e.id === entry.id);
  const next = index < 0 ? [...entries, entry] : entries.map((e, i) => (i === index ? entry : e));
  return pruneSharedTargets(next, entry.id);
}

/** Flip `enabled` of an existing entry; unknown ids leave the list unchanged. */
export function setEntryEnabled(entries: readonly AllowEntry[], id: string, enabled: boolean): AllowEntry[] {
  return entries.map((e) => (e.id === id ? { ...e, enabled } : e));
}

export function removeEntry(entries: readonly AllowEntry[], id: string): AllowEntry[] {
  return entries.filter((e) => e.id !== id);
}

// ---------- the file ----------

export function parseAllowList(text: string, path: string): AllowEntry[] {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (err) {
    throw corrupt(path, `not YAML: ${(err as Error).message}`);
  }
  const parsed = v.safeParse(AllowListFile, doc);
  if (!parsed.success) throw corrupt(path, v.summarize(parsed.issues));
  return (parsed.output?.proxies ?? []).map((p) => ({
    id: p.info.resource_id,
    ...(p.info.label != null ? { label: p.info.label } : {}),
    host: p.info.data.host,
    port: p.info.data.port,
    enabled: p.enabled,
  }));
}

export function serializeAllowList(entries: readonly AllowEntry[]): string {
  const doc = {
    proxies: entries.map((e) => ({
      info: { resource_id: e.id, label: e.label ?? null, data: { host: e.host, port: e.port } },
      enabled: e.enabled,
    })),
  };
  return `${Bun.YAML.stringify(doc, null, 2)}\n`;
}

/** The entries of `path`; a missing file is an empty list. */
export async function readAllowList(path: string): Promise<AllowEntry[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (isCode(err, "ENOENT")) return [];
    throw err;
  }
  return parseAllowList(text, path);
}

export async function writeAllowList(path: string, entries: readonly AllowEntry[]): Promise<void> {
  await writeFileAtomic(path, serializeAllowList(entries));
}

/** Read, apply `edit`, write back atomically (one edit of the file at a time); returns the new entries. */
export function updateAllowList(
  path: string,
  edit: (entries: AllowEntry[]) => AllowEntry[],
): Promise<AllowEntry[]> {
  return oneAtATime(path, async () => {
    const next = edit(await readAllowList(path));
    await writeAllowList(path, next);
    return next;
  });
}

function corrupt(path: string, details: string): Malformed {
  return new Malformed(
    `Allow-list ${path} is corrupt`,
    "fix or remove the file; it is rebuilt as tunnels are created, enabled or updated",
    details,
  );
}
