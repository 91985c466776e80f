/**
 * Only a relay iroh reported is ever published (docs/relays.md). Against the local Datum without
 * its placeholder declaration, iroh reaches no relay (the placeholder URL answers 404), so the
 * listen waits its 10 s, says so, and the heartbeat publishes no connection details at all, rather
 * than the first configured relay; `status` says "no relay yet". With the declaration (every other
 * test), the placeholder is published.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { runCli } from "../helpers/cli.ts";
import { lastSeq, requests, until, type Logged } from "../helpers/faults.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
});

afterAll(async () => {
  for (const name of ["norelay", "placeholder"]) await runCli(["tunnel", "stop", "--name", name], { env: datum.env }).catch(() => undefined);
  origin.stop(true);
  await datum.stop();
});

const relaysIn = (r: Logged): string[] => [...((r as Logged & { body?: string }).body ?? "").matchAll(/"homeRelay":"([^"]+)"/g)].map((m) => m[1] as string);

test("no relay reached and none declared: nothing is published, the wait is said, status says no relay yet", async () => {
  const since = await lastSeq(datum);
  const env = { ...datum.env, DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: undefined };
  const started = await runCli(["tunnel", "listen", "--detach", "--name", "norelay", "--endpoint", `127.0.0.1:${origin.port}`, "--wait", "15s"], { env, timeoutMs: 60_000 });
  // Never ready: without connection details the Connector cannot be reached.
  expect(started.code).toBe(75);
  const log = await runCli(["tunnel", "logs", "--name", "norelay"], { env: datum.env });
  expect(log.stdout).toContain("no relay reached within 10s");
  const patches = (await requests(datum, since)).filter((r) => r.method === "PATCH" || r.method === "POST");
  // One Connector for the one identity, although it carries no connection details to be found by.
  expect(patches.filter((r) => r.method === "POST" && /\/connectors$/.test(r.path))).toHaveLength(1);
  expect(patches.flatMap(relaysIn)).toEqual([]);
  const status = await runCli(["tunnel", "status", "--name", "norelay"], { env: datum.env });
  expect(status.stdout).toMatch(/home relay:\s+no relay yet/);
  // The heartbeat found that Connector by name: it waits for a relay, not for a Connector.
  await until(async () => (await runCli(["tunnel", "logs", "--name", "norelay"], { env: datum.env })).stdout.includes("details failed"), 20_000, "the heartbeat reaching the details step");
  const heartbeatLines = (await runCli(["tunnel", "logs", "--name", "norelay"], { env: datum.env })).stdout.split("\n").filter((l) => l.includes("heartbeat: details failed"));
  expect(heartbeatLines.every((l) => l.includes("missing home relay"))).toBe(true);
  expect((await runCli(["tunnel", "stop", "--name", "norelay"], { env: datum.env })).code).toBe(0);
}, 90_000);

test("the local Datum's declared placeholder is the one relay published without iroh reaching it", async () => {
  const since = await lastSeq(datum);
  const started = await runCli(["tunnel", "listen", "--detach", "--name", "placeholder", "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env, timeoutMs: 60_000 });
  expect(started.code).toBe(0);
  const published = (await requests(datum, since)).filter((r) => r.method === "PATCH").flatMap(relaysIn);
  expect(published.length).toBeGreaterThan(0);
  expect(new Set(published)).toEqual(new Set([datum.env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY as string]));
  expect((await runCli(["tunnel", "stop", "--name", "placeholder"], { env: datum.env })).code).toBe(0);
}, 90_000);
