/**
 * The argv that runs this very CLI again: the compiled executable alone, or Bun plus our entry
 * script when running from source. Used to start the detached daemon.
 */
import { fileURLToPath } from "node:url";

/**
 * True inside a `bun build --compile` executable: its modules live under `/$bunfs/`, and on Windows
 * under `B:\~BUN\`, whose URL spells the tilde `%7E` (`file:///B:/%7EBUN/root/…`).
 */
export function isCompiledUrl(url: string): boolean {
  return url.includes("$bunfs") || url.includes("~BUN") || url.includes("%7EBUN");
}

export function isCompiled(): boolean {
  return isCompiledUrl(import.meta.url);
}

export function selfCommand(): string[] {
  if (isCompiled()) return [process.execPath];
  return [process.execPath, fileURLToPath(new URL("../cli.ts", import.meta.url))];
}
