/**
 * The byte-stream seam between the proxy logic and its transports.
 *
 * The stream protocol (docs/wire-facts.md#stream-protocol) is written against `ByteStream`, so the same
 * code serves an iroh bi-stream in the worker and the gateway, and a TCP socket on the edge. `unshift`
 * lets a head parser hand back the bytes it read past the blank line, so "forward what arrived after the
 * head first" is simply "keep reading".
 */
import type { RecvStream, SendStream } from "@number0/iroh";
import { fromIrohBytes, IROH_CHUNK, toIrohBytes } from "./bytes.ts";

export interface ByteSource {
  /** Up to `max` bytes; `null` at end of stream. Rejects when the peer aborted. */
  read(max?: number): Promise<Uint8Array | null>;
  /** Put bytes back in front of the next read. */
  unshift(bytes: Uint8Array): void;
}

export interface ByteSink {
  /** Resolves once the bytes are accepted; callers await one write at a time. */
  write(bytes: Uint8Array): Promise<void>;
  /** Graceful end of this direction (QUIC FIN / TCP half-close). */
  finish(): Promise<void>;
}

export interface ByteStream extends ByteSource, ByteSink {
  /**
   * Abort (QUIC RESET_STREAM + STOP_SENDING / TCP destroy). Never throws. A send side that was
   * already finished is left alone, so an answer written just before (a 403, a 502) still arrives.
   */
  abort(): Promise<void>;
}

/**
 * iroh calls started by `abort()` and not awaited there. A worker waits for these (with its other
 * in-flight work) before exiting: a NAPI call that completes after its thread is gone calls back
 * into a freed environment, and Bun crashes (measured: a segfault in the main process later on).
 */
export const pendingAborts = new Set<Promise<unknown>>();

/** Holds bytes handed back by `unshift`. */
export class Pushback {
  private readonly pending: Uint8Array[] = [];

  unshift(bytes: Uint8Array): void {
    if (bytes.length > 0) this.pending.unshift(bytes);
  }

  /** Take up to `max` pushed-back bytes, or undefined when there are none. */
  take(max: number): Uint8Array | undefined {
    const first = this.pending.shift();
    if (!first) return undefined;
    if (first.length <= max) return first;
    this.pending.unshift(first.subarray(max));
    return first.subarray(0, max);
  }
}

/**
 * The smallest read asked of iroh. A pending `recv.read(limit)` holds about `limit` bytes of native
 * memory on a stream that has carried data (measured: 1,000 idle kept-alive streams with a pending
 * 256 KiB read on each end cost +446 MiB of RSS, with 16 KiB +44 MiB), and a kept-alive tunnel
 * connection spends most of its life waiting in one. So reads start here and grow only while data
 * keeps coming (`IrohByteStream.read`).
 */
export const IROH_READ_MIN = 16 * 1024;

/**
 * An iroh bi-stream as a `ByteStream`.
 *
 * Reads ask iroh for `IROH_READ_MIN` bytes, growing toward the caller's `max` while full reads
 * keep coming. Writes are chained so at most one `writeAll` is in flight per stream whatever the
 * caller does (defect 3: overlapping calls on one half contend for its lock). Large writes are
 * split into `IROH_CHUNK` pieces: a `number[]` costs 8 bytes per byte, so a 10 MiB array would be
 * 80 MiB.
 * `stopped()`/`receivedReset()` are never called: they hold the stream's lock (defect 3).
 */
export class IrohByteStream implements ByteStream {
  private readonly back = new Pushback();
  private tail: Promise<unknown> = Promise.resolve();
  private ended = false;
  private finished = false;
  private aborted = false;
  /** What the next iroh read asks for (see `IROH_READ_MIN`). */
  private readSize = IROH_READ_MIN;

  constructor(
    private readonly send: SendStream,
    private readonly recv: RecvStream,
  ) {}

  async read(max = IROH_CHUNK): Promise<Uint8Array | null> {
    // After `abort()` a reader still looping (a head read cut off by its timeout) must not start
    // another `recv.read`: it would hold the half's lock again and keep `stop` waiting behind it.
    if (this.aborted) throw new Error("stream aborted");
    const pushed = this.back.take(max);
    if (pushed) return pushed;
    if (this.ended) return null;
    const bytes = await this.recv.read(Math.min(max, this.readSize));
    if (bytes.length === 0) {
      this.ended = true;
      return null;
    }
    // Four times what just came: full reads ramp 16 → 64 → 256 KiB while data keeps coming, and a
    // stream that went quiet (after a request head, the tail of a body) waits with a small read.
    this.readSize = Math.min(IROH_CHUNK, Math.max(IROH_READ_MIN, 4 * bytes.length));
    return fromIrohBytes(bytes);
  }

  unshift(bytes: Uint8Array): void {
    this.back.unshift(bytes);
  }

  write(bytes: Uint8Array): Promise<void> {
    const run = async (): Promise<void> => {
      for (let offset = 0; offset < bytes.length; offset += IROH_CHUNK) {
        await this.send.writeAll(toIrohBytes(bytes.subarray(offset, offset + IROH_CHUNK)));
      }
    };
    const next = this.tail.then(run);
    this.tail = next.catch(() => undefined);
    return next;
  }

  finish(): Promise<void> {
    this.finished = true;
    const next = this.tail.then(() => this.send.finish());
    this.tail = next.catch(() => undefined);
    return next;
  }

  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    // Not awaited: iroh-js holds a half's lock across a pending read or write, so `stop`/`reset`
    // wait behind it. They go through once that call ends, which the peer's own abort (it sees
    // our other half reset) brings about. Each fails harmlessly when its half already ended.
    const stops: Promise<void>[] = [this.recv.stop(0n)];
    if (!this.finished) stops.push(this.send.reset(0n));
    const settled = Promise.allSettled(stops);
    pendingAborts.add(settled);
    void settled.then(() => pendingAborts.delete(settled));
  }
}
