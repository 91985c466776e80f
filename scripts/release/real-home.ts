/**
 * The real user's home directory, from the password database: the tests run with `HOME` pointed at
 * a temp dir (test/preload.ts), but caches that outlive a test run (Bun's runtimes, the Wine prefix)
 * belong in the real one.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";

export function realHome(): string {
  const uid = String(process.getuid?.() ?? "");
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === uid && f[5]) return f[5];
    }
  } catch {
    // No password database (not Unix): fall through.
  }
  return homedir();
}
