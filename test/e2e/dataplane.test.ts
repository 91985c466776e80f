/**
 * The data plane end to end on loopback, real everything: a local origin (Bun.serve), the real
 * ListenNode worker behind `loadDataPlane()`, the dev-cloud gateway (its own iroh endpoint) and
 * edge (raw TCP by Host). Must run inside the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test test/e2e/dataplane
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { Endpoint, presetMinimal, RelayMode } from "@number0/iroh";
import type { ByteStream } from "../../src/dataplane/byte-stream.ts";
import { concatBytes } from "../../src/dataplane/bytes.ts";
import { countersFor } from "../../src/dataplane/counters.ts";
import { formatSocketAddr } from "../../src/dataplane/iroh-endpoint.ts";
import { loadDataPlane, type DataPlane, type DataPlaneEndpoint } from "../../src/dataplane/client.ts";
import { createEdge, type Edge, type Route } from "../../src/devcloud/gateway/edge.ts";
import { createGateway, type Gateway, type GatewayResult } from "../../src/devcloud/gateway/gateway.ts";
import type { AllowListEntry, LogFields } from "../../workers/messages.ts";
import { MiB, pattern, sha256 } from "../helpers/bytes.ts";
import { justFreePort, startTestOrigin } from "../helpers/test-origin.ts";

/** Per-test bound: generous for a loaded 2-core machine; the whole file takes ~6 s when idle. */
const SLOW = 20_000;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

async function readAll(stream: ByteStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) parts.push(chunk);
  return concatBytes(parts.length > 0 ? parts : [new Uint8Array(0)]);
}

/** What a stream yields before it ends: bytes, or the error that ended it. */
async function outcome(stream: ByteStream): Promise<{ bytes: number; error?: string }> {
  let bytes = 0;
  try {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) bytes += chunk.length;
    return { bytes };
  } catch (err) {
    return { bytes, error: String(err).split("\n", 1)[0] ?? "" };
  }
}

let origin: Server<undefined>;
let otherOrigin: Server<undefined>;
let originHits = 0;
let downPort: number;
let dataPlane: DataPlane;
let endpoint: DataPlaneEndpoint;
let gateway: Gateway;
let edge: Edge;
const workerLogs: Array<{ level: string; msg: string; fields?: LogFields }> = [];
let allowList: AllowListEntry[];

const addrs = (): string[] => endpoint.addresses.map(formatSocketAddr);
const route = (targetHost: string, targetPort: number, online = true): Route => ({
  endpointId: endpoint.endpointId,
  addresses: addrs(),
  homeRelay: null,
  targetHost,
  targetPort,
  online,
});

function routes(): Record<string, Route> {
  return {
    "app.test": route("127.0.0.1", origin.port!),
    "localhost.test": route("localhost", origin.port!),
    "denied.test": route("127.0.0.1", otherOrigin.port!),
    "down.test": route("127.0.0.1", downPort),
    "offline.test": route("127.0.0.1", origin.port!, false),
  };
}

/**
 * A request to the edge with a given Host. No connection reuse: the edge routes a connection by
 * its first request (as a tunnel), and fetch pools by URL, not by the Host header we override.
 */
const viaEdge = (host: string, path = "/", init: RequestInit = {}): Promise<Response> =>
  fetch(`${edge.url}${path}`, { ...init, keepalive: false, headers: { host, ...(init.headers as Record<string, string> | undefined) } });

beforeAll(async () => {
  origin = startTestOrigin({ onHit: () => void originHits++ });
  otherOrigin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("must never be reached") });
  downPort = await justFreePort();

  allowList = [
    { id: "app", host: "127.0.0.1", port: origin.port!, enabled: true },
    { id: "down", host: "localhost", port: downPort, enabled: true },
    { id: "off", host: "127.0.0.1", port: otherOrigin.port!, enabled: false },
  ];
  dataPlane = await loadDataPlane({ log: (level, msg, fields) => workerLogs.push({ level, msg, ...(fields ? { fields } : {}) }) });
  endpoint = await dataPlane.start({ secretKey: crypto.getRandomValues(new Uint8Array(32)), relayUrls: [], allowList });
  gateway = await createGateway({ dialTimeoutMs: 3_000 });
  edge = await createEdge({ gateway, resolveRoute: (host) => routes()[host] });
});

