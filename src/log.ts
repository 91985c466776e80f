/**
 * One logger per process. consola writes to **stderr** only: stdout carries
 * data (`src/output.ts`), so progress never corrupts `-o json | jq`.
 *
 * Levels follow consola: 0 error, 1 warn, 2 log, 3 info, 4 debug, 5 trace. Default 3;
 * `CONSOLA_LEVEL` or `--verbose` (4) override it.
 */
import { createConsola, type ConsolaInstance } from "consola";

function initialLevel(): number {
  const fromEnv = Number.parseInt(process.env.CONSOLA_LEVEL ?? "", 10);
  return Number.isFinite(fromEnv) ? fromEnv : 3;
}

export const log: ConsolaInstance = createConsola({
  level: initialLevel(),
  stdout: process.stderr,
  stderr: process.stderr,
  formatOptions: { date: false, colors: !process.env.NO_COLOR && process.stderr.isTTY === true },
});

export function setVerbose(verbose: boolean): void {
  if (verbose && log.level < 4) log.level = 4;
}

/** Plain line to stderr, for the fixed user-facing progress lines (`  ✓ tunnel accepted (0.8s)`). */
export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `warning: ...` lines in datumctl's style. */
export function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}
