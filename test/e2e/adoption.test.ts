/**
 * Never take someone else's tunnel (docs/adoption.md), with real processes against one local
 * Datum: two machines (the second with its own network and UTS namespaces, so its own origin on
 * the same `127.0.0.1:PORT` and its own device name), and on one machine a named tunnel beside the
 * project's listen. Each serves its own tunnel; stopping one leaves the other serving; management
 * commands leave a tunnel on the Connector that serves it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, runCli } from "../helpers/cli.ts";
import { adminClient, readRun, until, viaPublic } from "../helpers/faults.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { startTestHost, testHostUnavailable, type TestHost } from "../helpers/test-host.ts";

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;
let endpoint: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  // The gateway reaches the second machine over its veth pair, not only loopback.
  datum = await startLocalDatum(["--gateway-bind", "0.0.0.0:0"]);
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`A ${new URL(req.url).pathname}`) });
  endpoint = `127.0.0.1:${origin.port}`;
});

afterAll(async () => {
  await killAllListens();
  for (const name of ["web2", "web3"]) await runCli(["tunnel", "stop", "--name", name], { env: datum.env }).catch(() => undefined);
  for (const c of cleanups.reverse()) await c();
  origin.stop(true);
  await datum.stop();
});

/** A fresh state root and HOME: another machine's (or another user's) local state. */
function machineEnv(): Record<string, string> {
  const root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "machine-"));
  return { ...datum.env, DATUM_CONNECT_DIR: join(root, "state"), HOME: join(root, "home") };
}

function port(url: string): number {
  return Number(new URL(url).port);
}

/** Ctrl+C, then exit 0 (the output is in the failure message otherwise). */
async function stopsCleanly(p: ListenProcess): Promise<void> {
  const exit = await p.stop("SIGINT");
  if (exit.code !== 0) throw new Error(`listen (pid ${p.pid}) exited ${exit.code} after Ctrl+C\n--- stderr\n${exit.stderr}`);
}

async function servedBy(url: string, body: string): Promise<void> {
  const r = await viaPublic(`${url}/who`);
  expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: `${body} /who` });
}

describe("two machines, one endpoint", () => {
  const unavailable = testHostUnavailable();
  if (unavailable) console.log(`skip: two-machine adoption test: ${unavailable}`);

  test.skipIf(unavailable !== undefined)("each gets its own tunnel and hostname; Ctrl+C on one leaves the other serving", async () => {
    const other = `laptop-b-${process.pid}`;
    expect(hostname()).not.toBe(other);
    const apiPort = port(datum.apiUrl);
    const edgePort = port((datum.env.DATUM_CONNECT_PUBLIC_URL as string).replace("{hostname}", "edge"));
    const hostB: TestHost = await startTestHost(other, [apiPort, edgePort]);
    cleanups.push(() => hostB.stop());
    await hostB.spawnReady([BUN, join(import.meta.dir, "..", "helpers", "fixtures", "origin.ts"), String(origin.port), "B"]);

    const envA = machineEnv();
    const envB = machineEnv();
    const a = await startListen(["--endpoint", endpoint], { env: envA });
    const b = await startListen(["--endpoint", endpoint], { env: envB, wrap: hostB.wrap });

    expect(b.stderr()).toContain(`belongs to device '${hostname()}'; creating a new tunnel`);
    expect(b.stderr()).toContain("Created tunnel:");
    expect(b.url).not.toBe(a.url);
    await servedBy(a.url, "A");
    await servedBy(b.url, "B");

    await stopsCleanly(a);
    await servedBy(b.url, "B");
    expect((await viaPublic(a.url)).status).toBe(503);

    // Machine A comes back: its own tunnel (its own Connector) is adopted again, hostname and all.
    const again = await startListen(["--endpoint", endpoint], { env: envA });
    expect(again.stderr()).toContain(`Found existing tunnel for http://${endpoint}:`);
    expect(again.url).toBe(a.url);
    await servedBy(again.url, "A");
    await servedBy(b.url, "B");
    await stopsCleanly(again);
    await stopsCleanly(b);
  }, 120_000);
});

