import { defineCommand } from "citty";

export const dev = defineCommand({
  meta: { name: "dev", description: "Development tools: a local Datum to try and test tunnels against" },
  subCommands: {
    cloud: () => import("./cloud.ts").then((m) => m.cloud),
    datumctl: () => import("./datumctl.ts").then((m) => m.datumctl),
  },
});
