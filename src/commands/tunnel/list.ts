import { defineCommand } from "citty";
import { emit, render, type OutputFormat } from "../../output.ts";
import { outputArg, projectArg, sessionArg } from "../_args.ts";
import { openProject } from "../../tunnel/open-project.ts";
import { tunnelColumns, tunnelDocument } from "./_render.ts";

export const list = defineCommand({
  meta: { name: "list", description: "List the project's tunnels with their hostnames and state" },
  args: { ...projectArg, ...sessionArg, ...outputArg },
  async run({ args }) {
    const { service, context } = await openProject({ project: args.project, session: args.session, readOnly: true });
    const tunnels = await service.list();
    const format = args.output as OutputFormat;
    if (format === "table" && tunnels.length === 0) {
      process.stderr.write(`No tunnels found in project ${context.project}.\n`);
      return;
    }
    emit(render(format, tunnels, tunnelColumns, tunnels.map(tunnelDocument)));
  },
});
