/**
 * Small shared pieces of the fault-injection e2e tests (faults-control-plane, faults-credentials):
 * bounded waiting, the local Datum's state and request log seen through its admin API, the datumctl
 * double's helper calls, and a test-side control-plane client with its own fixed bearer.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ControlPlaneClient } from "../../src/controlplane/client.ts";
import { readCallLog, type CallRecord } from "../../src/devcloud/datumctl-double/call-log.ts";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import type { DoubleState } from "../../src/devcloud/datumctl-double/state.ts";
import type { RunState } from "../../src/state/run-state.ts";
import type { LocalDatum } from "./local-datum.ts";
export { pidExists, until } from "./wait.ts";

export const PROJECT = "local-project";

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface Obj {
  metadata: { name: string };
  spec?: Record<string, unknown>;
  status?: { conditions?: Condition[] };
}

export interface Logged {
  seq: number;
  time: string;
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  faults?: string[];
}

/** The project's objects by plural, from `GET /_dev/state` (never subject to fault rules). */
export async function projectState(datum: LocalDatum, project = PROJECT): Promise<Record<string, Obj[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, Record<string, Obj[]>> }).projects[project] ?? {};
}

export const readyStatus = (o: Obj | undefined): string | undefined => o?.status?.conditions?.find((c) => c.type === "Ready")?.status;

/** The local Datum's request log after `since`. */
export async function requests(datum: LocalDatum, since = 0): Promise<Logged[]> {
  const res = await datum.admin(`requests?since=${since}`);
  return ((await res.json()) as { items: Logged[] }).items;
}

export async function lastSeq(datum: LocalDatum): Promise<number> {
  return (await requests(datum)).at(-1)?.seq ?? 0;
}

export const isLeaseRenewal = (r: Logged): boolean => r.method === "PATCH" && /\/leases\/[^/]+$/.test(r.path);

/** Add fault rules; returns their ids. */
export async function addFault(datum: LocalDatum, rule: Record<string, unknown> | Record<string, unknown>[]): Promise<string[]> {
  const res = await datum.admin("faults", { body: rule });
  if (res.status !== 201) throw new Error(`fault rule refused: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { items: { id: string }[] }).items.map((r) => r.id);
}

export async function configure(datum: LocalDatum, patch: Record<string, unknown>): Promise<void> {
  const res = await datum.admin("config", { body: patch });
  if (res.status !== 200) throw new Error(`config refused: ${res.status} ${await res.text()}`);
}

/** Finished `auth get-token` calls of the double that started at or after `sinceMs` (epoch ms). */
export function helperCalls(datum: LocalDatum, sinceMs = 0): CallRecord[] {
  return readCallLog(datum.env.DATUMCTL_DOUBLE_LOG as string).calls.filter((c) => c.argv.includes("get-token") && c.startMs >= sinceMs);
}

/** Calls that started and never finished (killed by the plugin, or still running). */
export function unfinishedHelperCalls(datum: LocalDatum): CallRecord[] {
  return readCallLog(datum.env.DATUMCTL_DOUBLE_LOG as string).unfinished;
}

/** Change the double's session (the one `DATUM_SESSION` names) between calls. */
export function updateSession(datum: LocalDatum, change: (session: DoubleState["sessions"][string], state: DoubleState) => void): void {
  updateDoubleState(datum.env.DATUMCTL_DOUBLE_STATE as string, (s) => {
    const session = s.sessions[datum.env.DATUM_SESSION as string];
    if (!session) throw new Error("the double has no session for DATUM_SESSION");
    change(session, s);
  });
}

/** The test's own API client: any non-empty bearer is an identity to the local Datum. */
export function adminClient(datum: LocalDatum, project = PROJECT): ControlPlaneClient {
  const token = "faults-e2e-admin";
  return new ControlPlaneClient({ apiBase: datum.apiUrl, project, tokens: { token: async () => token, invalidate: async () => token }, notice: () => undefined });
}

/** `tunnels/<name>/` under the local Datum's `DATUM_CONNECT_DIR`. */
export function tunnelDirOf(datum: LocalDatum, name: string): string {
  return join(datum.env.DATUM_CONNECT_DIR as string, "tunnels", name);
}

export function readRun(datum: LocalDatum, name: string): RunState | undefined {
  try {
    return JSON.parse(readFileSync(join(tunnelDirOf(datum, name), "run.json"), "utf8")) as RunState;
  } catch {
    return undefined;
  }
}

/** The tunnel id `listen` printed (`  id: tunnel-…`). */
export function tunnelIdIn(stderr: string): string {
  const id = /^ {2}id: (tunnel-[a-z0-9]+)$/m.exec(stderr)?.[1];
  if (!id) throw new Error(`no tunnel id in listen's stderr:\n${stderr}`);
  return id;
}

/** A GET through the public URL on a fresh connection; `null` status for a transport error. */
export async function viaPublic(url: string, timeoutMs = 5_000): Promise<{ status: number | null; body: string; error?: string }> {
  try {
    const res = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: null, body: "", error: err instanceof Error ? err.message : String(err) };
  }
}

/** The first `run.json` below `root` (a state root of one machine), parsed; undefined while there is none. */
export function runJsonUnder<T = Record<string, unknown>>(root: string): T | undefined {
  const walk = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const found = walk(p);
        if (found) return found;
      } else if (e.name === "run.json") return p;
    }
    return undefined;
  };
  try {
    const path = walk(root);
    return path ? (JSON.parse(readFileSync(path, "utf8")) as T) : undefined;
  } catch {
    return undefined; // not there yet, or mid-rename
  }
}
