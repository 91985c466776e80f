/**
 * Byte buffers across the iroh-js boundary.
 *
 * iroh-js takes and returns plain `number[]` (a `Uint8Array` is rejected,
 * docs/architecture.md#iroh-js-constraints). Converting is the data plane's cost center: measured on the
 * 2-core reference machine (Bun 1.4.5, 256 KiB): `Array.from(u8)` 54 MiB/s, spread 61 MiB/s, a loop into
 * a preallocated `new Array(n)` 1.4 GiB/s; the other way `new Uint8Array(arr)` ~5 GiB/s. So: preallocated
 * loop out, typed-array constructor in. What remains is NAPI's per-element copy inside iroh-js itself
 * (~100 MiB/s per thread for number[] → Vec<u8>), which bounds a stream at ~55–65 MiB/s.
 */

/** Chunk size for iroh reads and writes: 64–256 KiB is the measured sweet spot (docs/architecture.md#iroh-js-constraints). */
export const IROH_CHUNK = 256 * 1024;

/**
 * One reusable array for full-size chunks. Safe to reuse: NAPI copies an argument into a Rust
 * `Vec` during the call, before the returned promise exists (verified by mutating the array right
 * after `writeAll()` returned). Saves an 8-bytes-per-byte allocation per chunk (~10 % measured).
 */
const scratch = new Array<number>(IROH_CHUNK).fill(0);

/**
 * The bytes as the `number[]` iroh-js takes. The result may be shared scratch: pass it straight to
 * an iroh-js call and never keep it.
 */
export function toIrohBytes(bytes: Uint8Array): number[] {
  const n = bytes.length;
  const out = n === IROH_CHUNK ? scratch : new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = bytes[i]!;
  return out;
}

export function fromIrohBytes(bytes: number[]): Uint8Array {
  return new Uint8Array(bytes);
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}