afterAll(async () => {
  await edge?.stop();
  await gateway?.stop();
  await dataPlane?.stop();
  origin?.stop(true);
  otherOrigin?.stop(true);
});

describe("through the edge (CONNECT tunnels)", () => {
  test("the data plane reports its endpoint", () => {
    expect(endpoint.endpointId).toMatch(/^[0-9a-f]{64}$/);
    expect(endpoint.boundPort).toBeGreaterThan(0);
    expect(endpoint.addresses).toContainEqual({ address: "127.0.0.1", port: endpoint.boundPort });
    expect(endpoint.homeRelay).toBeNull();
    expect(dataPlane.status().state).toBe("running");
  });

  test("GET → 200 with the origin's body", async () => {
    const res = await viaEdge("app.test", "/echo");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello");
  });

  test("the tunnel carries the client's bytes unchanged (Host and all)", async () => {
    const res = await viaEdge("app.test", "/headers", { headers: { "x-custom": "kept" } });
    const headers = (await res.json()) as Record<string, string>;
    expect(headers.host).toBe("app.test");
    expect(headers["x-custom"]).toBe("kept");
  });

  test("a 10 MiB POST is echoed intact", async () => {
    const body = pattern(10 * MiB);
    const res = await viaEdge("app.test", "/echo", { method: "POST", body });
    expect(res.status).toBe(200);
    const echoed = new Uint8Array(await res.arrayBuffer());
    expect(echoed.length).toBe(body.length);
    expect(sha256(echoed)).toBe(sha256(body));
  }, SLOW);

  test("an 8 MiB download arrives intact", async () => {
    const res = await viaEdge("app.test", `/large?size=${8 * MiB}`);
    const got = new Uint8Array(await res.arrayBuffer());
    expect(sha256(got)).toBe(sha256(pattern(8 * MiB)));
  }, SLOW);

  test("websocket echo, text and binary", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/ws`, { headers: { host: "app.test" } });
    ws.binaryType = "arraybuffer";
    const received: Array<string | ArrayBuffer> = [];
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => {
        ws.send("ping");
        ws.send(pattern(100_000));
      };
      ws.onmessage = (e) => {
        received.push(e.data as string | ArrayBuffer);
        if (received.length === 2) resolve();
      };
      ws.onerror = () => reject(new Error("websocket error"));
    });
    ws.close();
    expect(received[0]).toBe("ping");
    expect(sha256(new Uint8Array(received[1] as ArrayBuffer))).toBe(sha256(pattern(100_000)));
  });

  test("100 concurrent requests all succeed", async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await viaEdge("app.test", "/echo", { method: "POST", body: `req-${i}` });
        return [res.status, await res.text()] as const;
      }),
    );
    expect(results.filter(([status, body], i) => status === 200 && body === `req-${i}`)).toHaveLength(100);
  }, SLOW);

  test("localhost and 127.0.0.1 are the same origin for the allow-list", async () => {
    const res = await viaEdge("localhost.test", "/echo");
    expect([res.status, await res.text()]).toEqual([200, "hello"]);
  });

  test("a target outside the allow-list → the device's 403 passes through", async () => {
    const before = originHits;
    const res = await viaEdge("denied.test", "/echo");
    expect(res.status).toBe(403);
    expect(res.headers.get("content-length")).toBe("0");
    expect(await res.text()).toBe("");
    expect(originHits).toBe(before);
  });

  test("origin down → the device's 502 Origin Is Unreachable", async () => {
    const res = await viaEdge("down.test", "/");
    expect(res.status).toBe(502);
    expect(res.statusText).toBe("Origin Is Unreachable");
  });

  test("offline tunnel → 503 Tunnel not online; unknown host → 404", async () => {
    const offline = await viaEdge("offline.test", "/");
    expect([offline.status, await offline.text()]).toEqual([503, "Tunnel not online"]);
    expect((await viaEdge("nobody.test", "/")).status).toBe(404);
  });

  test("replacing the allow-list applies to the next request", async () => {
    dataPlane.setAllowList([]);
    try {
      await Bun.sleep(20); // the message hop to the worker
      expect((await viaEdge("app.test", "/echo")).status).toBe(403);
    } finally {
      dataPlane.setAllowList(allowList);
    }
    await Bun.sleep(20);
    expect((await viaEdge("app.test", "/echo")).status).toBe(200);
  });
});

describe("directly on the gateway", () => {
  const dial = (url: string, init: { method?: string; headers?: Array<[string, string]>; body?: Uint8Array } = {}): Promise<GatewayResult> =>
    gateway.dialAbsolute(endpoint.endpointId, addrs(), null, {
      method: init.method ?? "GET",
      url,
      headers: init.headers ?? [],
      ...(init.body ? { body: init.body } : {}),
    });

  test("absolute-form GET: canonical status line, body until FIN", async () => {
    const res = await dial(`http://127.0.0.1:${origin.port}/echo`);
    if (res.kind !== "response") throw new Error(res.message);
    expect(text(res.headBytes).split("\r\n", 1)[0]).toBe("HTTP/1.1 200 OK");
    expect(text(await readAll(res.stream))).toBe("hello");
  });

  test("absolute-form: a chunked origin response is de-chunked, transfer-encoding dropped", async () => {
    const res = await dial(`http://127.0.0.1:${origin.port}/chunked`);
    if (res.kind !== "response") throw new Error(res.message);
    expect(res.head.headers.find((h) => h.name === "transfer-encoding")).toBeUndefined();
    expect(res.head.headers.find((h) => h.name === "x-origin")?.value).toBe("chunked");
    expect(text(await readAll(res.stream))).toBe("alpha beta gamma");
  });

  test("absolute-form POST without content-length: the body reaches the origin intact", async () => {
    const body = pattern(3 * MiB, 3);
    const res = await dial(`http://127.0.0.1:${origin.port}/echo`, { method: "POST", body });
    if (res.kind !== "response") throw new Error(res.message);
    expect(sha256(await readAll(res.stream))).toBe(sha256(body));
  }, SLOW);

  test("absolute-form: hop-by-hop request headers are dropped, Host kept, connection: close", async () => {
    const res = await dial(`http://127.0.0.1:${origin.port}/headers`, {
      headers: [
        ["host", "public.example"],
        ["connection", "x-secret"],
        ["x-secret", "hop"],
        ["proxy-authorization", "Basic eA=="],
        ["x-end-to-end", "yes"],
      ],
    });
    if (res.kind !== "response") throw new Error(res.message);
    const seen = JSON.parse(text(await readAll(res.stream))) as Record<string, string>;
    expect(seen.host).toBe("public.example");
    expect(seen["x-end-to-end"]).toBe("yes");
    expect(seen["x-secret"]).toBeUndefined();
    expect(seen["proxy-authorization"]).toBeUndefined();
    expect(seen.connection).toBe("close");
  });

  test("absolute-form websocket: 101, then frames both ways", async () => {
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    await stream.write(
      ascii(
        `GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nhost: 127.0.0.1:${origin.port}\r\nupgrade: websocket\r\nconnection: upgrade\r\n` +
          "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
      ),
    );
    let received: Uint8Array = new Uint8Array(0);
    const readUntil = async (done: (b: string) => boolean): Promise<string> => {
      while (!done(text(received))) {
        const chunk = await stream.read();
        if (chunk === null) break;
        received = concatBytes([received, chunk]);
      }
      return text(received);
    };
    const head = await readUntil((s) => s.includes("\r\n\r\n"));
    expect(head.split("\r\n", 1)[0]).toBe("HTTP/1.1 101 Switching Protocols");
    expect(head.toLowerCase()).toContain("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=");
    received = received.subarray(head.indexOf("\r\n\r\n") + 4);
    // One masked text frame "hi" (client → server frames must be masked).
    const mask = [1, 2, 3, 4];
    const payload = [..."hi"].map((c, i) => c.charCodeAt(0) ^ mask[i % 4]!);
    await stream.write(Uint8Array.from([0x81, 0x80 | payload.length, ...mask, ...payload]));
    await readUntil((s) => s.length >= 4);
    expect([...received.subarray(0, 4)]).toEqual([0x81, 2, 0x68, 0x69]);
    await stream.abort();
  });

  test("a header section over 8 KiB is not proxied: no response, the stream is aborted", async () => {
    const before = originHits;
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    await stream.write(ascii(`GET http://127.0.0.1:${origin.port}/echo HTTP/1.1\r\nx-big: ${"a".repeat(9000)}\r\n\r\n`));
    const result = await outcome(stream);
    expect(result.bytes).toBe(0);
    expect(result.error).toBeDefined();
    expect(originHits).toBe(before);
  });

  test("an origin-form request on the stream is dropped without a response", async () => {
    const stream = await gateway.openStream(endpoint.endpointId, addrs(), null);
    await stream.write(ascii("GET /echo HTTP/1.1\r\nhost: x\r\n\r\n"));
    expect((await outcome(stream)).bytes).toBe(0);
  });

  test("CONNECT with the host's scheme prefix is allowed like the bare host", async () => {
    const res = await gateway.dialConnect(endpoint.endpointId, addrs(), null, `http://127.0.0.1:${origin.port}`);
    if (res.kind !== "response") throw new Error(res.message);
    expect(res.status).toBe(200);
    await res.stream.write(ascii("GET /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"));
    expect(text(await readAll(res.stream))).toEndWith("hello");
  });

  test("SSRF-ish spellings of the origin are denied", async () => {
    for (const host of ["0.0.0.0", "127.1", "[::ffff:127.0.0.1]", "localhost.", "user@127.0.0.1"]) {
      const res = await gateway.dialConnect(endpoint.endpointId, addrs(), null, `${host}:${origin.port}`);
      expect(res.kind === "response" && res.status).toBe(403);
    }
  });

  test("a device that does not answer → 504", async () => {
    // An id with an address where nobody listens: the dial must time out (gateway budget 3 s).
    const bogusId = "a".repeat(64);
    const res = await gateway.dialConnect(bogusId, [`127.0.0.1:${downPort}`], null, `127.0.0.1:${origin.port}`);
    expect(res.kind).toBe("error");
    expect(res.status).toBe(504);
  }, SLOW);
});

