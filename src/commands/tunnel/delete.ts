import { defineCommand } from "citty";
import { emit, formatJson, formatYaml } from "../../output.ts";
import { idArg, outputArg, projectArg, sessionArg } from "../_args.ts";
import { openProject } from "../../tunnel/open-project.ts";

export const del = defineCommand({
  meta: { name: "delete", description: "Delete a tunnel (and this device's connector with its last tunnel)" },
  args: { ...idArg, ...projectArg, ...sessionArg, ...outputArg },
  async run({ args }) {
    const { service } = await openProject({ project: args.project, session: args.session });
    const outcome = await service.delete(args.id);
    const doc = { type: "tunnel_deleted", deleted: true, ...outcome };
    if (args.output === "json") emit(formatJson(doc));
    else if (args.output === "yaml") emit(formatYaml(doc));
    else emit(`Deleted tunnel ${args.id}${outcome.connectorDeleted ? ` (and connector ${outcome.connectorName})` : ""}`);
  },
});
