/**
 * The argv that runs this very CLI again: the compiled executable alone, or Bun plus our entry
 * script when running from source. Used to start the detached daemon.
 */
import { fileURLToPath } from "node:url";

/** True inside a `bun build --compile` executable (its modules live under `/$bunfs/`, `B:/~BUN/` on Windows). */
export function isCompiled(): boolean {
  return import.meta.url.includes("$bunfs") || import.meta.url.includes("~BUN");
}

export function selfCommand(): string[] {
  if (isCompiled()) return [process.execPath];
  return [process.execPath, fileURLToPath(new URL("../cli.ts", import.meta.url))];
}
