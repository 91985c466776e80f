/**
 * What `ps`, `status` and `/metrics`' readers say about a group's services (docs/groups.md): each
 * service's observed status, readiness and URL, from the group's `run.json` (or, before it first
 * ran, from its `group.yaml`). Pure, so every case is a row in a table test.
 *
 * A service's own verdict holds only while the group's process runs; once it is gone every
 * service is as stopped, failed or dead as the group (src/listen/readiness.ts observedReadiness).
 */
import { publicUrl } from "../listen/lines.ts";
import type { Readiness } from "../listen/readiness.ts";
import type { GroupRecord, LiveStatus, ServiceRecord } from "../state/run-state.ts";

export type EntryStatus = LiveStatus | "never started" | "unknown";

export interface ServiceEntry {
  readonly name: string;
  readonly status: EntryStatus;
  /** The service's verdict while the group runs; the group's own (how it ended) once it is gone. */
  readonly readiness: Readiness | undefined;
  /** Its public URLs (as the verifier probes them); hostnames under the URL template in older files. */
  readonly urls: readonly string[];
  readonly tunnelId: string | null;
  readonly endpoint: string | null;
  readonly label: string | null;
  /** The recorded service (absent before the group first ran). */
  readonly record: ServiceRecord | undefined;
}

export interface GroupEntry {
  /** The group's file in its state directory. */
  readonly file: string;
  /** The file it was copied from, when known. */
  readonly source: string | null;
  readonly lastReload: GroupRecord["lastReload"];
  readonly services: readonly ServiceEntry[];
}

/** A service as the group's file declares it (src/group/config.ts GroupService). */
export interface DeclaredService {
  readonly name: string;
  readonly endpoint: string;
  readonly label: string;
}

export interface GroupFacts {
  readonly running: boolean;
  /** The group's own observed status and readiness (inventory.ts). */
  readonly status: EntryStatus;
  readonly readiness: Readiness | undefined;
  readonly services: readonly ServiceRecord[] | undefined;
  readonly group: GroupRecord | undefined;
  /** `tunnels/<G>/group.yaml`. */
  readonly file: string;
  /** The file's services, read only when run.json has none yet. */
  readonly declared: readonly DeclaredService[] | undefined;
  /** For `DATUM_CONNECT_PUBLIC_URL` (src/listen/lines.ts publicUrl). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A running service's verdict; files older than `state` get it from `ready` and `readyAt`. */
function runningVerdict(r: ServiceRecord): Readiness {
  const { ready, reason } = r.readiness;
  return { ready, reason, state: r.readiness.state ?? (ready ? "ready" : r.readyAt ? "degraded" : "starting") };
}

function recorded(r: ServiceRecord, f: GroupFacts): ServiceEntry {
  let readiness: Readiness | undefined;
  let status: EntryStatus;
  if (f.running && f.status !== "stopping") {
    readiness = runningVerdict(r);
    status = readiness.state;
  } else {
    // A copy: one object shared by several documents would be written as YAML anchors and aliases.
    readiness = f.readiness && { ...f.readiness };
    status = f.status;
  }
  const urls = r.publicUrls.length > 0 ? r.publicUrls : r.hostnames.map((h) => publicUrl(h, f.env));
  return { name: r.name, status, readiness, urls, tunnelId: r.tunnelId, endpoint: r.endpoint, label: r.label, record: r };
}

function declared(d: DeclaredService, f: GroupFacts): ServiceEntry {
  return { name: d.name, status: f.status, readiness: undefined, urls: [], tunnelId: null, endpoint: d.endpoint, label: d.label, record: undefined };
}

export function groupEntry(f: GroupFacts): GroupEntry {
  const services = f.services ? f.services.map((r) => recorded(r, f)) : (f.declared ?? []).map((d) => declared(d, f));
  return { file: f.group?.file ?? f.file, source: f.group?.source ?? null, lastReload: f.group?.lastReload ?? null, services };
}

/** `2/3 ready`: services verified ready now, of all. */
export function readyCount(g: GroupEntry): string {
  return `${g.services.filter((s) => s.readiness?.ready === true && s.status === "ready").length}/${g.services.length} ready`;
}

/** Every public URL of the group, service by service. */
export function groupUrls(g: GroupEntry): string[] {
  return g.services.flatMap((s) => s.urls);
}
