import { defineCommand } from "citty";
import { inventory } from "../../daemon/inventory.ts";
import { psColumns, psDocument, psNotes, psRows } from "../../daemon/ps-view.ts";
import { emit, render, type OutputFormat } from "../../output.ts";
import { stateRoot } from "../../state/paths.ts";
import { outputArg } from "../_args.ts";

export const ps = defineCommand({
  meta: { name: "ps", description: "List this machine's tunnels and groups: running, stopped and dead daemons" },
  args: {
    ...outputArg,
    system: { type: "boolean", description: "System-scope tunnels (services installed with --system)" },
    wide: { type: "boolean", description: "Also list each service of a group on its own row (web-stack/app); -o json|yaml always include them" },
  },
  async run({ args }) {
    const entries = await inventory(stateRoot(args.system ? "system" : "user"));
    const format = args.output as OutputFormat;
    if (format === "table" && entries.length === 0) {
      process.stderr.write("No tunnels on this machine. Start one with 'tunnel listen --detach --name <name> --endpoint <host:port>'.\n");
      return;
    }
    emit(render(format, psRows(entries, args.wide === true), psColumns(Date.now(), process.env), entries.map((e) => psDocument(e, process.env))));
    if (format === "table") for (const note of psNotes(entries)) process.stderr.write(`${note}\n`);
    // A corrupt run.json (or group file) is listed ("unknown") with the others, then reported: exit
    // 65 naming the file (docs/architecture.md#local-state), not a silent row nobody can explain.
    const broken = entries.find((e) => e.runError !== undefined || e.groupError !== undefined);
    if (broken) throw broken.runError ?? broken.groupError;
  },
});
