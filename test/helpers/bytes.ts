/** Payloads for transfer tests: bytes whose hash changes when a chunk is shifted, dropped or repeated. */
import { createHash } from "node:crypto";

export const MiB = 1024 * 1024;

export const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Deterministic, non-repeating-looking bytes (a linear congruential sequence from `seed`). */
export function pattern(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
