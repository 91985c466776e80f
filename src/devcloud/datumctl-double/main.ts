#!/usr/bin/env bun
/**
 * A faithful datumctl test double (docs/architecture.md#datumctl-double), run from source:
 * `datumctl auth get-token …` with datumctl v0.18.0's exact outputs, errors and exit codes, and
 * dispatcher mode (`datumctl connect …`). The command line is in `double.ts`.
 *
 * Run through the POSIX sh wrapper `installDatumctlDouble()` writes, which pins the Bun binary and
 * this file's absolute path. A compiled executable has no such file: its wrapper runs the
 * executable's hidden `dev datumctl` subcommand instead. It is a development tool: the product
 * never imports it.
 */
import { runDatumctlDouble } from "./double.ts";

await runDatumctlDouble(process.argv.slice(2));
