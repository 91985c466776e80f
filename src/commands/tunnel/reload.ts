/**
 * `tunnel reload --name G [-f FILE] [--prune] [--system]`: converge a running group to its file
 * (docs/groups.md#reload). The file (default: the one the group was started or installed from,
 * else the copy in its state) is validated here first: a bad one exits 65 and nothing is sent.
 * Then it is handed to the process (`reload.json`), which is sent SIGHUP; this waits for the
 * process's answer in `run.json` and prints what changed. The process may still refuse the file
 * whole (a new project, say): exit 65 with its reason, and the group keeps serving as it was.
 */
import { defineCommand } from "citty";
import { Malformed, Rejected, UsageError } from "../../errors.ts";
import { say } from "../../log.ts";
import { emit, formatJson } from "../../output.ts";
import { writeFileAtomic } from "../../state/atomic-write.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { readTextIfExists } from "../../state/read-optional.ts";
import { isRunning, readRunState, type GroupRecord } from "../../state/run-state.ts";
import { readTunnelConfig } from "../../state/tunnel-config.ts";
import { readGroupFile } from "../../group/config.ts";
import type { ReloadRequest } from "../../group/foreground.ts";

/** How long the process may take to converge (added services are set up before it answers). */
const ANSWER_WAIT_MS = 120_000;
const POLL_MS = 100;

type LastReload = NonNullable<GroupRecord["lastReload"]>;

function summaryLines(r: LastReload, unchanged: number): string[] {
  const lines: string[] = [];
  if (r.added.length > 0) lines.push(`added: ${r.added.join(", ")}`);
  if (r.removed.length > 0) lines.push(`removed (disabled, kept in Datum): ${r.removed.join(", ")}`);
  if (r.deleted.length > 0) lines.push(`deleted: ${r.deleted.join(", ")}`);
  if (r.changed.length > 0) lines.push(`changed: ${r.changed.join(", ")}`);
  lines.push(`unchanged: ${unchanged}`);
  return lines;
}

export const reload = defineCommand({
  meta: { name: "reload", description: "Converge a running group to its file: add, remove and change services without touching the others" },
  args: {
    name: { type: "string", description: "Group name", valueHint: "name", required: true },
    file: { type: "string", alias: "f", description: "The group file (default: the file the group was started or installed from)", valueHint: "file" },
    prune: { type: "boolean", description: "Delete (not just disable) the tunnels of services removed from the file" },
    system: { type: "boolean", description: "A system-scope group (installed with --system)" },
    output: { type: "enum", alias: "o", description: "Output format", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const scope = args.system === true ? "system" : "user";
    const flag = scope === "system" ? " --system" : "";
    const files = tunnelFiles(tunnelDir(stateRoot(scope), name));
    const config = await readTunnelConfig(files.config);
    if (!config) throw new Rejected(`no group named "${name}"${flag ? " in system scope" : ""}`, "run 'tunnel ps' to see this machine's tunnels and groups", "not_found");
    if (config.endpoint !== null) throw new Rejected(`"${name}" is a single tunnel, not a group`, "change a single tunnel with 'tunnel update'", "conflict");
    const run = await readRunState(files.run);
    if (!run || !isRunning(run)) {
      throw new Rejected(`group "${name}" is not running`, `start it with 'tunnel up -f FILE' or 'tunnel start --name ${name}${flag}'`, "not_found");
    }
    if (process.platform === "win32") throw new UsageError("reload needs SIGHUP, which Windows does not have", `restart the service instead: tunnel stop --name ${name}${flag} && tunnel start --name ${name}${flag}`);

    const recorded = config.group_file && (await readTextIfExists(config.group_file).catch(() => undefined)) !== undefined ? config.group_file : undefined;
    const source = args.file ?? recorded ?? files.group;
    const { group, text } = await readGroupFile(source);
    if (group.name !== name) {
      throw new Malformed(`${source}: the file is group "${group.name}", not "${name}"`, "the group's name names its identity and state; to rename, stop the group and start the new file");
    }

    const before = run.group?.lastReload?.seq ?? 0;
    const request: ReloadRequest = { text, source, prune: args.prune === true };
    await writeFileAtomic(files.reloadRequest, `${JSON.stringify(request)}\n`);
    process.kill(run.pid, "SIGHUP");
    say(`Reloading group ${name} (PID ${run.pid}) from ${source}…`);

    const deadline = Date.now() + ANSWER_WAIT_MS;
    for (;;) {
      const now = await readRunState(files.run).catch(() => undefined);
      const last = now?.group?.lastReload;
      if (now && last && last.seq > before) {
        if (!last.ok) {
          throw new Malformed(`the running group refused ${source}: ${last.message ?? "no reason given"}`, "nothing changed: the group keeps serving as it was; fix the file and reload again");
        }
        const unchanged = (now.services ?? []).filter((s) => ![...last.added, ...last.changed].includes(s.name)).length;
        if (args.output === "json") emit(formatJson({ name, source, ...last, unchanged }));
        else for (const line of summaryLines(last, unchanged)) emit(line);
        return;
      }
      if (!now || !isRunning(now)) throw new Rejected(`group "${name}" stopped before it answered the reload`, `see why: tunnel logs --name ${name}${flag}`);
      if (Date.now() >= deadline) {
        throw new Rejected(`group "${name}" did not answer the reload within ${ANSWER_WAIT_MS / 1000}s`, `it may still be setting up the new services: tunnel status --name ${name}${flag}`);
      }
      await Bun.sleep(POLL_MS);
    }
  },
});
