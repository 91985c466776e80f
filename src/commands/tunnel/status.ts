import { defineCommand } from "citty";
import { namedTunnel } from "../../daemon/inventory.ts";
import { probeVerdict } from "../../daemon/probe.ts";
import type { GroupEntry } from "../../daemon/group-entry.ts";
import { serviceDocument } from "../../daemon/ps-view.ts";
import { renderStatus } from "../../daemon/status-view.ts";
import { Rejected } from "../../errors.ts";
import { tailLines } from "../../logs/follow.ts";
import { renderLogLine } from "../../logs/render.ts";
import { emit, formatJson, formatYaml } from "../../output.ts";
import { inspectService } from "../../service/inspect.ts";
import { serviceManager } from "../../service/platform.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { outputArg } from "../_args.ts";

/** How many log lines `status` shows. */
const STATUS_LOG_LINES = 10;

/** A group's part of the JSON/YAML form (docs/groups.md): its file, last reload and services. */
function groupDocument(g: GroupEntry) {
  return {
    group: { file: g.file, source: g.source, lastReload: g.lastReload },
    services: g.services.map((x) => ({ ...serviceDocument(x), urls: x.urls, label: x.label, lastError: x.record?.lastError ?? null })),
  };
}

export const status = defineCommand({
  meta: { name: "status", description: "Show a tunnel's or a group's runtime, services, service unit, auth, control-plane and data-plane state" },
  args: {
    name: { type: "string", description: "Tunnel or group name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel" },
    probe: { type: "boolean", description: "Print nothing; exit 0 only while the tunnel runs and is verified ready (a health command)" },
    ...outputArg,
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const scope = args.system ? "system" : "user";
    const root = stateRoot(scope);
    const entry = await namedTunnel(root, name);
    if (args.probe) {
      const verdict = probeVerdict(name, entry);
      if (verdict) throw verdict;
      return;
    }
    const manager = serviceManager();
    if (!entry && !(await manager.isInstalled(scope, name))) {
      throw new Rejected(`no tunnel named "${name}"`, "run 'tunnel ps' to see this machine's tunnels", "not_found");
    }
    if (entry?.runError) throw entry.runError;
    if (entry?.groupError) throw entry.groupError;
    const service = await inspectService(manager, scope, name, entry?.config, entry?.run, entry?.running === true);
    const raw = tailLines(tunnelFiles(entry?.dir ?? tunnelDir(root, name)).log, STATUS_LOG_LINES).lines;
    const doc = {
      name,
      status: entry?.status ?? "never started",
      running: entry?.running === true,
      config: entry?.config ?? null,
      readiness: entry?.readiness ?? null,
      lastError: entry?.lastError ?? null,
      // The recorded verdict is only true while its process runs: show the observed one.
      run: entry?.run ? { ...entry.run, readiness: entry.readiness ?? entry.run.readiness } : null,
      service,
      ...(entry?.group ? groupDocument(entry.group) : {}),
      log: raw,
    };
    if (args.output === "json") emit(formatJson(doc));
    else if (args.output === "yaml") emit(formatYaml(doc));
    else {
      emit(
        renderStatus({
          name,
          status: entry?.status ?? "never started",
          running: entry?.running === true,
          config: entry?.config,
          run: entry?.run,
          service,
          logTail: raw.map(renderLogLine),
          now: Date.now(),
          group: entry?.group,
        }),
      );
    }
  },
});
