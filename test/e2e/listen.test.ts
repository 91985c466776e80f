/**
 * `tunnel listen` end to end, real everything: `dev cloud` as a child process (control plane,
 * controllers, edge, gateway with its own iroh endpoint), `tunnel listen` as a child process
 * (ListenNode, heartbeat and verifier workers), and local origins (Bun.serve). Traffic goes
 * client → edge → gateway → iroh → ListenNode → origin. Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 60000 test/e2e/listen.test.ts
 * The lease/heartbeat/runtime-watch scenarios are in listen-runtime.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { ControlPlaneClient, type TokenProvider } from "../../src/controlplane/client.ts";
import type { ByteStream } from "../../src/dataplane/byte-stream.ts";
import type { Gateway } from "../../src/devcloud/gateway/gateway.ts";
import type { Route } from "../../src/devcloud/routes.ts";
import { projectDir, slotFiles } from "../../src/state/paths.ts";
import { proxyConnectorName, proxyRules } from "../../src/tunnel/objects.ts";
import { MiB, pattern, sha256 } from "../helpers/bytes.ts";
import { runCli } from "../helpers/cli.ts";
import { killAllListens, readyUrl, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { until } from "../helpers/wait.ts";

const PROJECT = "local-project";
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---- origins -------------------------------------------------------------------------------

interface Origin {
  server: Server<undefined>;
  port: number;
  hits: number;
  stop(): void;
  /** Serve again on the same port (after `stop`). */
  restart(): void;
}

function serveOrigin(name: string): Origin {
  const origin: Origin = {
    server: undefined as unknown as Server<undefined>,
    port: 0,
    hits: 0,
    stop: () => origin.server.stop(true),
    restart: () => {
      origin.server = listen(origin.port);
    },
  };
  const listen = (port: number): Server<undefined> =>
    Bun.serve({
      hostname: "127.0.0.1",
      port,
      fetch(req, server) {
        origin.hits++;
        const url = new URL(req.url);
        if (url.pathname === "/ws") {
          if (server.upgrade(req)) return undefined;
          return new Response("upgrade failed", { status: 400 });
        }
        if (url.pathname === "/echo" && req.method === "POST") return new Response(req.body);
        if (url.pathname === "/headers") return Response.json(Object.fromEntries(req.headers));
        return new Response(`hello from ${name}`);
      },
      websocket: {
        message(ws, message) {
          ws.send(message);
        },
      },
    });
  origin.server = listen(0);
  origin.port = origin.server.port as number;
  return origin;
}

// ---- shared fixtures ------------------------------------------------------------------------

let datum: LocalDatum;
/** The test's own API client (any non-empty bearer is an identity to the local Datum). */
let api: ControlPlaneClient;
let origin: Origin;
/** A live service the tunnel's allow-list never names. */
let outsider: Origin;
let gateway: Gateway | undefined;
const origins: Origin[] = [];

const fixedToken: TokenProvider = { token: async () => "listen-e2e-admin", invalidate: async () => "listen-e2e-admin" };

/**
 * A request through the public URL. No connection reuse: the edge routes a connection once, by its
 * first request, and some tests re-point the route between requests.
 */
function viaPublic(url: string, path = "/", init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(path, url), { ...init, keepalive: false });
}

async function routes(): Promise<Route[]> {
  const res = await datum.admin("routes");
  return ((await res.json()) as { items: Route[] }).items;
}

async function routeFor(url: string): Promise<Route | undefined> {
  const hostname = new URL(url).hostname;
  return (await routes()).find((r) => r.hostname === hostname);
}

async function snapshot(project = PROJECT): Promise<Record<string, { metadata: { name: string } }[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, Record<string, { metadata: { name: string } }[]>> }).projects[project] ?? {};
}

async function advertised(id: string, project = PROJECT): Promise<boolean> {
  return ((await snapshot(project)).connectoradvertisements ?? []).some((a) => a.metadata.name === id);
}

/** The tunnel id `listen` printed (`  id: tunnel-…`). */
function tunnelIdOf(p: ListenProcess): string {
  const id = /^ {2}id: (tunnel-[a-z0-9]+)$/m.exec(p.stderr())?.[1];
  if (!id) throw new Error(`no tunnel id in listen's stderr:\n${p.stderr()}`);
  return id;
}

function listen(args: readonly string[], extraEnv: Record<string, string | undefined> = {}, waitForReady = true): Promise<ListenProcess> {
  return startListen(args, { env: { ...datum.env, ...extraEnv }, waitForReady });
}

