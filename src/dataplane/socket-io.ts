/**
 * TCP plumbing for the data plane: connect, a pull-style reader with backpressure, and awaited
 * writes. `node:net` rather than `Bun.connect` because it gives pause/resume, `drain` and
 * half-close (`allowHalfOpen`), which is exactly what FIN ↔ half-close forwarding needs.
 */
import net from "node:net";
import { Pushback, type ByteStream } from "./byte-stream.ts";
import { concatBytes, IROH_CHUNK } from "./bytes.ts";

/** Bytes queued from a socket before it is paused; reading resumes below half of it. */
export const SOCKET_HIGH_WATER = 1024 * 1024;
/** How long a TCP connect to an origin may take before it counts as unreachable. */
export const ORIGIN_CONNECT_TIMEOUT_MS = 10_000;

/** Connect to `host:port` (an IPv6 literal may be bracketed); rejects on error or timeout. */
export function connectTcp(host: string, port: number, timeoutMs = ORIGIN_CONNECT_TIMEOUT_MS): Promise<net.Socket> {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: bare, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** Write and wait for the socket to accept more (`drain`), or reject if it dies first. */
export function writeSocket(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  if (socket.destroyed) return Promise.reject(new Error("socket closed"));
  if (socket.write(bytes)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      socket.off("drain", onDrain);
      socket.off("close", onClose);
      socket.off("error", done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error("socket closed"));
    socket.on("drain", onDrain);
    socket.on("close", onClose);
    socket.on("error", done);
  });
}

/**
 * Pulls from a socket: `read()` returns what has queued (coalesced up to `max`, so iroh sees big
 * writes), `null` at the peer's FIN. The socket is paused past `SOCKET_HIGH_WATER` queued bytes,
 * which is what carries iroh's flow control back to the TCP peer.
 */
export class SocketReader implements ByteStream {
  private readonly back = new Pushback();
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private paused = false;

  constructor(
    readonly socket: net.Socket,
    private readonly highWater = SOCKET_HIGH_WATER,
  ) {
    socket.on("data", (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued >= this.highWater && !this.paused) {
        this.paused = true;
        socket.pause();
      }
      this.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("error", (err) => {
      this.failure ??= err;
      this.notify();
    });
    socket.on("close", () => {
      if (!this.ended) this.failure ??= new Error("connection closed before end of stream");
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async read(max = IROH_CHUNK): Promise<Uint8Array | null> {
    const pushed = this.back.take(max);
    if (pushed) return pushed;
    while (this.queue.length === 0) {
      if (this.ended) return null;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    while (this.queue.length > 0 && size < max) {
      const head = this.queue[0]!;
      const take = Math.min(head.length, max - size);
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      parts.push(head.subarray(0, take));
      size += take;
    }
    this.queued -= size;
    if (this.paused && this.queued < this.highWater / 2) {
      this.paused = false;
      this.socket.resume();
    }
    return concatBytes(parts);
  }

  unshift(bytes: Uint8Array): void {
    this.back.unshift(bytes);
  }

  write(bytes: Uint8Array): Promise<void> {
    return writeSocket(this.socket, bytes);
  }

  finish(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve();
      this.socket.end(() => resolve());
    });
  }

  async abort(): Promise<void> {
    this.socket.destroy();
  }

  /** Close once whatever was written has been flushed (a plain `destroy` would drop it). */
  close(): void {
    if (this.socket.destroyed) return;
    if (this.socket.writableFinished || !this.socket.writable) this.socket.destroy();
    else this.socket.end(() => this.socket.destroy());
  }
}
