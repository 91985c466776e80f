import { createInterface } from "node:readline/promises";
import { defineCommand } from "citty";
import { say } from "../../log.ts";
import { reporterFor } from "../../listen/reporter.ts";
import { checkListenFlags, ListenSession } from "../../listen/session.ts";
import { projectArg, sessionArg } from "../_args.ts";
import { openProject } from "./_project.ts";

/** Ask on the terminal; anything but y/Y is no (upstream `[y/N]`). */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const listen = defineCommand({
  meta: {
    name: "listen",
    description: "Expose a local service at a public Datum hostname until Ctrl+C",
  },
  args: {
    endpoint: { type: "string", description: "Local service to expose, e.g. 127.0.0.1:3000", valueHint: "host:port" },
    id: { type: "string", description: "Listen for an existing tunnel (its endpoint is inherited)", valueHint: "id" },
    label: { type: "string", description: "Display name (default: the endpoint)", valueHint: "label" },
    yes: { type: "boolean", alias: "y", description: "Change an existing tunnel's label without asking" },
    ...projectArg,
    ...sessionArg,
    output: { type: "enum", alias: "o", description: "Output format (json: one event per line)", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    checkListenFlags({ endpoint: args.endpoint, id: args.id });
    const controller = new AbortController();
    let signals = 0;
    const onSignal = (name: string) => {
      signals++;
      if (signals === 1) {
        controller.abort(new Error(name));
        return;
      }
      say(`error: ${name} again: forced exit before the tunnel was disabled`);
      process.exit(1);
    };
    const onInt = () => onSignal("SIGINT");
    const onTerm = () => onSignal("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    try {
      const project = await openProject({ project: args.project, session: args.session });
      const session = new ListenSession(
        {
          project: project.context.project,
          apiBase: project.context.apiBase,
          service: project.service,
          tokens: project.tokens,
          slotDir: project.slotDir,
          secretKey: project.identity.secretKey,
          endpointId: project.identity.endpointIdHex,
          reporter: reporterFor(args.output as "table" | "json", process.stderr.isTTY === true),
          env: process.env,
          signal: controller.signal,
        },
        {
          endpoint: args.endpoint,
          id: args.id,
          label: args.label,
          yes: args.yes === true,
          confirm: process.stdin.isTTY && process.stderr.isTTY ? confirm : undefined,
        },
      );
      process.exitCode = await session.run();
    } finally {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    }
  },
});
