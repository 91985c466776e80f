/**
 * The plugin manifest datumctl reads at install time (docs/wire-facts.md#plugin-manifest): one JSON object on
 * stdout, exit 0, before any other parsing, from a temp copy under a scrubbed environment within
 * 5 s. Nothing here may depend on `DATUM_*`, the file name or files next to the executable.
 */
import { VERSION } from "./version.ts";

export interface PluginManifest {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly min_datumctl_version?: string;
  readonly api_version: number;
  readonly min_api_version?: number;
}

export function pluginManifest(): PluginManifest {
  return {
    name: "connect",
    version: VERSION.startsWith("v") ? VERSION : `v${VERSION}`,
    description: "Expose local services at public Datum hostnames through headless tunnels",
    // v0.17.2: trusted PATH plugins get argv verbatim (v0.17.1) and contexts are session-qualified.
    min_datumctl_version: "v0.17.2",
    api_version: 1,
    min_api_version: 1,
  };
}

/** Pretty-printed with 2 spaces and a trailing newline, as the Go SDK prints it. */
export function manifestText(): string {
  return `${JSON.stringify(pluginManifest(), null, 2)}\n`;
}
