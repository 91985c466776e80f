/**
 * Read an HTTP head from a `ByteSource`, handing the bytes after it back to the source.
 */
import type { ByteSource } from "./byte-stream.ts";
import { HeadAccumulator, type HeadLimits, type HeadResult } from "./http-head.ts";

export type ReadHeadResult<T> =
  | { readonly kind: "complete"; readonly head: T; /** the head's own bytes, as received */ readonly raw: Uint8Array }
  | { readonly kind: "error"; readonly reason: string }
  /** The source ended first; `received` bytes had arrived (0 means a clean, empty stream). */
  | { readonly kind: "eof"; readonly received: number };

export async function readHead<T extends { headerLength: number }>(
  source: ByteSource,
  parse: (buf: Uint8Array, limits: HeadLimits, from: number) => HeadResult<T>,
  limits: HeadLimits,
): Promise<ReadHeadResult<T>> {
  const acc = new HeadAccumulator(parse, limits);
  for (;;) {
    // Never ask for more than the head can still need, so a large body stays in the source.
    const chunk = await source.read(Math.max(1, limits.maxLength - acc.bytes().length));
    if (chunk === null) return { kind: "eof", received: acc.bytes().length };
    const result = acc.push(chunk);
    if (result.kind === "need-more") continue;
    if (result.kind === "error") return result;
    const all = acc.bytes();
    // Copies: `all` is a view into the accumulator's buffer.
    source.unshift(all.slice(result.head.headerLength));
    return { kind: "complete", head: result.head, raw: all.slice(0, result.head.headerLength) };
  }
}
