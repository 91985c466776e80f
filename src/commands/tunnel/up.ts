/**
 * `tunnel up [-f FILE] [--detach [--wait 30s]] [--prune] [-o table|json]`: every service of a group
 * file served by one process with one identity (docs/groups.md). The file is validated whole
 * before anything is written or requested (exit 65 naming the file, the service and the field);
 * then it is copied into the group's state (`tunnels/<name>/group.yaml`) with the group's settings
 * (`tunnel.yaml`), and the group runs in the foreground until Ctrl+C, reloading when the file
 * changes, or in the background with --detach (the same 0/75 contract as `listen --detach`,
 * waiting for every service).
 */
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { readDatumctlConfig } from "../../context/datumctl-config.ts";
import { resolveContext } from "../../context/resolve.ts";
import { namedTunnel } from "../../daemon/inventory.ts";
import { parseDuration } from "../../daemon/duration.ts";
import { childFailure, startDetached } from "../../daemon/detach.ts";
import { Rejected, StillProvisioning } from "../../errors.ts";
import { say } from "../../log.ts";
import { emit, formatJson } from "../../output.ts";
import { onPath } from "../../service/executable.ts";
import { ensurePrivateDir, writeFileAtomic } from "../../state/atomic-write.ts";
import { acquireSlotLock, type SlotLock } from "../../state/lock.ts";
import { stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import type { RunState } from "../../state/run-state.ts";
import { readTunnelConfig, writeTunnelConfig, type TunnelConfig } from "../../state/tunnel-config.ts";
import { settingsFromEnv } from "../../state/tunnel-settings.ts";
import { DEFAULT_GROUP_FILE, readGroupFile, type GroupFile } from "../../group/config.ts";
import { GROUP_FILE_HELP } from "../../group/file-help.ts";
import { runGroup } from "../../group/foreground.ts";

/**
 * The group's settings record: the existing one (its project may not change under it), or a new
 * one from the file and the current datumctl context.
 */
async function groupConfig(group: GroupFile, source: string, path: string): Promise<TunnelConfig> {
  const existing = await readTunnelConfig(path);
  if (existing && existing.endpoint !== null) {
    throw new Rejected(`"${group.name}" is a single tunnel on this machine, not a group`, "give the group another name in the file, or remove the tunnel with 'tunnel uninstall --name NAME --purge'", "conflict");
  }
  const context = resolveContext({ flags: { project: group.project ?? existing?.project, session: group.session ?? existing?.session ?? undefined }, env: process.env, config: readDatumctlConfig() });
  if (existing && context.project !== existing.project) {
    throw new Rejected(`group "${group.name}" belongs to project ${existing.project}, not ${context.project}`, "a group keeps its project; give the group another name for another project");
  }
  return {
    name: group.name,
    label: null,
    endpoint: null,
    project: context.project,
    session: context.session ?? null,
    org: context.org ?? null,
    api_host: existing?.api_host ?? context.apiBase,
    executable: onPath("datumctl-connect"),
    helper: context.helper ? (onPath("datumctl") ?? context.helper) : null,
    created_at: existing?.created_at ?? new Date().toISOString(),
    scope: "user",
    group_file: source,
    health: group.health,
    ...settingsFromEnv(process.env),
  };
}

/** `up --detach -o json`: one document about the background group. */
function detachedDoc(name: string, status: "ready" | "provisioning", pid: number, state: RunState | undefined): Record<string, unknown> {
  return {
    name,
    status,
    pid,
    endpoint_id: state?.endpointId ?? null,
    services: (state?.services ?? []).map((s) => ({ name: s.name, id: s.tunnelId, endpoint: s.endpoint, urls: s.publicUrls, ready: s.readiness.ready, reason: s.readiness.reason })),
  };
}

export const up = Object.assign(defineCommand({
  meta: {
    name: "up",
    description: `Serve every tunnel of a group file from one process and one identity (default file: ./${DEFAULT_GROUP_FILE}; see README.md#groups)`,
  },
  args: {
    file: { type: "string", alias: "f", description: `The group file (default: ./${DEFAULT_GROUP_FILE})`, valueHint: "file" },
    detach: { type: "boolean", alias: "d", description: "Run in the background; return once every service's public URL answers" },
    wait: { type: "string", description: "With --detach: how long to wait for every service before exiting 75", default: "30s", valueHint: "duration" },
    prune: { type: "boolean", description: "Delete (not just disable) the tunnels of services removed from the file" },
    output: { type: "enum", alias: "o", description: "Output format (json: one event per line)", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    const waitMs = parseDuration(args.wait);
    const source = resolve(args.file ?? DEFAULT_GROUP_FILE);
    const { group, text } = await readGroupFile(source);
    const root = stateRoot("user");
    const dir = tunnelDir(root, group.name);
    const files = tunnelFiles(dir);
    // A single tunnel of that name is refused before anything else is said about it.
    const config = await groupConfig(group, source, files.config);
    const running = await namedTunnel(root, group.name);
    if (running?.running && running.run) {
      throw new Rejected(
        `group "${group.name}" is already running (PID ${running.run.pid})`,
        `apply the file to it with 'tunnel reload --name ${group.name} -f ${args.file ?? DEFAULT_GROUP_FILE}', or stop it first: tunnel stop --name ${group.name}`,
        "conflict",
      );
    }

    if (args.detach) {
      await writeTunnelConfig(files.config, config);
      await writeFileAtomic(files.group, text);
      const childArgs = ["tunnel", "_daemon", "--name", group.name, ...(args.prune ? ["--prune"] : [])];
      const outcome = await startDetached({
        args: childArgs,
        env: process.env,
        runPath: files.run,
        logDir: files.logs,
        waitMs,
        // Every service verified: the group's own verdict (a degraded one keeps the wait going).
        done: (state) => state.phase === "ready" && state.readiness.ready,
      });
      switch (outcome.outcome) {
        case "ready":
          if (args.output === "json") emit(formatJson(detachedDoc(group.name, "ready", outcome.pid, outcome.state)));
          else for (const s of outcome.state.services ?? []) emit(`${s.name} ${s.publicUrls[0] ?? "-"}`);
          say(`Group ${group.name} is ready in the background (PID ${outcome.pid}). Logs: tunnel logs --name ${group.name} --follow; stop: tunnel stop --name ${group.name}`);
          return;
        case "provisioning": {
          const services = outcome.state?.services ?? [];
          if (args.output === "json") emit(formatJson(detachedDoc(group.name, "provisioning", outcome.pid, outcome.state)));
          else for (const s of services) if (s.readiness.ready) emit(`${s.name} ${s.publicUrls[0] ?? "-"}`);
          for (const s of services) if (!s.readiness.ready) say(`${s.name}: ${s.readiness.state ?? "not ready"}: ${s.readiness.reason}`);
          const waiting = services.filter((s) => !s.readiness.ready).map((s) => s.name);
          throw new StillProvisioning(
            `group ${group.name}: ${waiting.length > 0 ? `${waiting.join(", ")} not verified` : "not ready"} after ${args.wait}; it keeps running in the background (PID ${outcome.pid})`,
            `check it with 'tunnel status --name ${group.name}', or wait longer with --wait`,
          );
        }
        case "failed":
          throw childFailure(outcome);
      }
    }

    // The foreground takes the slot before it writes anything, so a second `up` of the same group
    // names the process that has it and leaves its files alone.
    await ensurePrivateDir(dir);
    let lock: SlotLock | undefined = acquireSlotLock(files.lock, `the identity of group ${group.name}`, `it is already running; stop it first: tunnel stop --name ${group.name}`);
    try {
      await writeTunnelConfig(files.config, config);
      await writeFileAtomic(files.group, text);
      const held = lock;
      lock = undefined;
      await runGroup({ name: group.name, scope: "user", source, watchSource: true, prune: args.prune === true, output: args.output as "table" | "json", fileLogs: false, lock: held });
    } finally {
      lock?.release();
    }
  },
}), { epilog: GROUP_FILE_HELP });
