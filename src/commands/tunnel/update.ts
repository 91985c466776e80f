import { defineCommand } from "citty";
import { UsageError } from "../../errors.ts";
import { validateEndpoint } from "../../tunnel/endpoint.ts";
import { emit, render, type OutputFormat } from "../../output.ts";
import { idArg, outputArg, projectArg, sessionArg } from "../_args.ts";
import { openProject } from "../../tunnel/open-project.ts";
import { tunnelColumns, tunnelDocument } from "./_render.ts";

export const update = defineCommand({
  meta: { name: "update", description: "Change a tunnel's label or local endpoint" },
  args: {
    ...idArg,
    label: { type: "string", description: "New display name", valueHint: "label" },
    endpoint: { type: "string", description: "New local endpoint, e.g. 127.0.0.1:3000", valueHint: "host:port" },
    ...projectArg,
    ...sessionArg,
    ...outputArg,
  },
  async run({ args }) {
    if (args.label === undefined && args.endpoint === undefined) {
      throw new UsageError("nothing to update", "pass --label and/or --endpoint");
    }
    // Checked before the project is opened: nothing is requested for an endpoint the platform refuses.
    if (args.endpoint !== undefined) validateEndpoint(args.endpoint);
    const { service } = await openProject({ project: args.project, session: args.session });
    const changes: { label?: string; endpoint?: string } = {};
    if (args.label !== undefined) changes.label = args.label;
    if (args.endpoint !== undefined) changes.endpoint = args.endpoint;
    const tunnel = await service.update(args.id, changes);
    const format = args.output as OutputFormat;
    if (format !== "table") {
      emit(render(format, [tunnel], tunnelColumns, tunnelDocument(tunnel)));
      return;
    }
    const lines = [`Updated tunnel ${tunnel.id}:`, `  label: ${tunnel.label}`, `  endpoint: ${tunnel.endpoint}`, "  hostnames:"];
    for (const h of tunnel.hostnames) lines.push(`    ${h}`);
    emit(lines.join("\n"));
  },
});
