import { defineCommand } from "citty";
import { emit, formatJson, formatYaml } from "../output.ts";
import { COMMIT, VERSION } from "../version.ts";

export const version = defineCommand({
  meta: { name: "version", description: "Print the version of datumctl-connect" },
  args: {
    output: { type: "enum", alias: "o", description: "Output format", options: ["text", "json", "yaml"], default: "text" },
  },
  run({ args }) {
    const info = {
      version: VERSION,
      commit: COMMIT,
      platform: `${process.platform}-${process.arch}`,
      bun: Bun.version,
    };
    if (args.output === "json") emit(formatJson(info));
    else if (args.output === "yaml") emit(formatYaml(info));
    else emit(`datumctl-connect ${VERSION} (${COMMIT}) ${info.platform} bun ${info.bun}`);
  },
});
