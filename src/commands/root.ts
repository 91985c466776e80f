/**
 * The command tree. Each noun is a folder whose `index.ts` only maps names to lazy imports, so a
 * command loads only what it runs: `version` and completion never touch the control plane or iroh.
 */
import { defineCommand } from "citty";

export const root = defineCommand({
  meta: {
    name: "datumctl connect",
    description: "Expose local services at public Datum hostnames, headless",
  },
  subCommands: {
    tunnel: () => import("./tunnel/index.ts").then((m) => m.tunnel),
    dev: () => import("./dev/index.ts").then((m) => m.dev),
    version: () => import("./version.ts").then((m) => m.version),
  },
});
