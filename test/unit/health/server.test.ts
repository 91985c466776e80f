/** The routing decision of the health server, without a socket (the e2e test binds a real one). */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { handleHealthRequest } from "../../../src/health/server.ts";
import { log } from "../../../src/log.ts";
import type { RunState } from "../../../src/state/run-state.ts";
import { parseExposition } from "./exposition.ts";
import { busyState, freshState } from "./states.ts";

/** Warnings are collected, not printed: each test that provokes one asserts it. */
let logged: string[] = [];
let previousReporters: typeof log.options.reporters = [];
beforeEach(() => {
  logged = [];
  previousReporters = [...log.options.reporters];
  log.setReporters([{ log: (entry) => logged.push(`${entry.tag} ${entry.args.join(" ")}`) }]);
});
afterEach(() => {
  log.setReporters(previousReporters);
});

const req = (path: string, method = "GET"): Request => new Request(`http://127.0.0.1:9/${path.replace(/^\//, "")}`, { method });
const ready = (): RunState => busyState();
const starting = (): RunState => freshState({ readiness: { ready: false, reason: "waiting for the gateway" } });

test.each<[string, string, () => RunState, number, string, string]>([
  ["GET", "/livez", starting, 200, "text/plain; charset=utf-8", "ok\n"],
  ["GET", "/readyz", ready, 200, "application/json", '{"ready":true}'],
  ["GET", "/readyz", starting, 503, "application/json", '{"ready":false,"reason":"waiting for the gateway"}'],
  ["GET", "/readyz", () => freshState({ readiness: { ready: false, reason: "" } }), 503, "application/json", '{"ready":false,"reason":"not ready"}'],
  ["GET", "/nope", ready, 404, "text/plain; charset=utf-8", "not found\n"],
  ["GET", "/", ready, 404, "text/plain; charset=utf-8", "not found\n"],
  ["GET", "/livez/", ready, 404, "text/plain; charset=utf-8", "not found\n"],
  ["POST", "/nope", ready, 404, "text/plain; charset=utf-8", "not found\n"],
  ["POST", "/readyz", ready, 405, "text/plain; charset=utf-8", "method not allowed\n"],
  ["PUT", "/metrics", ready, 405, "text/plain; charset=utf-8", "method not allowed\n"],
  ["DELETE", "/livez", ready, 405, "text/plain; charset=utf-8", "method not allowed\n"],
  ["OPTIONS", "/livez", ready, 405, "text/plain; charset=utf-8", "method not allowed\n"],
])("%s %s", async (method, path, state, status, type, body) => {
  const res = handleHealthRequest(req(path, method), state);
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe(type);
  expect(res.headers.get("cache-control")).toBe("no-store");
  if (status === 405) expect(res.headers.get("allow")).toBe("GET, HEAD");
  expect(await res.text()).toBe(body);
});

test("GET /metrics: 0.0.4 content type and a valid exposition; a query string is ignored", async () => {
  for (const path of ["/metrics", "/metrics?name[]=x"]) {
    const res = handleHealthRequest(req(path), ready);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(parseExposition(await res.text()).value("datum_connect_ready")).toBe(1);
  }
});

test("a broken state provider is a 500 with a short text body; /livez never asks it", async () => {
  const broken = (): RunState => {
    throw new Error("recorder gone");
  };
  for (const path of ["/readyz", "/metrics"]) {
    const res = handleHealthRequest(req(path), broken);
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await res.text()).toBe("internal error: run state unavailable\n");
  }
  expect(handleHealthRequest(req("/livez"), broken).status).toBe(200);
  expect(logged).toEqual(["health health endpoint: run state unavailable: recorder gone"]);
});

test("a malformed state (missing fields) is a 500, not a throw", async () => {
  const hollow = (): RunState => ({}) as RunState;
  const readyz = handleHealthRequest(req("/readyz"), hollow);
  expect(readyz.status).toBe(500);
  expect(await readyz.text()).toBe("internal error: readiness unavailable\n");
  const metrics = handleHealthRequest(req("/metrics"), hollow);
  expect(metrics.status).toBe(500);
  expect(await metrics.text()).toBe("internal error: metrics unavailable\n");
  expect(logged).toHaveLength(2);
  expect(logged[0]).toStartWith("health health endpoint: readiness unavailable: ");
  expect(logged[1]).toStartWith("health health endpoint: metrics unavailable: ");
});

test("a failure is logged once per distinct message, not on every scrape", () => {
  const broken = (): RunState => {
    throw new Error("once-only failure");
  };
  for (let i = 0; i < 5; i++) handleHealthRequest(req("/metrics"), broken);
  handleHealthRequest(req("/readyz"), () => {
    throw new Error("another failure");
  });
  expect(logged).toEqual(["health health endpoint: run state unavailable: once-only failure", "health health endpoint: run state unavailable: another failure"]);
});