describe("one machine: a named tunnel and the project's listen on one endpoint", () => {
  test("the project listen does not take a running named tunnel's tunnel, and its Ctrl+C leaves it serving", async () => {
    const started = await runCli(["tunnel", "listen", "--detach", "--name", "web2", "--endpoint", endpoint], { env: datum.env, timeoutMs: 60_000 });
    expect(started.code).toBe(0);
    const web2 = started.stdout.trim();
    const web2Id = readRun(datum, "web2")?.tunnelId;
    expect(web2Id).toStartWith("tunnel-");

    const plain = await startListen(["--endpoint", endpoint], { env: datum.env });
    expect(plain.stderr()).toMatch(new RegExp(`existing tunnel ${web2Id} for http://${endpoint} belongs to tunnel web2 \\(PID \\d+\\) on this device( \\(and \\d+ more\\))?; creating a new tunnel`));
    expect(plain.url).not.toBe(web2);
    await servedBy(web2, "A");
    await servedBy(plain.url, "A");
    await stopsCleanly(plain);
    await servedBy(web2, "A");
    expect((await viaPublic(plain.url)).status).toBe(503);

    // The other way round: the project's listen serves first, then a named tunnel starts.
    const plainAgain = await startListen(["--endpoint", endpoint], { env: datum.env });
    expect(plainAgain.url).toBe(plain.url); // its own tunnel again
    const web3 = await runCli(["tunnel", "listen", "--detach", "--name", "web3", "--endpoint", endpoint], { env: datum.env, timeoutMs: 60_000 });
    expect(web3.code).toBe(0);
    const web3Url = web3.stdout.trim();
    expect([web2, plain.url]).not.toContain(web3Url);
    await servedBy(web3Url, "A");
    await servedBy(plain.url, "A");
    await servedBy(web2, "A");
    expect((await runCli(["tunnel", "stop", "--name", "web3"], { env: datum.env })).code).toBe(0);
    await servedBy(plain.url, "A");
    await servedBy(web2, "A");
    await stopsCleanly(plainAgain);
    await servedBy(web2, "A");
  }, 120_000);

  test("update, disable and enable of a named tunnel's tunnel leave it on its own Connector", async () => {
    // web2 from the test above still serves; the project's listen ran earlier, so the project's
    // identity has a Connector of its own that a management command could wrongly move it onto.
    const web2Id = readRun(datum, "web2")?.tunnelId as string;
    const web2 = readRun(datum, "web2")?.publicUrls[0] as string;
    await servedBy(web2, "A");
    const client = adminClient(datum, datum.env.DATUM_PROJECT as string);
    const connectorOf = async () => (await client.get("HTTPProxy", web2Id))?.spec.rules.flatMap((r) => r.backends ?? [])[0]?.connector?.name;
    const served = await connectorOf();
    expect(served).toBeDefined();

    const updated = await runCli(["tunnel", "update", "--id", web2Id, "--label", "my web 2"], { env: datum.env });
    expect(updated.code).toBe(0);
    expect(await connectorOf()).toBe(served);
    await servedBy(web2, "A");

    expect((await runCli(["tunnel", "disable", "--id", web2Id], { env: datum.env })).code).toBe(0);
    expect(await connectorOf()).toBe(served);
    await until(async () => (await viaPublic(web2)).status === 503, 10_000, "the disabled tunnel answers 503");

    expect((await runCli(["tunnel", "enable", "--id", web2Id], { env: datum.env })).code).toBe(0);
    expect(await connectorOf()).toBe(served);
    expect((await client.get("ConnectorAdvertisement", web2Id))?.spec.connectorRef.name).toBe(served as string);
    await until(async () => (await viaPublic(web2)).status === 200, 15_000, "the enabled tunnel serves again");
    await servedBy(web2, "A");
  }, 60_000);
});
