import { defineCommand } from "citty";
import { say, warn } from "../../log.ts";
import { emit, formatJson } from "../../output.ts";
import { serviceManager } from "../../service/platform.ts";
import { uninstallTunnel } from "../../service/uninstall.ts";
import { assertSafeName } from "../../state/paths.ts";

export const uninstall = defineCommand({
  meta: { name: "uninstall", description: "Stop and remove a tunnel service and its local state (--purge: also delete the tunnel from Datum)" },
  args: {
    name: { type: "string", description: "Tunnel or group name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel (installed with --system)" },
    purge: { type: "boolean", description: "Also delete the tunnel (a group: each tunnel it recorded that is still on its Connector), and this device's unused Connector, from the control plane" },
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
    const purged = result.purged;
    if (purged && "id" in purged) parts.push(`deleted tunnel ${purged.id} from the control plane${purged.connectorDeleted ? " (and this device's Connector)" : ""}`);
    if (purged && "deleted" in purged && purged.deleted.length > 0) {
      const list = purged.deleted.map((t) => `${t.id} (${t.service})`).join(", ");
      parts.push(`deleted ${purged.deleted.length === 1 ? "tunnel" : "tunnels"} ${list} from the control plane${purged.connectorDeleted ? " (and this device's Connector)" : ""}`);
    }
    const what = result.group ? "group" : "tunnel";
    emit(`Uninstalled ${what} ${name}: ${parts.join("; ")}`);
    if (purged && "skipped" in purged) say(`Nothing to purge from the control plane: ${purged.skipped}.`);
    if (purged && "kept" in purged) for (const t of purged.kept) say(`Left tunnel ${t.id} (${t.service}) in Datum: ${t.reason}.`);
    if (!result.service) say(`(${what} ${name} was not installed as a service)`);
    if (!args.purge && result.service) {
      say(`${result.group ? "The group's tunnels stay" : "The tunnel stays"} defined in Datum (disabled); 'tunnel list' shows ${result.group ? "them" : "it"}, 'tunnel delete --id <id>' removes ${result.group ? "one" : "it"}.`);
    }
  },
});
