/**
 * The origin the data-plane tests (ours and the interop peer's) forward to: `/echo` (GET hello,
 * POST echoes the body), `/large?size=N`, `/chunked` (no content-length), `/headers` (what it got),
 * `/ws` (a websocket echo); anything else 404. And a port that was just free, for "origin down".
 */
import net from "node:net";
import type { Server } from "bun";
import { pattern } from "./bytes.ts";

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface TestOriginOptions {
  /** Called on every request that reaches the origin. */
  readonly onHit?: () => void;
  /** `/headers` answers an object (default) or the header pairs sorted by name (duplicates kept). */
  readonly headers?: "object" | "sorted-pairs";
}

export function startTestOrigin(o: TestOriginOptions = {}): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, server) {
      o.onHit?.();
      const url = new URL(req.url);
      if (url.pathname === "/ws") {
        if (server.upgrade(req)) return undefined;
        return new Response("upgrade failed", { status: 400 });
      }
      if (url.pathname === "/echo") return req.method === "POST" ? new Response(req.body) : new Response("hello");
      if (url.pathname === "/large") return new Response(pattern(Number(url.searchParams.get("size"))));
      if (url.pathname === "/chunked") {
        // No content-length: Bun frames this with transfer-encoding: chunked.
        const body = new ReadableStream({
          start(controller) {
            for (const part of ["alpha ", "beta ", "gamma"]) controller.enqueue(ascii(part));
            controller.close();
          },
        });
        return new Response(body, { headers: { "x-origin": "chunked" } });
      }
      if (url.pathname === "/headers") {
        return o.headers === "sorted-pairs"
          ? Response.json([...req.headers].sort(([a], [b]) => a.localeCompare(b)))
          : Response.json(Object.fromEntries(req.headers));
      }
      return new Response("not found", { status: 404 });
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
    },
  });
}

/** A port that was free a moment ago: nothing listens there during the test. */
export async function justFreePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