describe("counters and shutdown", () => {
  test("counters moved, per target authority", async () => {
    const stats = await dataPlane.stats();
    const app = countersFor(stats, "127.0.0.1", origin.port!);
    expect(app?.accepted).toBeGreaterThanOrEqual(100);
    expect(app?.bytesToOrigin).toBeGreaterThan(10 * MiB);
    expect(app?.bytesFromOrigin).toBeGreaterThan(18 * MiB);
    expect(stats.counters[`127.0.0.1:${otherOrigin.port}`]?.denied).toBeGreaterThanOrEqual(1);
    expect(stats.counters[`127.0.0.1:${downPort}`]).toMatchObject({ accepted: 1, failed: 1 });
    expect(stats.connectionsAccepted).toBeGreaterThanOrEqual(1);
  });

  test("stop() shuts the worker down from inside and frees its UDP port", async () => {
    await edge.stop();
    await dataPlane.stop();
    expect(dataPlane.status()).toMatchObject({ state: "dead" });
    expect(dataPlane.status().lastDeath).toMatchObject({ reason: "stopped", exitCode: 0 });
    // Both families on the same port: the worker's sockets must be gone.
    const b = Endpoint.builder();
    presetMinimal(b);
    b.relayMode(RelayMode.disabled());
    b.bindAddr(`0.0.0.0:${endpoint.boundPort}`);
    const rebound = await b.bind();
    expect(rebound.boundSockets()).toContain(`0.0.0.0:${endpoint.boundPort}`);
    await rebound.close();
  });
});
