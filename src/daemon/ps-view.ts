/**
 * `tunnel ps`'s rows, documents and notes, from the inventory (inventory.ts). Pure: the clock and
 * the environment are parameters, so the layout is tested with fixed entries.
 *
 * A group (docs/groups.md) is one row: NAME the group, URL its first service's URL and how many
 * more it has, SERVICES how many of its services are verified ready. `--wide` adds one row per
 * service under its group (`web-stack/app`), which has no PID or uptime of its own.
 */
import { publicUrl } from "../listen/lines.ts";
import type { Column } from "../output.ts";
import { groupUrls, readyCount, type ServiceEntry } from "./group-entry.ts";
import type { TunnelEntry } from "./inventory.ts";
import { formatDuration } from "./uptime.ts";

export type PsRow = { readonly kind: "tunnel"; readonly entry: TunnelEntry } | { readonly kind: "service"; readonly entry: TunnelEntry; readonly service: ServiceEntry };

type Env = Readonly<Record<string, string | undefined>>;

export function entryName(e: TunnelEntry): string {
  return e.name ?? `(project ${e.project})`;
}

/** The URLs the tunnel or group recorded (as its verifier probes them); older files only have hostnames. */
export function entryUrls(e: TunnelEntry, env: Env): string[] {
  if (e.group) return groupUrls(e.group);
  const run = e.run;
  if (!run) return [];
  return run.publicUrls.length > 0 ? [...run.publicUrls] : run.hostnames.map((h) => publicUrl(h, env));
}

/** The URL cell: the first URL, and for a group how many more it has. */
export function urlCell(e: TunnelEntry, env: Env): string {
  const urls = entryUrls(e, env);
  const [first] = urls;
  if (first === undefined) return "-";
  return e.group && urls.length > 1 ? `${first} (+${urls.length - 1} more)` : first;
}

export function psRows(entries: readonly TunnelEntry[], wide: boolean): PsRow[] {
  return entries.flatMap((entry): PsRow[] => [
    { kind: "tunnel", entry },
    ...(wide && entry.group ? entry.group.services.map((service): PsRow => ({ kind: "service", entry, service })) : []),
  ]);
}

export function psColumns(now: number, env: Env): Column<PsRow>[] {
  const live = (r: PsRow) => (r.kind === "tunnel" && r.entry.running ? r.entry.run : undefined);
  return [
    { header: "NAME", value: (r) => (r.kind === "tunnel" ? entryName(r.entry) : `${entryName(r.entry)}/${r.service.name}`) },
    { header: "PID", value: (r) => String(live(r)?.pid ?? "-") },
    { header: "STATUS", value: (r) => (r.kind === "tunnel" ? r.entry.status : r.service.status) },
    // A group whose file cannot be read (reported after the table) has no count to give.
    { header: "SERVICES", value: (r) => (r.kind === "tunnel" && r.entry.group ? (r.entry.groupError ? "?" : readyCount(r.entry.group)) : "-") },
    { header: "URL", value: (r) => (r.kind === "tunnel" ? urlCell(r.entry, env) : (r.service.urls[0] ?? "-")) },
    { header: "ENDPOINT ID", value: (r) => (r.kind === "tunnel" && r.entry.run?.endpointId ? r.entry.run.endpointId.slice(0, 12) : "-") },
    {
      header: "UPTIME",
      value: (r) => {
        const run = live(r);
        return run ? formatDuration(now - Date.parse(run.startedAt)) : "-";
      },
    },
  ];
}

/** A group's service in the JSON/YAML form. */
export function serviceDocument(s: ServiceEntry) {
  return { name: s.name, status: s.status, url: s.urls[0] ?? null, tunnelId: s.tunnelId, endpoint: s.endpoint, readiness: s.readiness ?? null };
}

/** The JSON/YAML form: everything `ps` knows, including a dead daemon's last error; a group adds its services. */
export function psDocument(e: TunnelEntry, env: Env) {
  return {
    name: e.name,
    project: e.project,
    status: e.status,
    pid: e.run?.pid ?? null,
    running: e.running,
    url: entryUrls(e, env)[0] ?? null,
    readiness: e.readiness ?? null,
    hostnames: e.run?.hostnames ?? [],
    tunnelId: e.run?.tunnelId ?? null,
    endpointId: e.run?.endpointId ?? null,
    startedAt: e.run?.startedAt ?? null,
    lastError: e.lastError,
    ...(e.group ? { services: e.group.services.map(serviceDocument) } : {}),
  };
}

/**
 * The stderr notes under the table: a dead daemon's last error, a degraded tunnel's reason, and
 * for a group each degraded service's (`web-stack/api: not ready: …`) instead of the group's
 * summary of them.
 */
export function psNotes(entries: readonly TunnelEntry[]): string[] {
  const notes: string[] = [];
  for (const e of entries) {
    const name = entryName(e);
    if (e.status === "dead" && e.lastError) {
      notes.push(`${name}: last error: ${e.lastError.message}`);
      continue;
    }
    if (e.status !== "degraded" && e.status !== "ready") continue;
    const services = (e.group?.services ?? []).filter((s) => s.status === "degraded" && s.readiness);
    for (const s of services) notes.push(`${name}/${s.name}: not ready: ${s.readiness?.reason}`);
    if (services.length === 0 && e.status === "degraded" && e.readiness) notes.push(`${name}: not ready: ${e.readiness.reason}`);
  }
  return notes;
}
