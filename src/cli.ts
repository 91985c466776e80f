#!/usr/bin/env bun
/**
 * Process entry. `--plugin-manifest` is answered first, before anything else is loaded or parsed
 * (docs/wire-facts.md#plugin-manifest); everything else goes through `main`.
 */
import { manifestText } from "./manifest.ts";
import { writeStdout } from "./stdout.ts";

const argv = process.argv.slice(2);
const end = argv.indexOf("--");
if ((end === -1 ? argv : argv.slice(0, end)).includes("--plugin-manifest")) {
  writeStdout(manifestText());
  process.exit(0);
}

const { run } = await import("./run.ts");
process.exit(await run(argv));