beforeAll(async () => {
  datum = await startLocalDatum();
  expect(datum.env.DATUM_DEV_CLOUD_EDGE).toBeDefined();
  api = new ControlPlaneClient({ apiBase: datum.apiUrl, project: PROJECT, tokens: fixedToken });
  origin = serveOrigin("origin");
  outsider = serveOrigin("outsider");
  origins.push(origin, outsider);
});

afterAll(async () => {
  await killAllListens();
  await gateway?.stop().catch(() => undefined);
  for (const o of origins) o.server.stop(true);
  await datum?.stop();
});

// ---- 1–4: one listen, the public URL, teardown ----------------------------------------------

describe("listen → verified ready → traffic through the public URL", () => {
  let main: ListenProcess;

  beforeAll(async () => {
    main = await listen(["--endpoint", `127.0.0.1:${origin.port}`]);
  });

  test("ready means verified: one ready line on stdout naming the edge's URL", () => {
    const edgePort = new URL(datum.env.DATUM_DEV_CLOUD_EDGE as string).port;
    expect(main.stdout()).toMatch(/^Tunnel ready after \d+ sec: http:\/\/[a-z0-9-]+\.datumproxy\.localhost:\d+\n$/);
    const url = new URL(main.url);
    expect(url.port).toBe(edgePort);
    const err = main.stderr();
    expect(err).toContain("Created tunnel:");
    expect(err).toContain(`  endpoint: http://127.0.0.1:${origin.port}`);
    expect(err).toContain(`✓ origin reachable`);
    expect(err).toContain(`✓ proxy responding`);
    expect(err).toContain(`[${main.url}]: HTTP 200`);
    expect(err).toContain("Press Ctrl+C to stop...");
    // Every step was reported done before ready.
    for (const label of ["tunnel accepted", "iroh DNS published", "connector ready", "route programmed"]) {
      expect(err).toContain(`✓ ${label}`);
    }
  });

  test("GET → 200 with the origin's body", async () => {
    const before = origin.hits;
    const res = await viaPublic(main.url, "/");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello from origin");
    expect(origin.hits).toBe(before + 1);
  });

  test("the origin sees the public Host (the tunnel carries the client's bytes)", async () => {
    const res = await viaPublic(main.url, "/headers", { headers: { "x-custom": "kept" } });
    const seen = (await res.json()) as Record<string, string>;
    expect(seen.host).toBe(new URL(main.url).host);
    expect(seen["x-custom"]).toBe("kept");
  });

  test("a 10 MiB POST is echoed intact", async () => {
    const body = pattern(10 * MiB, 11);
    const res = await viaPublic(main.url, "/echo", { method: "POST", body });
    expect(res.status).toBe(200);
    const echoed = new Uint8Array(await res.arrayBuffer());
    expect(echoed.length).toBe(body.length);
    expect(sha256(echoed)).toBe(sha256(body));
  }, 30_000);

  test("websocket echo through the public URL, text and binary", async () => {
    const ws = new WebSocket(`ws://${new URL(main.url).host}/ws`);
    ws.binaryType = "arraybuffer";
    const received: Array<string | ArrayBuffer> = [];
    const binary = pattern(200_000, 3);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`websocket: ${received.length} of 2 echoes in 10 s`)), 10_000);
        ws.onopen = () => {
          ws.send("ping through iroh");
          ws.send(binary);
        };
        ws.onmessage = (e) => {
          received.push(e.data as string | ArrayBuffer);
          if (received.length === 2) {
            clearTimeout(timer);
            resolve();
          }
        };
        ws.onerror = () => {
          clearTimeout(timer);
          reject(new Error("websocket error"));
        };
      });
    } finally {
      ws.close();
    }
    expect(received[0]).toBe("ping through iroh");
    expect(sha256(new Uint8Array(received[1] as ArrayBuffer))).toBe(sha256(binary));
  }, 15_000);

  test("100 concurrent requests all 200, each with its own answer", async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await viaPublic(main.url, "/echo", { method: "POST", body: `req-${i}` });
        return [res.status, await res.text()] as const;
      }),
    );
    expect(results.filter(([status, body], i) => status === 200 && body === `req-${i}`)).toHaveLength(100);
  }, 30_000);

  test("a target outside the allow-list → 403 (the tunnel re-pointed on the server only)", async () => {
    const id = tunnelIdOf(main);
    const proxy = await api.get("HTTPProxy", id);
    const connector = proxy ? proxyConnectorName(proxy) : undefined;
    if (!connector) throw new Error(`HTTPProxy ${id} has no connector backend`);
    // What a second device or a stale edit could do: the server's route names another local port,
    // which this machine's allow-list (state.yml, only ever written by this agent) does not hold.
    await api.patch("HTTPProxy", id, { spec: { rules: proxyRules(`http://127.0.0.1:${outsider.port}`, connector) } });
    try {
      await until(async () => (await routeFor(main.url))?.targetPort === outsider.port, 5_000, "the route re-pointed");
      const before = outsider.hits;
      const res = await viaPublic(main.url, "/");
      expect(res.status).toBe(403);
      expect(await res.text()).toBe("");
      expect(outsider.hits).toBe(before);
    } finally {
      await api.patch("HTTPProxy", id, { spec: { rules: proxyRules(`http://127.0.0.1:${origin.port}`, connector) } });
      await until(async () => (await routeFor(main.url))?.targetPort === origin.port, 5_000, "the route restored");
    }
    expect((await viaPublic(main.url, "/")).status).toBe(200);
    expect(main.exitCode()).toBeNull();
  });

  test("origin down → 502 Origin Is Unreachable through the public URL; back up → 200", async () => {
    origin.stop();
    try {
      const res = await viaPublic(main.url, "/");
      expect(res.status).toBe(502);
      expect(res.statusText).toBe("Origin Is Unreachable");
      await res.arrayBuffer();
    } finally {
      origin.restart();
    }
    const again = await viaPublic(main.url, "/");
    expect([again.status, await again.text()]).toEqual([200, "hello from origin"]);
    expect(main.exitCode()).toBeNull();
  });

  test("a header section over 8 KiB: the device refuses the stream, listen keeps serving", async () => {
    // The edge speaks CONNECT (as production does), so a client's own header section travels
    // inside the tunnel; the device's 8192-byte limit applies to what arrives on an iroh stream.
    // Dial the running ListenNode the way a gateway does, by endpoint id and its published addresses.
    const route = await routeFor(main.url);
    if (!route?.endpointId) throw new Error("no route with an endpoint id for the tunnel");
    const addresses = route.addresses.map((a) => (a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`));
    const { createGateway } = await import("../../src/devcloud/gateway/gateway.ts");
    gateway ??= await createGateway({ dialTimeoutMs: 5_000 });

    const read = async (stream: ByteStream): Promise<{ bytes: number; error?: string }> => {
      let bytes = 0;
      try {
        for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) bytes += chunk.length;
        return { bytes };
      } catch (err) {
        return { bytes, error: String(err).split("\n", 1)[0] ?? "" };
      }
    };
    const within = <T>(what: string, p: Promise<T>): Promise<T> =>
      Promise.race([p, Bun.sleep(8_000).then((): never => { throw new Error(`${what}: no outcome within 8 s`); })]);

    // Control: the same request with a small head is served.
    const served = await within("small head", gateway.dialAbsolute(route.endpointId, addresses, null, {
      method: "GET",
      url: `http://127.0.0.1:${origin.port}/`,
      headers: [["x-small", "1"]],
    }));
    if (served.kind !== "response") throw new Error(served.message);
    expect(served.status).toBe(200);
    await within("small body", read(served.stream));

    const before = origin.hits;
    const big = await gateway.openStream(route.endpointId, addresses, null);
    await big.write(ascii(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nhost: 127.0.0.1:${origin.port}\r\nx-big: ${"a".repeat(9_000)}\r\n\r\n`));
    await big.finish().catch(() => undefined);
    const refused = await within("big head", read(big));
    expect(refused.bytes).toBe(0);
    expect(refused.error).toBeDefined();
    expect(origin.hits).toBe(before);

    // The process and its data plane are unharmed.
    expect(main.exitCode()).toBeNull();
    const res = await viaPublic(main.url, "/");
    expect([res.status, await res.text()]).toEqual([200, "hello from origin"]);
  }, 20_000);

  test("a second listen on the same project slot fails with 64 naming the first one's PID", async () => {
    const second = await runCli(["tunnel", "listen", "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env, timeoutMs: 20_000 });
    expect(second.code).toBe(64);
    expect(second.stderr).toMatch(new RegExp(`^error: .*project ${PROJECT}.* is already in use by process ${main.pid}$`, "m"));
    expect(second.stderr).toContain("one ListenNode per key");
    expect(second.stdout).toBe("");
    // The first is untouched: still running, still the advertised, reachable tunnel.
    expect(main.exitCode()).toBeNull();
    expect(await advertised(tunnelIdOf(main))).toBe(true);
    expect((await viaPublic(main.url, "/")).status).toBe(200);
  });

  test("Ctrl+C (SIGINT): advertisement withdrawn, `Tunnel disabled.`, exit 0", async () => {
    const id = tunnelIdOf(main);
    const readyLine = main.stdout();
    const exit = await main.stop("SIGINT");
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain("\nDisabling tunnel...\nTunnel disabled.\n");
    expect(exit.stdout).toBe(readyLine); // nothing but the ready line on stdout
    expect(await advertised(id)).toBe(false);
    const listed = await runCli(["tunnel", "list", "-o", "json"], { env: datum.env });
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string; enabled: boolean }[]).find((t) => t.id === id)).toMatchObject({ enabled: false });
    // The edge no longer carries it, and the slot is free again.
    const res = await viaPublic(main.url, "/");
    expect([res.status, await res.text()]).toEqual([503, "Tunnel not online"]);
    expect(existsSync(slotFiles(projectDir(datum.env.DATUM_CONNECT_DIR as string, PROJECT)).lock)).toBe(false);
  }, 20_000);
});

describe("other ways in and out", () => {
  test("--id of the existing tunnel inherits its endpoint; SIGTERM tears down like Ctrl+C", async () => {
    const existing = (JSON.parse((await runCli(["tunnel", "list", "-o", "json"], { env: datum.env })).stdout) as { id: string; endpoint: string }[]).find(
      (t) => t.endpoint === `http://127.0.0.1:${origin.port}`,
    );
    if (!existing) throw new Error("the tunnel of the first listen is gone");
    const p = await listen(["--id", existing.id]);
    expect(p.stderr()).toContain(`Found existing tunnel for http://127.0.0.1:${origin.port}:\n  id: ${existing.id}\n`);
    expect(await advertised(existing.id)).toBe(true);
    expect((await viaPublic(p.url, "/")).status).toBe(200);
    const exit = await p.stop("SIGTERM");
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain("Tunnel disabled.");
    expect(await advertised(existing.id)).toBe(false);
  }, 30_000);

  test("-o json: tunnel_created, tunnel_progress, tunnel_ready, tunnel_disabled as JSON lines, nothing else on stdout", async () => {
    const fresh = serveOrigin("json-origin");
    origins.push(fresh);
    const p = await listen(["--endpoint", `127.0.0.1:${fresh.port}`, "-o", "json"]);
    expect((await viaPublic(p.url, "/")).status).toBe(200);
    const exit = await p.stop("SIGINT");
    expect(exit.code).toBe(0);

    const lines = exit.stdout.trimEnd().split("\n");
    const events = lines.map((line) => JSON.parse(line) as { type: string; id?: string; [k: string]: unknown });
    expect(events.every((e) => typeof e.type === "string")).toBe(true);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("tunnel_created");
    expect(types.at(-1)).toBe("tunnel_disabled");
    expect(types.filter((t) => t === "tunnel_progress").length).toBeGreaterThanOrEqual(1);
    expect(types.filter((t) => t === "tunnel_ready")).toHaveLength(1);
    expect(types.indexOf("tunnel_ready")).toBeGreaterThan(types.lastIndexOf("tunnel_progress"));
    const id = events[0]?.id as string;
    expect(id).toMatch(/^tunnel-/);
    const ready = events.find((e) => e.type === "tunnel_ready") as Record<string, unknown>;
    expect(ready).toMatchObject({ id, endpoint: `http://127.0.0.1:${fresh.port}`, status: "ready", urls: [p.url] });
    expect(events.at(-1)).toEqual({ type: "tunnel_disabled", id });
    for (const e of events.filter((e) => e.type === "tunnel_progress")) {
      expect(Object.keys(e).sort()).toEqual(["resource", "status", "step", "type"]);
    }
    // The human lines went to stderr.
    expect(exit.stdout).not.toContain("Tunnel ready after");
    expect(exit.stderr).toContain("Tunnel disabled.");
  }, 30_000);
});

