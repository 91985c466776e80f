import { resolve } from "node:path";
import { defineCommand } from "citty";
import { UsageError } from "../../errors.ts";
import { readGroupFile } from "../../group/config.ts";
import { say } from "../../log.ts";
import { emit } from "../../output.ts";
import { groupInstallRequest, installTunnel, refuseSingleTunnelFlags, type InstallFlags, type InstallRequest } from "../../service/install.ts";
import { serviceManager } from "../../service/platform.ts";
import { validateEndpoint } from "../../tunnel/endpoint.ts";
import { projectArg } from "../_args.ts";

/** A path as one shell word, for the hint lines. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** `install -f FILE`, or one tunnel from `--name` and `--endpoint` (both then required). */
async function requestFor(args: InstallFlags & { file?: string | undefined }): Promise<InstallRequest> {
  if (args.file !== undefined) {
    refuseSingleTunnelFlags(args, args.file);
    // Parsed and validated whole (exit 65 naming the file) before anything else is checked or written.
    const { group, text } = await readGroupFile(args.file);
    return groupInstallRequest({ file: group, text, source: resolve(args.file) }, args, args.file);
  }
  const help = "run 'datumctl connect tunnel install --help' for usage";
  if (args.name === undefined) throw new UsageError("--name is required", `${help}; or install a group from its file with -f FILE`);
  if (args.endpoint === undefined) throw new UsageError("--endpoint is required", help);
  if (args.session === undefined) throw new UsageError("--session is required", "pass the datumctl session the service authenticates as (see 'datumctl auth list')");
  validateEndpoint(args.endpoint);
  return { name: args.name, endpoint: args.endpoint, label: args.label, session: args.session, project: args.project, system: args.system, health: args.health };
}

export const install = defineCommand({
  meta: {
    name: "install",
    description:
      "Install a named tunnel, or a group of tunnels from its file (-f), as an OS service (systemd, launchd, Windows) that starts at boot and restarts on failure",
  },
  args: {
    file: {
      type: "string",
      alias: "f",
      description:
        "Install the group this file describes (README.md#groups) instead of one tunnel: its name, endpoints and labels come from the file (no --name, --endpoint, --label); " +
        "its project, session and health are used where it sets them, the flags fill in the rest, and a flag that disagrees with the file is an error. " +
        "The file is copied into the group's state, so the service never reads the working directory",
      valueHint: "file",
    },
    name: { type: "string", description: "Tunnel name (the service is datumctl-connect-<scope>-<name>); required without -f", valueHint: "name" },
    endpoint: { type: "string", description: "Local service to expose, e.g. 127.0.0.1:3000; required without -f", valueHint: "host:port" },
    label: { type: "string", description: "Display name (default: the endpoint)", valueHint: "label" },
    session: { type: "string", description: "datumctl session the service authenticates as (a service account for --system); required unless the group's file sets one", valueHint: "name" },
    ...projectArg,
    system: { type: "boolean", description: "A system service (root; needs a service-account session) instead of a user service" },
    health: { type: "string", description: "Serve /livez, /readyz and /metrics on this address, e.g. 127.0.0.1:9090", valueHint: "host:port" },
  },
  async run({ args }) {
    const system = args.system === true;
    const req = await requestFor({ ...args, system });
    const manager = serviceManager();
    const result = await installTunnel(req, { manager, say });
    const count = req.group?.file.services.length ?? 0;
    const what = req.group ? `group ${result.config.name} (${count} ${count === 1 ? "service" : "services"})` : `tunnel ${result.config.name}`;
    if (req.group) {
      // One `name URL` line per service, as `tunnel up` prints; a service settled but not ready says why.
      for (const s of result.services) {
        if (s.publicUrls[0]) emit(`${s.name} ${s.publicUrls[0]}`);
        if (!s.readiness.ready) say(`warning: ${result.config.name}/${s.name}: not ready: ${s.readiness.reason}`);
      }
    } else for (const url of result.urls) emit(url);
    const flag = system ? " --system" : "";
    say(
      `Installed ${what} as ${manager.managerName} service ${result.spec.unit}${result.unitPath ? ` (${result.unitPath})` : ""}; ` +
        `it starts ${system ? "at boot" : "with your login"} and restarts on failure.`,
    );
    const name = result.config.name;
    say(
      `status: tunnel status --name ${name}${flag} · logs: tunnel logs --name ${name}${flag} · ` +
        `${args.file !== undefined ? `after editing the file: tunnel reload --name ${name}${flag} -f ${shellWord(args.file)} · ` : ""}remove: tunnel uninstall --name ${name}${flag}`,
    );
  },
});
