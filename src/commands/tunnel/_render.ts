/** How tunnels look on stdout: one table layout, one status word, used by every tunnel command. */
import type { Column } from "../../output.ts";
import type { TunnelSummary } from "../../tunnel/service.ts";

/** `ready` (accepted and programmed), `accepted`, `pending`, or `deleting` (docs/wire-facts.md#cli-lines). */
export function statusWord(t: TunnelSummary): string {
  if (t.deleting) return "deleting";
  if (t.accepted && t.programmed) return "ready";
  return t.accepted ? "accepted" : "pending";
}

export const tunnelColumns: readonly Column<TunnelSummary>[] = [
  { header: "ID", value: (t) => t.id },
  { header: "LABEL", value: (t) => t.label },
  { header: "ENDPOINT", value: (t) => t.endpoint },
  { header: "HOSTNAME", value: (t) => t.hostnames.join(",") || "<pending>" },
  { header: "STATUS", value: statusWord },
  { header: "ENABLED", value: (t) => (t.enabled ? "yes" : "no") },
  { header: "CONNECTOR", value: (t) => (t.connectorName ? `${t.connectorReady ? "ready" : "not ready"}` : "-") },
  { header: "DEVICE", value: (t) => t.deviceName ?? "-" },
];

/** The JSON/YAML shape of a tunnel: the summary plus its status word. */
export function tunnelDocument(t: TunnelSummary): TunnelSummary & { status: string } {
  return { ...t, status: statusWord(t) };
}
