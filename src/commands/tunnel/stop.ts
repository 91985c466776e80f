import { defineCommand } from "citty";
import { namedTunnel } from "../../daemon/inventory.ts";
import { STOP_BUDGET_MS, stopProcess, type StopOutcome } from "../../daemon/stop.ts";
import { CliError, Exit, NotAuthenticated, Rejected, Unreachable } from "../../errors.ts";
import { warn } from "../../log.ts";
import { emit, formatJson } from "../../output.ts";
import { unitDisplayName } from "../../service/inspect.ts";
import { serviceManager } from "../../service/platform.ts";
import { assertSafeName, stateRoot } from "../../state/paths.ts";
import { pidAlive, sameProcessRunning } from "../../state/process-identity.ts";
import { readRunState, type RunState } from "../../state/run-state.ts";
import { tunnelFiles } from "../../state/paths.ts";

/** What the stopped process recorded on its way out: whether its disable call failed. */
async function finalState(dir: string | undefined): Promise<RunState | undefined> {
  if (!dir) return undefined;
  try {
    return await readRunState(tunnelFiles(dir).run);
  } catch {
    return undefined;
  }
}

/** After the manager was asked to stop it: wait for the process to go, without a second signal. */
async function waitForExit(pid: number, startTime: string | null, budgetMs: number): Promise<boolean> {
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || !sameProcessRunning(pid, startTime ?? undefined)) return true;
    await Bun.sleep(50);
  }
  return false;
}

/**
 * `tunnel stop` is one verb (docs/architecture.md#daemons): an installed service is stopped through its
 * manager (so it stays stopped: a clean exit is not restarted), a background daemon by signal.
 */
export const stop = defineCommand({
  meta: { name: "stop", description: "Stop a background tunnel or tunnel service: disable it and end its process" },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel" },
    output: { type: "enum", alias: "o", description: "Output format", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const scope = args.system ? "system" : "user";
    const entry = await namedTunnel(stateRoot(scope), name);
    const manager = serviceManager();
    const installed = await manager.isInstalled(scope, name);
    if (!entry && !installed) throw new Rejected(`no tunnel named "${name}"`, "run 'tunnel ps' to see this machine's tunnels", "not_found");
    const unit = unitDisplayName(manager.kind, scope, name);
    const wasRunning = entry?.running === true;

    let via: string = "signal";
    if (installed) {
      try {
        await manager.stop(scope, name);
        via = manager.kind;
      } catch (err) {
        // Only a manager that is not there at all is worked around; a refusal (not root) is the answer.
        if (!(err instanceof CliError) || err.exit !== Exit.unreachable) throw err;
        warn(`${manager.managerName} could not stop ${unit} (${err.message}); stopping its process directly`);
      }
    }
    // Without a readable run.json there is no PID to signal: "not running" would be a guess, and a
    // wrong one leaves a daemon serving. Say which file is broken instead (exit 65).
    if (entry?.runError && via === "signal") throw entry.runError;
    let outcome: StopOutcome;
    const run = entry?.run;
    if (!run) outcome = "not-running";
    else if (via === "signal") outcome = await stopProcess(run.pid, run.startTime, STOP_BUDGET_MS);
    else if (!wasRunning) outcome = "not-running";
    else outcome = (await waitForExit(run.pid, run.startTime, STOP_BUDGET_MS)) ? "stopped" : await stopProcess(run.pid, run.startTime, 5_000);

    // A clean exit that could not disable the tunnel (control plane down) leaves the
    // advertisement up: the edge may still route to this machine. That is not "stopped" (exit 69).
    const final = outcome === "stopped" ? await finalState(entry?.dir) : undefined;
    const disableError = final?.pid === run?.pid ? (final?.disableError ?? null) : null;
    const disableCmd = `tunnel disable --id ${disableError?.id ?? final?.tunnelId ?? "<id>"}${final?.project ? ` --project ${final.project}` : ""}`;
    const kind = entry?.config?.endpoint === null ? "group" : "tunnel";
    const notDisabledMessage = `${kind} ${name}'s process stopped, but ${kind === "group" ? "a tunnel of it" : "the tunnel"} could not be disabled: its advertisement may still be up (${disableError?.message ?? ""})`;
    // The exit says why (README.md#exit-codes): a lost login is 77, anything else the control plane's 69.
    const notDisabled = !disableError
      ? undefined
      : disableError.exit === Exit.noAuth
        ? new NotAuthenticated(notDisabledMessage, `log in again (datumctl auth login), then: ${disableCmd}`)
        : new Unreachable(notDisabledMessage, `disable it once the control plane answers: ${disableCmd}`);
    const doc = { name, outcome, pid: run?.pid ?? null, via, disabled: outcome === "stopped" ? !disableError : null, ...(installed ? { unit } : {}) };
    if (args.output === "json") {
      emit(formatJson(doc));
      if (notDisabled) throw notDisabled;
      return;
    }
    const service = installed ? ` (${manager.managerName} service ${unit}${via === "signal" ? ", stopped by signal" : ""})` : "";
    switch (outcome) {
      case "not-running":
        process.stderr.write(`${kind === "group" ? "Group" : "Tunnel"} ${name} is not running${service}.\n`);
        return;
      case "stopped":
        if (notDisabled) throw notDisabled;
        emit(`Stopped ${kind} ${name}${service}`);
        return;
      case "killed":
        emit(`Killed ${kind} ${name}${service} (it did not stop within ${STOP_BUDGET_MS / 1000}s; its advertisement may still be enabled)`);
        return;
    }
  },
});
