/**
 * The origin every path ends at, in its own process so the bench process carries only the client:
 *   bun bench/lib/origin.ts [--extra N]
 * prints one JSON line `{"port":P,"extra":[…]}` once listening on 127.0.0.1 (`--extra N` more
 * ports, one per additional named tunnel, serving the same routes), then runs until killed.
 *
 *   GET  /small          "ok" (2 bytes, content-length); any other path answers the same
 *   GET  /big?mib=N      N MiB of 0x61, content-length
 *   GET  /bytes?n=N      N bytes (≤ 1 MiB) of 0x61
 *   POST /sink           reads the content-length body, answers the byte count
 *   GET  /_stats         {"requests":R,"connections":C} since the last /_reset
 *   GET  /_reset
 *
 * A minimal HTTP/1.1 server on `node:net` (keep-alive unless `connection: close`), not
 * `Bun.serve`: Bun.serve closes a connection that has sent no request after ~10 s whatever its
 * `idleTimeout`, which would fail "1,000 connections held 10 s" on every path that connects to the
 * origin up front (direct, ssh -R) for reasons of the origin's, not the path's.
 */
import net from "node:net";

const MiB = 1024 * 1024;
const bodies = new Map<number, Buffer>();
let requests = 0;
let connections = 0;

function bigBody(mib: number): Buffer {
  let b = bodies.get(mib);
  if (!b) {
    b = Buffer.alloc(mib * MiB, 0x61);
    bodies.set(mib, b);
  }
  return b;
}

function respond(socket: net.Socket, status: number, body: Buffer | string, close: boolean): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  const reason = status === 200 ? "OK" : status === 404 ? "Not Found" : "Bad Request";
  const head = `HTTP/1.1 ${status} ${reason}\r\ncontent-length: ${bytes.length}\r\ncontent-type: ${typeof body === "string" ? "text/plain" : "application/octet-stream"}\r\n${close ? "connection: close\r\n" : ""}\r\n`;
  if (bytes.length <= 64 * 1024) socket.write(Buffer.concat([Buffer.from(head, "latin1"), bytes]));
  else {
    socket.write(head, "latin1");
    socket.write(bytes);
  }
  if (close) socket.end();
}

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  connections++;
  let buf: Buffer = Buffer.alloc(0);
  let sinkLeft = 0;
  let sinkGot = 0;
  let sinkClose = false;
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (sinkLeft > 0) {
        const take = Math.min(sinkLeft, buf.length);
        sinkLeft -= take;
        sinkGot += take;
        buf = buf.subarray(take);
        if (sinkLeft > 0) return;
        respond(socket, 200, String(sinkGot), sinkClose);
        continue;
      }
      const end = buf.indexOf("\r\n\r\n");
      if (end === -1) {
        if (buf.length > 64 * 1024) socket.destroy();
        return;
      }
      const head = buf.subarray(0, end).toString("latin1");
      buf = buf.subarray(end + 4);
      const m = /^(\S+) (\S+) HTTP\/1\.[01]\r?$/m.exec(head.split("\n", 1)[0] as string);
      if (!m) return void socket.destroy();
      const method = m[1] as string;
      const url = new URL(m[2] as string, "http://origin");
      const close = /\r\nconnection:\s*close/i.test(head);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
      switch (url.pathname) {
        case "/_stats":
          respond(socket, 200, JSON.stringify({ requests, connections }), close);
          continue;
        case "/_reset":
          requests = 0;
          connections = 0;
          respond(socket, 200, "reset", close);
          continue;
      }
      requests++;
      if (method === "POST" && url.pathname === "/sink") {
        sinkLeft = length;
        sinkGot = 0;
        sinkClose = close;
        if (length === 0) respond(socket, 200, "0", close);
        continue;
      }
      if (length > 0) return void socket.destroy(); // no other route takes a body
      if (url.pathname === "/big") {
        const mib = Math.min(1024, Math.max(1, Number(url.searchParams.get("mib") ?? "64") | 0));
        respond(socket, 200, bigBody(mib), close);
      } else if (url.pathname === "/bytes") {
        const n = Math.min(MiB, Math.max(0, Number(url.searchParams.get("n") ?? "0") | 0));
        respond(socket, 200, bigBody(1).subarray(0, n), close);
      } else respond(socket, 200, "ok", close); // /small, and the agent's own probes of /

    }
  });
}

function listen(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: false }, serve);
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

const i = process.argv.indexOf("--extra");
const extra = i === -1 ? 0 : Number(process.argv[i + 1] ?? "0") || 0;
const port = await listen();
const more: number[] = [];
for (let k = 0; k < extra; k++) more.push(await listen());
process.stdout.write(`${JSON.stringify({ port, extra: more })}\n`);
process.on("SIGTERM", () => process.exit(0));