describe("flags", () => {
  test("neither --endpoint nor --id → 2", async () => {
    const r = await runCli(["tunnel", "listen"], { env: datum.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: --endpoint or --id is required");
    expect(r.stdout).toBe("");
  });

  test("--id of an unknown tunnel → 64", async () => {
    const r = await runCli(["tunnel", "listen", "--id", "tunnel-nope0"], { env: datum.env, timeoutMs: 20_000 });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`error: Tunnel 'tunnel-nope0' not found in project ${PROJECT}`);
    expect(r.stdout).toBe("");
  });

  test("--id with a different --endpoint → 2, they must agree", async () => {
    const id = (JSON.parse((await runCli(["tunnel", "list", "-o", "json"], { env: datum.env })).stdout) as { id: string; endpoint: string }[]).find(
      (t) => t.endpoint === `http://127.0.0.1:${origin.port}`,
    )?.id;
    if (!id) throw new Error("no tunnel for the origin");
    const r = await runCli(["tunnel", "listen", "--id", id, "--endpoint", `127.0.0.1:${outsider.port}`], { env: datum.env, timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --id '${id}' references endpoint 'http://127.0.0.1:${origin.port}' but --endpoint was 'http://127.0.0.1:${outsider.port}'`);
    expect(r.stderr).toContain("they must agree");
    expect(await advertised(id)).toBe(false);
  });
});

describe("setup against a misbehaving control plane", () => {
  test("5 × 503 on the setup polls are ridden over: still verified ready", async () => {
    const fresh = serveOrigin("flaky-cp-origin");
    origins.push(fresh);
    // Hold `Programmed` back so setup polling is still going when the burst starts.
    expect((await datum.admin("config", { body: { delays: { programmed: 2_500 } } })).status).toBe(200);
    try {
      const p = await listen(["--endpoint", `127.0.0.1:${fresh.port}`], {}, false);
      await p.waitFor(() => p.stderr().includes("Setting up tunnel...") || p.exitCode() !== null, 20_000, "setup polling");
      const added = await datum.admin("faults", { body: { match: { resource: "httpproxies", method: "GET" }, status: 503, count: 5 } });
      expect(added.status).toBe(201);
      const ruleId = ((await added.json()) as { items: { id: string }[] }).items[0]?.id as string;
      await p.waitFor(() => readyUrl(p.stdout()) !== undefined || p.exitCode() !== null, 30_000, "ready");
      const url = readyUrl(p.stdout());
      expect(url).toBeDefined();

      const log = (await (await datum.admin("requests")).json()) as { items: { method: string; path: string; status: number; faults: string[] }[] };
      const hit = log.items.filter((r) => r.faults.includes(ruleId));
      expect(hit).toHaveLength(5);
      expect(hit.every((r) => r.status === 503 && r.method === "GET" && r.path.includes("/httpproxies/tunnel-"))).toBe(true);
      expect((await viaPublic(url as string, "/")).status).toBe(200);
      expect((await p.stop("SIGINT")).code).toBe(0);
    } finally {
      await datum.admin("faults", { method: "DELETE" });
      await datum.admin("config", { body: { delays: { programmed: 0 } } });
    }
  }, 45_000);

  test("DeferredToOwner (the same listen_key in a second project) fails fast with upstream's text (docs/wire-facts.md#terminal-failures)", async () => {
    const root = datum.env.DATUM_CONNECT_DIR as string;
    const first = await listen(["--endpoint", `127.0.0.1:${origin.port}`]);
    try {
      // Copy project A's identity into project B's slot: two Connectors claim one iroh id.
      const other = "second-project";
      const slotB = projectDir(root, other);
      mkdirSync(slotB, { recursive: true, mode: 0o700 });
      copyFileSync(join(projectDir(root, PROJECT), "listen_key"), join(slotB, "listen_key"));

      const r = await runCli(["tunnel", "listen", "--project", other, "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env, timeoutMs: 30_000 });
      expect(r.code).toBe(64);
      expect(r.ms).toBeLessThan(15_000);
      expect(r.stderr).toContain("error: Tunnel setup failed at step: iroh DNS published (Connector)");
      expect(r.stderr).toContain("reason: DeferredToOwner");
      expect(r.stderr).toMatch(/message: iroh DNS record is owned by Connector local-project\/default\/datum-connect-[a-z0-9]+/);
      expect(r.stderr).toContain(
        "Another connector with the same iroh key owns the DNS record for this tunnel. Most likely this means you are running two connectors against the same listen_key store. Stop the other connector or use a different repo directory.",
      );
      expect(r.stdout).toBe("");
      // The loser withdrew its advertisement; the owner still serves.
      const snap = await snapshot(other);
      expect((snap.connectoradvertisements ?? []).length).toBe(0);
      expect(first.exitCode()).toBeNull();
      expect((await viaPublic(first.url, "/")).status).toBe(200);
    } finally {
      expect((await first.stop("SIGINT")).code).toBe(0);
    }
  }, 60_000);
});
