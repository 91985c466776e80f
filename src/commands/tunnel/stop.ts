import { defineCommand } from "citty";
import { namedTunnel } from "../../daemon/inventory.ts";
import { STOP_BUDGET_MS, stopProcess } from "../../daemon/stop.ts";
import { Rejected } from "../../errors.ts";
import { emit, formatJson } from "../../output.ts";
import { assertSafeName, stateRoot } from "../../state/paths.ts";

export const stop = defineCommand({
  meta: { name: "stop", description: "Stop a background tunnel: disable it and end its process" },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel" },
    output: { type: "enum", alias: "o", description: "Output format", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const entry = await namedTunnel(stateRoot(args.system ? "system" : "user"), name);
    if (!entry) throw new Rejected(`no tunnel named "${name}"`, "run 'tunnel ps' to see this machine's tunnels", "not_found");
    const outcome = entry.run ? await stopProcess(entry.run.pid, entry.run.startTime, STOP_BUDGET_MS) : "not-running";
    const doc = { name, outcome, pid: entry.run?.pid ?? null };
    if (args.output === "json") {
      emit(formatJson(doc));
      return;
    }
    switch (outcome) {
      case "not-running":
        process.stderr.write(`Tunnel ${name} is not running.\n`);
        return;
      case "stopped":
        emit(`Stopped tunnel ${name}`);
        return;
      case "killed":
        emit(`Killed tunnel ${name} (it did not stop within ${STOP_BUDGET_MS / 1000}s; its advertisement may still be enabled)`);
        return;
    }
  },
});
