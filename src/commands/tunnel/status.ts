import { defineCommand } from "citty";
import { namedTunnel } from "../../daemon/inventory.ts";
import { renderStatus } from "../../daemon/status-view.ts";
import { Rejected } from "../../errors.ts";
import { tailLines } from "../../logs/follow.ts";
import { renderLogLine } from "../../logs/render.ts";
import { emit, formatJson, formatYaml } from "../../output.ts";
import { assertSafeName, stateRoot, tunnelFiles } from "../../state/paths.ts";
import { outputArg } from "../_args.ts";

/** How many log lines `status` shows. */
const STATUS_LOG_LINES = 10;

export const status = defineCommand({
  meta: { name: "status", description: "Show a tunnel's runtime, auth, control-plane and data-plane state" },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel" },
    ...outputArg,
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const entry = await namedTunnel(stateRoot(args.system ? "system" : "user"), name);
    if (!entry) throw new Rejected(`no tunnel named "${name}"`, "run 'tunnel ps' to see this machine's tunnels", "not_found");
    if (entry.runError) throw entry.runError;
    const raw = tailLines(tunnelFiles(entry.dir).log, STATUS_LOG_LINES).lines;
    const doc = {
      name,
      status: entry.status,
      running: entry.running,
      config: entry.config ?? null,
      run: entry.run ?? null,
      log: raw,
    };
    if (args.output === "json") emit(formatJson(doc));
    else if (args.output === "yaml") emit(formatYaml(doc));
    else {
      emit(
        renderStatus({
          name,
          status: entry.status,
          running: entry.running,
          config: entry.config,
          run: entry.run,
          logTail: raw.map(renderLogLine),
          now: Date.now(),
        }),
      );
    }
  },
});
