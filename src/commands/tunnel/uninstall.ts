import { defineCommand } from "citty";
import { say, warn } from "../../log.ts";
import { emit, formatJson } from "../../output.ts";
import { serviceManager } from "../../service/platform.ts";
import { uninstallTunnel } from "../../service/uninstall.ts";
import { assertSafeName } from "../../state/paths.ts";

export const uninstall = defineCommand({
  meta: { name: "uninstall", description: "Stop and remove a tunnel service and its local state (--purge: also delete the tunnel from Datum)" },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel (installed with --system)" },
    purge: { type: "boolean", description: "Also delete the tunnel (and this device's unused Connector) from the control plane" },
    output: { type: "enum", alias: "o", description: "Output format", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const manager = serviceManager();
    const result = await uninstallTunnel({ name, system: args.system === true, purge: args.purge === true }, { manager, say });
    if (args.output === "json") {
      emit(formatJson(result));
      return;
    }
    for (const p of result.problems) warn(p);
    const parts: string[] = [];
    if (result.service) parts.push(`removed ${manager.managerName} service ${result.unitPath ?? name}`);
    if (result.removedDir) parts.push(`deleted ${result.removedDir}`);
    if (result.purged && "id" in result.purged) parts.push(`deleted tunnel ${result.purged.id} from the control plane${result.purged.connectorDeleted ? " (and this device's Connector)" : ""}`);
    emit(`Uninstalled tunnel ${name}: ${parts.join("; ")}`);
    if (result.purged && "skipped" in result.purged) say(`Nothing to purge from the control plane: ${result.purged.skipped}.`);
    if (!result.service) say(`(tunnel ${name} was not installed as a service)`);
    if (!args.purge && result.service) say(`The tunnel stays defined in Datum (disabled); 'tunnel list' shows it, 'tunnel delete --id <id>' removes it.`);
  },
});
