/** `enable` and `disable` are one operation with a different switch. */
import { defineCommand } from "citty";
import { emit, render, type OutputFormat } from "../../output.ts";
import { idArg, outputArg, projectArg, sessionArg } from "../_args.ts";
import { openProject } from "../../tunnel/open-project.ts";
import { tunnelColumns, tunnelDocument } from "./_render.ts";

export function toggleCommand(enabled: boolean) {
  const verb = enabled ? "enable" : "disable";
  return defineCommand({
    meta: {
      name: verb,
      description: enabled
        ? "Advertise a tunnel again so the edge routes to this device"
        : "Stop advertising a tunnel; the edge answers 503 until it is enabled",
    },
    args: { ...idArg, ...projectArg, ...sessionArg, ...outputArg },
    async run({ args }) {
      const { service } = await openProject({ project: args.project, session: args.session });
      const tunnel = await service.setEnabled(args.id, enabled);
      const format = args.output as OutputFormat;
      if (format !== "table") emit(render(format, [tunnel], tunnelColumns, tunnelDocument(tunnel)));
      else emit(`${enabled ? "Enabled" : "Disabled"} tunnel ${tunnel.id}`);
    },
  });
}
