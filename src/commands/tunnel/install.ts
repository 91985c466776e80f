import { defineCommand } from "citty";
import { say } from "../../log.ts";
import { emit } from "../../output.ts";
import { installTunnel } from "../../service/install.ts";
import { serviceManager } from "../../service/platform.ts";
import { validateEndpoint } from "../../tunnel/endpoint.ts";
import { projectArg } from "../_args.ts";

export const install = defineCommand({
  meta: {
    name: "install",
    description: "Install a named tunnel as an OS service (systemd, launchd, Windows) that starts at boot and restarts on failure",
  },
  args: {
    name: { type: "string", description: "Tunnel name (the service is datumctl-connect-<scope>-<name>)", valueHint: "name", required: true },
    endpoint: { type: "string", description: "Local service to expose, e.g. 127.0.0.1:3000", valueHint: "host:port", required: true },
    label: { type: "string", description: "Display name (default: the endpoint)", valueHint: "label" },
    session: { type: "string", description: "datumctl session the service authenticates as (a service account for --system)", valueHint: "name", required: true },
    ...projectArg,
    system: { type: "boolean", description: "A system service (root; needs a service-account session) instead of a user service" },
    health: { type: "string", description: "Serve /livez, /readyz and /metrics on this address, e.g. 127.0.0.1:9090", valueHint: "host:port" },
  },
  async run({ args }) {
    validateEndpoint(args.endpoint);
    const manager = serviceManager();
    const system = args.system === true;
    const result = await installTunnel(
      { name: args.name, endpoint: args.endpoint, label: args.label, session: args.session, project: args.project, system, health: args.health },
      { manager, say },
    );
    for (const url of result.urls) emit(url);
    const flag = system ? " --system" : "";
    say(
      `Installed tunnel ${result.config.name} as ${manager.managerName} service ${result.spec.unit}${result.unitPath ? ` (${result.unitPath})` : ""}; ` +
        `it starts ${system ? "at boot" : "with your login"} and restarts on failure.`,
    );
    say(`status: tunnel status --name ${result.config.name}${flag} · logs: tunnel logs --name ${result.config.name}${flag} · remove: tunnel uninstall --name ${result.config.name}${flag}`);
  },
});
