/**
 * `tunnel _daemon --name N`: the background child of `tunnel listen --detach` (hidden). The parent
 * has validated the flags and written the tunnel's `tunnel.yaml`; this runs that named tunnel in
 * the foreground of its own detached process, logging JSON lines to the tunnel's log instead of a
 * terminal, until SIGTERM (`tunnel stop`). A group's (`up --detach`) runs the group instead. One way in, like `tunnel run` for a service unit: no
 * environment variable switches what `tunnel listen` does (docs/architecture.md#daemons).
 */
import { defineCommand } from "citty";
import { Rejected } from "../../errors.ts";
import { runForeground } from "../../listen/foreground.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { readTunnelConfig, singleEndpoint } from "../../state/tunnel-config.ts";
import { validateStoredEndpoint } from "../../tunnel/endpoint.ts";

export const daemon = defineCommand({
  meta: { name: "_daemon", description: "The background process of 'tunnel listen --detach' (not for direct use)", hidden: true },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    id: { type: "string", description: "Serve this tunnel", valueHint: "id" },
    label: { type: "string", description: "Change the tunnel's label to this", valueHint: "label" },
    health: { type: "string", description: "Serve /livez, /readyz and /metrics here", valueHint: "host:port" },
    prune: { type: "boolean", description: "A group: delete (not disable) services removed from its file" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const path = tunnelFiles(tunnelDir(stateRoot("user"), name)).config;
    const config = await readTunnelConfig(path);
    if (!config) throw new Rejected(`no tunnel named "${name}": ${path} does not exist`, `start it with 'tunnel listen --detach --name ${name} --endpoint HOST:PORT'`, "not_found");
    if (config.endpoint === null) {
      // A group (`up --detach`): the same process model, many services (docs/groups.md).
      const { runGroup } = await import("../../group/foreground.ts");
      return runGroup({ name, scope: "user", source: config.group_file ?? null, watchSource: false, prune: args.prune === true, output: "table", fileLogs: true });
    }
    singleEndpoint(config, path, validateStoredEndpoint);
    await runForeground({
      name,
      config,
      configCreated: false,
      scope: "user",
      id: args.id,
      // Only an explicit --label (passed on by the parent) changes a label.
      label: args.label,
      yes: true,
      health: args.health ?? config.health ?? null,
      output: "table",
      fileLogs: true,
    });
  },
});
