/**
 * Flag fragments shared by commands, spread into each command's `args`.
 * `as const satisfies` keeps the literal types, so citty still infers every parsed flag.
 */
import type { ArgDef } from "citty";
import { OUTPUT_FORMATS } from "../output.ts";

export const outputArg = {
  output: {
    type: "enum",
    alias: "o",
    description: "Output format",
    options: [...OUTPUT_FORMATS],
    default: "table",
  },
} as const satisfies Record<string, ArgDef>;

export const projectArg = {
  project: {
    type: "string",
    description: "Project ID (default: $DATUM_PROJECT, else the current datumctl context)",
    valueHint: "id",
  },
} as const satisfies Record<string, ArgDef>;

export const sessionArg = {
  session: {
    type: "string",
    description: "datumctl session name (default: $DATUM_SESSION, else the current context's session)",
    valueHint: "name",
  },
} as const satisfies Record<string, ArgDef>;

export const idArg = {
  id: {
    type: "string",
    description: "Tunnel ID (the HTTPProxy name, e.g. tunnel-abcde)",
    valueHint: "id",
    required: true,
  },
} as const satisfies Record<string, ArgDef>;

export const verboseArg = {
  verbose: {
    type: "boolean",
    description: "Log debug detail to stderr",
  },
} as const satisfies Record<string, ArgDef>;
