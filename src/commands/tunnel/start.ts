/**
 * `tunnel start --name N [--system]`: start an installed service through its manager and wait
 * (30 s) until it is verified ready. A named tunnel that is not installed as a service is started
 * with `tunnel listen --detach`, which this says.
 */
import { defineCommand } from "citty";
import { namedTunnel } from "../../daemon/inventory.ts";
import { CliError, Rejected, StillProvisioning } from "../../errors.ts";
import { say } from "../../log.ts";
import { emit } from "../../output.ts";
import { unitDisplayName } from "../../service/inspect.ts";
import { serviceManager } from "../../service/platform.ts";
import { exitCodeOf, SERVICE_READY_WAIT_MS, waitForService } from "../../service/wait.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { readRunState, type RunState } from "../../state/run-state.ts";

/** The URLs on stdout: a tunnel's, or one `name URL` line per service of a group (as `tunnel up` prints them). */
function emitUrls(state: RunState): void {
  if (state.services) for (const s of state.services) emit(`${s.name} ${s.publicUrls[0] ?? "-"}`);
  else for (const url of state.publicUrls) emit(url);
}

export const start = defineCommand({
  meta: { name: "start", description: "Start an installed tunnel service and wait until its public URL answers" },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel (installed with --system)" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const system = args.system === true;
    const scope = system ? "system" : "user";
    const flag = system ? " --system" : "";
    const root = stateRoot(scope);
    const manager = serviceManager();
    const entry = await namedTunnel(root, name);
    if (!(await manager.isInstalled(scope, name))) {
      if (entry?.config && entry.config.endpoint === null) {
        const file = entry.config.group_file ?? "FILE";
        throw new Rejected(
          `group "${name}" is not installed as a service`,
          `run it in the background with 'tunnel up --detach -f ${file}', or install it with 'tunnel install -f ${file} --session <session>${flag}'`,
          "not_found",
        );
      }
      if (entry) {
        throw new Rejected(
          `tunnel "${name}" is not installed as a service`,
          `run it in the background with 'tunnel listen --detach --name ${name}', or install it with 'tunnel install --name ${name} --endpoint <host:port> --session <session>${flag}'`,
          "not_found",
        );
      }
      throw new Rejected(`no tunnel named "${name}"${system ? " in system scope" : ""}`, "run 'tunnel ps' to see this machine's tunnels", "not_found");
    }
    const unit = unitDisplayName(manager.kind, scope, name);
    if (entry?.running && entry.run?.phase === "ready") {
      emitUrls(entry.run);
      say(`Tunnel ${name} is already running (${unit}, PID ${entry.run.pid}).`);
      return;
    }
    const runPath = tunnelFiles(tunnelDir(root, name)).run;
    const previous = await readRunState(runPath).catch(() => undefined);
    const since = Date.now();
    await manager.start(scope, name);
    const waited = await waitForService({ runPath, manager, scope, name, waitMs: SERVICE_READY_WAIT_MS, since, previous });
    switch (waited.outcome) {
      case "ready":
        emitUrls(waited.state);
        say(`Started ${unit}: tunnel ${name} is ready (PID ${waited.state.pid}).`);
        return;
      case "failed":
        throw new CliError(`${unit} failed before it was ready: ${waited.message}`, exitCodeOf(waited.exit), waited.hint ?? `see 'tunnel status --name ${name}${flag}' and 'tunnel logs --name ${name}${flag}'`);
      case "provisioning":
        throw new StillProvisioning(`${unit} is started but still provisioning after ${SERVICE_READY_WAIT_MS / 1000}s`, `check it with 'tunnel status --name ${name}${flag}'`);
    }
  },
});
