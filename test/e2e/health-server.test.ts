/**
 * The local health endpoint on a real socket (127.0.0.1, port 0): a mutable run state stands in
 * for the listen session's recorder, and every assertion goes through HTTP.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { Exit, Rejected } from "../../src/errors.ts";
import { parseHealthAddress } from "../../src/health/address.ts";
import { startHealthServer, type HealthServer } from "../../src/health/server.ts";
import { log } from "../../src/log.ts";
import type { RunState } from "../../src/state/run-state.ts";
import { parseExposition } from "../unit/health/exposition.ts";
import { freshState, target } from "../unit/health/states.ts";

const BOUND = 5_000;

let state: RunState;
let broken = false;
let server: HealthServer;
let logged: string[] = [];
let previousReporters: typeof log.options.reporters = [];

beforeAll(async () => {
  previousReporters = [...log.options.reporters];
  log.setReporters([{ log: (entry) => logged.push(`${entry.tag} ${entry.args.join(" ")}`) }]);
  const { host, port } = parseHealthAddress("127.0.0.1:0");
  server = await startHealthServer({
    host,
    port,
    state: () => {
      if (broken) throw new Error("provider broke");
      return state;
    },
  });
});
afterAll(async () => {
  await server.stop();
  log.setReporters(previousReporters);
});
beforeEach(() => {
  state = freshState({ readiness: { ready: false, reason: "waiting for the gateway" } });
  broken = false;
  logged = [];
});

const get = (path: string, init?: RequestInit): Promise<Response> => fetch(`${server.url}${path}`, init);

async function scrape(): Promise<ReturnType<typeof parseExposition>> {
  const res = await get("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await res.text());
}

describe("a running health server", () => {
  test("binds a real port on 127.0.0.1", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  test("/livez is 200 ok", async () => {
    const res = await get("/livez");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await res.text()).toBe("ok\n");
  }, BOUND);

  test("/readyz: 503 with the reason, 200 once ready, 503 again when readiness is lost", async () => {
    const check = async (status: number, body: unknown) => {
      const res = await get("/readyz");
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(await res.json()).toEqual(body);
    };
    await check(503, { ready: false, reason: "waiting for the gateway" });
    state.readiness = { ready: true, reason: "verified" };
    await check(200, { ready: true });
    state.readiness = { ready: false, reason: "Connector not Ready: LeaseExpired" };
    await check(503, { ready: false, reason: "Connector not Ready: LeaseExpired" });
  }, BOUND);

  test("/metrics parses as 0.0.4 and moves with the state", async () => {
    const before = await scrape();
    expect(before.value("datum_connect_ready")).toBe(0);
    expect(before.value("datum_connect_requests_total", { tunnel: "web", target: "127.0.0.1:3000", outcome: "accepted" })).toBeUndefined();

    state.readiness = { ready: true, reason: "verified" };
    state.setupMs = 1250;
    state.counters = { targets: { "127.0.0.1:3000": target({ accepted: 3, completed: 2, bytesToOrigin: 300, bytesFromOrigin: 4096, active: 1 }) }, connectionsAccepted: 1, connectionsCompleted: 0 };
    state.heartbeat = { ...state.heartbeat, renewals: 4 };
    const mid = await scrape();
    const t = { tunnel: "web", target: "127.0.0.1:3000" };
    expect(mid.value("datum_connect_ready")).toBe(1);
    expect(mid.value("datum_connect_setup_duration_seconds")).toBe(1.25);
    expect(mid.value("datum_connect_requests_total", { ...t, outcome: "accepted" })).toBe(3);
    expect(mid.value("datum_connect_bytes_total", { ...t, direction: "from_origin" })).toBe(4096);
    expect(mid.value("datum_connect_active_requests", t)).toBe(1);
    expect(mid.value("datum_connect_heartbeat_renewals_total")).toBe(4);

    state.counters = { targets: { "127.0.0.1:3000": target({ accepted: 8, completed: 8, bytesToOrigin: 900, bytesFromOrigin: 9000 }) }, connectionsAccepted: 2, connectionsCompleted: 2 };
    const after = await scrape();
    expect(after.value("datum_connect_requests_total", { ...t, outcome: "accepted" })).toBe(8);
    expect(after.value("datum_connect_bytes_total", { ...t, direction: "to_origin" })).toBe(900);
    expect(after.value("datum_connect_active_requests", t)).toBe(0);
    expect(after.value("datum_connect_connections_total", { tunnel: "web", outcome: "completed" })).toBe(2);
  }, BOUND);

  test("HEAD answers like GET without a body", async () => {
    const res = await get("/livez", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("3");
    expect(await res.text()).toBe("");
    expect((await get("/readyz", { method: "HEAD" })).status).toBe(503);
  }, BOUND);

  test("unknown paths are 404, other methods 405; bodies are never read", async () => {
    for (const path of ["/", "/health", "/metrics/", "/debug/pprof/cmdline"]) {
      const res = await get(path);
      expect(res.status).toBe(404);
      await res.body?.cancel();
    }
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const res = await get("/readyz", { method, body: "{}" });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
      await res.body?.cancel();
    }
    const big = await get("/metrics", { method: "POST", body: "x".repeat(64 * 1024) });
    expect(big.status).toBe(413);
    await big.body?.cancel();
    expect((await get("/livez")).status).toBe(200);
  }, BOUND);

  test("a broken state provider is a 500 and the server keeps serving", async () => {
    broken = true;
    for (const path of ["/readyz", "/metrics"]) {
      const res = await get(path);
      expect(res.status).toBe(500);
      expect(await res.text()).toBe("internal error: run state unavailable\n");
    }
    expect((await get("/livez")).status).toBe(200);
    broken = false;
    expect((await get("/readyz")).status).toBe(503);
    expect(logged).toEqual(["health health endpoint: run state unavailable: provider broke"]);
  }, BOUND);

  test("a second server on the same port is Rejected (exit 64) naming the address", async () => {
    let caught: unknown;
    try {
      await startHealthServer({ host: "127.0.0.1", port: server.port, state: () => state });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Rejected);
    expect((caught as Rejected).exit).toBe(Exit.rejected);
    expect((caught as Rejected).code).toBe("conflict");
    expect((caught as Rejected).message).toBe(`cannot serve health on 127.0.0.1:${server.port}: the address is in use`);
    expect((await get("/livez")).status).toBe(200);
  }, BOUND);
});

describe("binding", () => {
  test("another process cannot take the port either (no silent SO_REUSEPORT sharing)", async () => {
    const module = new URL("../../src/health/server.ts", import.meta.url).pathname;
    const script = `
      const { startHealthServer } = await import(${JSON.stringify(module)});
      try {
        await startHealthServer({ host: "127.0.0.1", port: ${server.port}, state: () => { throw new Error("unused"); } });
        console.log("bound");
      } catch (err) {
        console.log(err.exit, err.message);
      }
      process.exit(0);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NODE_ENV: "production" } });
    const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    expect(code).toBe(0);
    expect(out.trim()).toBe(`64 cannot serve health on 127.0.0.1:${server.port}: the address is in use`);
  }, BOUND);

  test("[::1]:0 binds the IPv6 loopback and brackets the URL", async () => {
    const { host, port } = parseHealthAddress("[::1]:0");
    const v6 = await startHealthServer({ host, port, state: () => state });
    try {
      expect(v6.url).toBe(`http://[::1]:${v6.port}`);
      expect((await fetch(`${v6.url}/livez`)).status).toBe(200);
    } finally {
      await v6.stop();
    }
  }, BOUND);
});

describe("stop", () => {
  let extra: HealthServer | undefined;
  afterEach(async () => {
    await extra?.stop();
    extra = undefined;
  });

  test("frees the port: the same port binds again; stop is idempotent", async () => {
    const first = await startHealthServer({ host: "127.0.0.1", port: 0, state: () => state });
    const port = first.port;
    expect((await fetch(`${first.url}/livez`)).status).toBe(200);
    await first.stop();
    await first.stop();
    await expect(fetch(`http://127.0.0.1:${port}/livez`)).rejects.toThrow();
    extra = await startHealthServer({ host: "127.0.0.1", port, state: () => state });
    expect(extra.port).toBe(port);
    expect((await fetch(`${extra.url}/livez`)).status).toBe(200);
  }, BOUND);

  test("stop with a keep-alive connection open still frees the port", async () => {
    const first = await startHealthServer({ host: "127.0.0.1", port: 0, state: () => state });
    const port = first.port;
    const res = await fetch(`${first.url}/metrics`, { headers: { connection: "keep-alive" } });
    expect(res.status).toBe(200);
    await res.text();
    await first.stop();
    extra = await startHealthServer({ host: "127.0.0.1", port, state: () => state });
    expect(extra.port).toBe(port);
  }, BOUND);
});
