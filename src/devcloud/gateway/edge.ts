/**
 * The dev cloud's edge (docs/architecture.md#local-datum, standing in for Envoy): plain HTTP/1.1 on
 * loopback, routed by `Host`. Unknown host → 404; offline tunnel → 503 `Tunnel not online`;
 * online → a CONNECT tunnel through the gateway to the route's target, into which the client's
 * bytes go unchanged — the head already read, then the connection piped both ways — so
 * keep-alive, websockets and large bodies behave as they would behind Envoy.
 */
import net from "node:net";
import { copy, pipeBoth } from "../../dataplane/pipe.ts";
import { headerValue, parseRequestHead } from "../../dataplane/http-head.ts";
import { readHead } from "../../dataplane/read-head.ts";
import { SocketReader, writeSocket } from "../../dataplane/socket-io.ts";
import { firstLine, type LogFn } from "../../dataplane/upstream.ts";
import { errorPage, NOT_FOUND, TUNNEL_NOT_ONLINE } from "./error-pages.ts";
import type { Gateway } from "./gateway.ts";

/** Envoy's default `max_request_headers_kb` is 60. */
export const EDGE_HEAD_LIMITS = { maxLength: 60 * 1024, maxHeaders: 100 } as const;

export interface Route {
  readonly endpointId: string;
  /** The device's direct addresses, `ip:port`. */
  readonly addresses: readonly string[];
  readonly homeRelay: string | null;
  readonly targetHost: string;
  readonly targetPort: number;
  /** Connector Ready and advertised. */
  readonly online: boolean;
}

export type ResolveRoute = (hostname: string) => Route | undefined | Promise<Route | undefined>;

export interface EdgeOptions {
  readonly gateway: Pick<Gateway, "dialConnect">;
  readonly resolveRoute: ResolveRoute;
  readonly host?: string;
  readonly port?: number;
  readonly log?: LogFn;
}

export interface Edge {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** `Host` → the route key: lowercased, port and IPv6 brackets removed. */
export function routeHostname(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") === -1 ? undefined : h.indexOf("]"));
  const colon = h.lastIndexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

export function targetAuthority(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function createEdge(options: EdgeOptions): Promise<Edge> {
  const log: LogFn = options.log ?? (() => undefined);
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    handle(new SocketReader(socket)).catch((err: unknown) => {
      log("debug", "edge connection ended with an error", { error: firstLine(err) });
      socket.destroy();
    });
  });

  async function reply(client: SocketReader, bytes: Uint8Array): Promise<void> {
    await writeSocket(client.socket, bytes);
    client.close();
  }

  async function handle(client: SocketReader): Promise<void> {
    const request = await readHead(client, parseRequestHead, EDGE_HEAD_LIMITS);
    if (request.kind === "eof") return client.close();
    if (request.kind === "error") return reply(client, errorPage(400));
    const hostname = routeHostname(headerValue(request.head.headers, "host") ?? "");
    const route = await options.resolveRoute(hostname);
    if (!route) return reply(client, NOT_FOUND);
    if (!route.online) return reply(client, TUNNEL_NOT_ONLINE);

    const target = targetAuthority(route.targetHost, route.targetPort);
    const result = await options.gateway.dialConnect(route.endpointId, route.addresses, route.homeRelay, target);
    if (result.kind === "error") {
      log("info", "gateway error", { host: hostname, status: result.status, error: result.message });
      return reply(client, errorPage(result.status));
    }
    if (result.status !== 200) {
      // The device's own answer (403, 502) passes through, body until the device's FIN.
      await writeSocket(client.socket, result.headBytes);
      await copy(result.stream, client);
      return client.close();
    }
    // The tunnel carries the client's bytes exactly: the head we parsed goes first.
    client.unshift(request.raw);
    await pipeBoth(client, result.stream);
    client.close();
  }

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
