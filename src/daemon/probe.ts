/**
 * `tunnel status --name N --probe`: a health command for a container or an exec probe (no curl in
 * the image). Exit 0 only while the tunnel's process runs and its recorded verdict is "verified
 * ready" (run.json, src/listen/readiness.ts); otherwise the error says why, with the class of the
 * reason: 75 still starting, 69 degraded or stopping, 64 not running or never started.
 */
import { CliError, Rejected, StillProvisioning, Unreachable } from "../errors.ts";
import type { TunnelEntry } from "./inventory.ts";

export type ProbeFacts = Pick<TunnelEntry, "running" | "readiness" | "runError" | "status">;

/** null when ready; else the error `status --probe` exits with. */
export function probeVerdict(name: string, entry: ProbeFacts | undefined): CliError | null {
  if (!entry || entry.status === "never started") {
    return new Rejected(`tunnel "${name}" has never run here`, `start it with 'tunnel listen --name ${name} ...' or 'tunnel run --name ${name}'`, "not_found");
  }
  if (entry.runError) return entry.runError;
  const r = entry.readiness;
  if (entry.running && r?.ready) return null;
  if (!entry.running) {
    return new Rejected(`tunnel "${name}" is not running (${r?.reason ?? entry.status})`, `see 'tunnel status --name ${name}'`, "not_found");
  }
  if (!r || r.state === "starting") return new StillProvisioning(`tunnel "${name}" is not ready yet: ${r?.reason ?? "starting"}`);
  return new Unreachable(`tunnel "${name}" is not ready: ${r.reason}`, `see 'tunnel status --name ${name}'`);
}
