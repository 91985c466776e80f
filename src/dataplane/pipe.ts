/**
 * Copy bytes between two `ByteStream`s in both directions until both have ended
 * (docs/wire-facts.md#stream-protocol: "copy both ways until both directions end"). The end of one
 * direction is forwarded as the end of the other (QUIC FIN ↔ TCP half-close); a failure in either aborts
 * both, so a reset on one side is never silently turned into a clean end on the other.
 */
import type { ByteSink, ByteSource, ByteStream } from "./byte-stream.ts";
import { IROH_CHUNK } from "./bytes.ts";

export async function copy(from: ByteSource, to: ByteSink, onBytes?: (n: number) => void): Promise<void> {
  for (;;) {
    const chunk = await from.read(IROH_CHUNK);
    if (chunk === null) break;
    await to.write(chunk);
    onBytes?.(chunk.length);
  }
  await to.finish();
}

export interface PipeHooks {
  /** Bytes that went a → b. */
  readonly aToB?: (n: number) => void;
  /** Bytes that went b → a. */
  readonly bToA?: (n: number) => void;
}

export async function pipeBoth(a: ByteStream, b: ByteStream, hooks: PipeHooks = {}): Promise<void> {
  const forward = copy(a, b, hooks.aToB);
  const backward = copy(b, a, hooks.bToA);
  try {
    await Promise.all([forward, backward]);
  } catch (err) {
    await Promise.all([a.abort(), b.abort()]);
    // The other direction fails too once its ends are aborted; that error is the same story.
    await Promise.allSettled([forward, backward]);
    throw err;
  }
}
