/**
 * A minimal HTTP/1.1 client over `node:net`, so every path is measured with the same client and
 * exactly the connection behaviour asked for: one kept-alive connection, or a fresh connection
 * per request (no pool in between, unlike `fetch`). Responses must carry `content-length` (the
 * origin always sends it, and every path relays the origin's bytes unchanged); bodies are counted,
 * not stored.
 */
import net from "node:net";

const MiB = 1024 * 1024;
const CRLFCRLF = Buffer.from("\r\n\r\n");

export interface Target {
  /** Where to connect. */
  readonly port: number;
  readonly host?: string;
  /** The `Host` header (the tunnel's public hostname through the edge). */
  readonly hostHeader: string;
}

export interface HttpResponse {
  status: number;
  bytes: number;
  /** The body as text when it is small (≤ 256 bytes). */
  text: string;
}

interface Pending {
  resolve(r: HttpResponse): void;
  reject(err: Error): void;
  status: number;
  length: number;
  got: number;
  small: Buffer[];
  inBody: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class HttpConn {
  private head: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private closedWith: Error | undefined;
  /** Set when the peer closed the connection (or it failed). */
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error): void => {
      this.closed = true;
      this.closedWith ??= err;
      const p = this.pending;
      this.pending = undefined;
      if (p) {
        clearTimeout(p.timer);
        p.reject(err);
      }
    };
    socket.on("error", (err) => fail(err));
    socket.on("end", () => fail(new Error("connection closed by peer")));
    socket.on("close", () => fail(new Error("connection closed")));
  }

  static open(target: Target, timeoutMs = 10_000): Promise<HttpConn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host ?? "127.0.0.1", port: target.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new HttpConn(socket));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
    });
  }

  private onData(chunk: Buffer): void {
    const p = this.pending;
    if (!p) {
      // Bytes nobody asked for: a protocol error on this connection.
      this.closedWith ??= new Error(`unexpected ${chunk.length} bytes`);
      return;
    }
    if (!p.inBody) {
      this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf(CRLFCRLF);
      if (end === -1) {
        if (this.head.length > 64 * 1024) this.finish(p, new Error("response head too large"));
        return;
      }
      const text = this.head.subarray(0, end).toString("latin1");
      const rest = this.head.subarray(end + 4);
      this.head = Buffer.alloc(0);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
      if (!m) return this.finish(p, new Error(`bad status line: ${text.slice(0, 80)}`));
      if (!cl) return this.finish(p, new Error(`no content-length in response: ${text.slice(0, 200)}`));
      p.status = Number(m[1]);
      p.length = Number(cl[1]);
      p.inBody = true;
      chunk = rest;
    }
    if (chunk.length > 0) {
      const need = p.length - p.got;
      if (chunk.length > need) return this.finish(p, new Error(`${chunk.length - need} bytes past the response body`));
      p.got += chunk.length;
      if (p.length <= 256) p.small.push(chunk);
    }
    if (p.got === p.length) this.finish(p);
  }

  private finish(p: Pending, err?: Error): void {
    this.pending = undefined;
    clearTimeout(p.timer);
    if (err) {
      this.closedWith ??= err;
      this.socket.destroy();
      p.reject(err);
    } else {
      p.resolve({ status: p.status, bytes: p.got, text: Buffer.concat(p.small).toString("latin1") });
    }
  }

  /**
   * One request; resolves with the complete response. `upload` sends that many bytes as the body
   * (content-length), in 1 MiB writes that wait for `drain`.
   */
  request(
    target: Target,
    path: string,
    opts: { method?: string; close?: boolean; upload?: number; timeoutMs?: number } = {},
  ): Promise<HttpResponse> {
    if (this.closed || this.closedWith) return Promise.reject(this.closedWith ?? new Error("connection closed"));
    if (this.pending) return Promise.reject(new Error("a request is already in flight"));
    const method = opts.method ?? (opts.upload !== undefined ? "POST" : "GET");
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${target.hostHeader}\r\nuser-agent: datumctl-connect-bench\r\n`;
    if (opts.upload !== undefined) head += `content-length: ${opts.upload}\r\ncontent-type: application/octet-stream\r\n`;
    if (opts.close) head += "connection: close\r\n";
    head += "\r\n";
    const promise = new Promise<HttpResponse>((resolve, reject) => {
      const p: Pending = { resolve, reject, status: 0, length: 0, got: 0, small: [], inBody: false, timer: undefined };
      p.timer = setTimeout(() => this.finish(p, new Error(`no complete response within ${opts.timeoutMs ?? 30_000} ms`)), opts.timeoutMs ?? 30_000);
      this.pending = p;
    });
    this.socket.write(head);
    if (opts.upload !== undefined) void this.sendBody(opts.upload);
    return promise;
  }

  private async sendBody(size: number): Promise<void> {
    const block = uploadBlock();
    for (let sent = 0; sent < size && !this.closed; ) {
      const n = Math.min(block.length, size - sent);
      const ok = this.socket.write(n === block.length ? block : block.subarray(0, n));
      sent += n;
      if (!ok) await new Promise<void>((resolve) => {
        const done = (): void => {
          this.socket.off("drain", done);
          this.socket.off("close", done);
          resolve();
        };
        this.socket.on("drain", done);
        this.socket.on("close", done);
      });
    }
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

let block: Uint8Array | undefined;
function uploadBlock(): Uint8Array {
  block ??= new Uint8Array(MiB).fill(0x62);
  return block;
}

/** One request on a fresh connection (connect → request with `connection: close` → close). */
export async function freshRequest(target: Target, path: string, opts: { upload?: number; timeoutMs?: number } = {}): Promise<HttpResponse> {
  const conn = await HttpConn.open(target, opts.timeoutMs ?? 10_000);
  try {
    return await conn.request(target, path, { ...opts, close: true });
  } finally {
    conn.destroy();
  }
}
