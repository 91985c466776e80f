import { defineCommand } from "citty";
import { inventory, type TunnelEntry } from "../../daemon/inventory.ts";
import { formatDuration } from "../../daemon/uptime.ts";
import { publicUrl } from "../../listen/lines.ts";
import { emit, render, type Column, type OutputFormat } from "../../output.ts";
import { stateRoot } from "../../state/paths.ts";
import { outputArg } from "../_args.ts";

const columns: readonly Column<TunnelEntry>[] = [
  { header: "NAME", value: (e) => e.name ?? `(project ${e.project})` },
  { header: "PID", value: (e) => (e.running && e.run ? String(e.run.pid) : "-") },
  { header: "STATUS", value: (e) => e.status },
  { header: "URL", value: (e) => urlOf(e) ?? "-" },
  { header: "ENDPOINT ID", value: (e) => (e.run?.endpointId ? e.run.endpointId.slice(0, 12) : "-") },
  { header: "UPTIME", value: (e) => (e.running && e.run ? formatDuration(Date.now() - Date.parse(e.run.startedAt)) : "-") },
];

/** The URL the tunnel recorded (as its verifier probes it); older files only have hostnames. */
function urlOf(e: TunnelEntry): string | null {
  const host = e.run?.hostnames[0];
  return e.run?.publicUrls[0] ?? (host ? publicUrl(host, process.env) : null);
}

/** The JSON/YAML form: everything `ps` knows, including a dead daemon's last error. */
function document(e: TunnelEntry) {
  return {
    name: e.name,
    project: e.project,
    status: e.status,
    pid: e.run?.pid ?? null,
    running: e.running,
    url: urlOf(e),
    readiness: e.readiness ?? null,
    hostnames: e.run?.hostnames ?? [],
    tunnelId: e.run?.tunnelId ?? null,
    endpointId: e.run?.endpointId ?? null,
    startedAt: e.run?.startedAt ?? null,
    lastError: e.lastError,
  };
}

export const ps = defineCommand({
  meta: { name: "ps", description: "List this machine's tunnels: running, stopped and dead daemons" },
  args: { ...outputArg, system: { type: "boolean", description: "System-scope tunnels (services installed with --system)" } },
  async run({ args }) {
    const entries = await inventory(stateRoot(args.system ? "system" : "user"));
    const format = args.output as OutputFormat;
    if (format === "table" && entries.length === 0) {
      process.stderr.write("No tunnels on this machine. Start one with 'tunnel listen --detach --name <name> --endpoint <host:port>'.\n");
      return;
    }
    emit(render(format, entries, columns, entries.map(document)));
    if (format === "table") {
      for (const e of entries) {
        if (e.status === "dead" && e.lastError) process.stderr.write(`${e.name ?? `(project ${e.project})`}: last error: ${e.lastError.message}\n`);
        else if (e.status === "degraded" && e.readiness) process.stderr.write(`${e.name ?? `(project ${e.project})`}: not ready: ${e.readiness.reason}\n`);
      }
    }
    // A corrupt run.json is listed ("unknown") with the others, then reported: exit 65 naming the
    // file (docs/architecture.md#local-state), not a silent row nobody can explain.
    const broken = entries.find((e) => e.runError !== undefined);
    if (broken?.runError) throw broken.runError;
  },
});
