/**
 * Commands that never break a neighbour, and state that never lies (issue 18 items 3, 4, 5, 6, 9,
 * 10): the real CLI as child processes against the local Datum, tunnels disabled from outside with
 * the real `tunnel disable`, outages injected through `/_dev/faults`. Every wait polls for the
 * state change, bounded by a deadline; nothing is timed.
 *   sh scripts/test.sh test/e2e/state-truth.test.ts
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { addFault, configure, PROJECT, readRun, until } from "../helpers/faults.ts";
import { killAllListens, startListen } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;
const names: string[] = [];
const pids: number[] = [];

interface PsEntry {
  name: string | null;
  project: string;
  status: string;
  pid: number | null;
  running: boolean;
  url: string | null;
  tunnelId: string | null;
  readiness: { ready: boolean; state: string; reason: string } | null;
  lastError: { message: string } | null;
}

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { env: { ...datum.env, ...env }, timeoutMs: 60_000 });
}

async function ps(): Promise<PsEntry[]> {
  const r = await cli(["tunnel", "ps", "-o", "json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as PsEntry[];
}

async function psOf(name: string): Promise<PsEntry | undefined> {
  return (await ps()).find((e) => e.name === name);
}

async function statusJson(name: string): Promise<{ status: string; readiness: { ready: boolean; reason: string } | null; lastError: { message: string } | null }> {
  const r = await cli(["tunnel", "status", "--name", name, "-o", "json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port as number;
  s.stop(true);
  return port;
}

/** `listen --detach --name NAME` (optionally with --health); returns its PID and tunnel id. */
async function detach(name: string, extra: string[] = []): Promise<{ pid: number; tunnelId: string }> {
  names.push(name);
  const up = await cli(["tunnel", "listen", "--detach", "--name", name, "--endpoint", `127.0.0.1:${origin.port}`, ...extra]);
  expect(up.code, up.stderr).toBe(0);
  const run = readRun(datum, name);
  if (!run?.tunnelId) throw new Error(`no run.json for ${name}:\n${up.stderr}`);
  pids.push(run.pid);
  return { pid: run.pid, tunnelId: run.tunnelId };
}

async function readyz(health: string): Promise<{ status: number; body: { ready: boolean; reason?: string } }> {
  const r = await fetch(`http://${health}/readyz`);
  return { status: r.status, body: (await r.json()) as { ready: boolean; reason?: string } };
}

async function metricReady(health: string): Promise<number | undefined> {
  const text = await (await fetch(`http://${health}/metrics`)).text();
  const m = /^datum_connect_ready (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("state-truth") });
});

afterEach(async () => {
  await datum.admin("faults", { method: "DELETE" });
  await configure(datum, { delays: { certificatesReady: 0 } });
});

afterAll(async () => {
  await datum?.admin("faults", { method: "DELETE" }).catch(() => undefined);
  await killAllListens();
  for (const name of names) await cli(["tunnel", "stop", "--name", name]).catch(() => undefined);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  origin?.stop(true);
  await datum?.stop();
});

describe("one readiness for ps, status, /readyz and /metrics (item 3)", () => {
  // Purpose: a tunnel disabled from elsewhere (public URL 503) is not ready within one runtime poll,
  // and every reader says so.
  test("disabled from outside: /readyz 503, ps degraded, status not ready, metric 0", async () => {
    const health = `127.0.0.1:${freePort()}`;
    const { tunnelId } = await detach("st-disabled", ["--health", health]);
    expect((await readyz(health)).status).toBe(200);
    expect((await psOf("st-disabled"))?.status).toBe("ready");

    const off = await cli(["tunnel", "disable", "--id", tunnelId, "--project", PROJECT]);
    expect(off.code, off.stderr).toBe(0);

    // One runtime poll (10 s) plus its reads; bounded well past that.
    await until(async () => (await readyz(health)).status === 503, 30_000, "/readyz 503 after the tunnel was disabled", 250);
    expect((await readyz(health)).body.reason).toMatch(/disabled/);
    await until(async () => (await psOf("st-disabled"))?.status === "degraded", 5_000, "ps degraded", 100);
    const entry = await psOf("st-disabled");
    expect(entry?.readiness?.ready).toBe(false);
    expect(entry?.readiness?.reason).toMatch(/disabled/);
    const st = await statusJson("st-disabled");
    expect(st.readiness?.ready).toBe(false);
    const text = await cli(["tunnel", "status", "--name", "st-disabled"]);
    expect(text.stdout).toMatch(/readiness:\s+not ready \(degraded\): .*disabled/);
    expect(await metricReady(health)).toBe(0);
  }, 90_000);

  // Purpose: with the control plane down, the failed runtime polls make the tunnel not ready with
  // that reason; once it answers again, ready comes back.
  test("control plane down: not ready with the reason, ready again after", async () => {
    const health = `127.0.0.1:${freePort()}`;
    await detach("st-outage", ["--health", health]);
    expect((await readyz(health)).status).toBe(200);

    await addFault(datum, { status: 503, forMs: 120_000 });
    await until(async () => (await psOf("st-outage"))?.readiness?.reason.includes("control plane unreachable") === true, 45_000, "ps: control plane unreachable", 250);
    expect((await psOf("st-outage"))?.status).toBe("degraded");
    expect((await readyz(health)).status).toBe(503);
    expect((await statusJson("st-outage")).readiness?.ready).toBe(false);

    await datum.admin("faults", { method: "DELETE" });
    await until(async () => (await readyz(health)).status === 200, 30_000, "/readyz 200 after the outage", 250);
    await until(async () => (await psOf("st-outage"))?.status === "ready", 5_000, "ps ready after the outage", 100);
  }, 120_000);
});

describe("a dead or starting tunnel (item 4)", () => {
  // Purpose: after kill -9, ps and status never say ready, and both show a last error.
  test("kill -9: dead, not ready, with a last error", async () => {
    const { pid } = await detach("st-killed");
    process.kill(pid, "SIGKILL");
    await until(async () => (await psOf("st-killed"))?.status === "dead", 10_000, "ps dead", 100);
    const entry = (await psOf("st-killed")) as PsEntry;
    expect(entry.lastError?.message).toMatch(/exited unexpectedly/);
    const text = await cli(["tunnel", "status", "--name", "st-killed"]);
    expect(text.stdout).not.toMatch(/readiness:\s+ready/);
    expect(text.stdout).toMatch(/last error:\s+.*exited unexpectedly/);
    expect(entry.readiness?.ready).toBe(false);
    const st = await statusJson("st-killed");
    expect(st.readiness?.ready).toBe(false);
    expect(st.lastError?.message).toMatch(/exited unexpectedly/);
  }, 60_000);

  // Purpose: while setup still runs, ps shows the URL the tunnel will answer on, with the local
  // Datum's port (the same URL the verifier probes), not https://<hostname>.
  test("starting: the URL has the local Datum's port", async () => {
    await configure(datum, { delays: { certificatesReady: 60_000 } });
    names.push("st-starting");
    const up = await cli(["tunnel", "listen", "--detach", "--name", "st-starting", "--endpoint", `127.0.0.1:${origin.port}`, "--wait", "1s"]);
    expect(up.code).toBe(75);
    await until(async () => ((await psOf("st-starting"))?.url ?? null) !== null, 20_000, "a URL in ps", 100);
    const entry = (await psOf("st-starting")) as PsEntry;
    expect(entry.status).toBe("starting");
    const host = readRun(datum, "st-starting")?.hostnames[0] as string;
    const expected = (datum.env.DATUM_CONNECT_PUBLIC_URL as string).replace("{hostname}", host);
    expect(entry.url).toBe(expected);
    const table = await cli(["tunnel", "ps"]);
    expect(table.stdout).toContain(expected);
    expect((await cli(["tunnel", "stop", "--name", "st-starting"])).code).toBe(0);
  }, 60_000);
});

describe("a rejected second start touches nothing (items 5, 9)", () => {
  // Purpose: a second listen on a locked project slot exits 64 and leaves the running one's
  // run.json alone: ps still lists the running listen, right away.
  test("unnamed: second listen exits 64, ps still lists the first", async () => {
    const first = await startListen(["--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env });
    const runPath = join(datum.env.DATUM_CONNECT_DIR as string, "projects", PROJECT, "run.json");
    const before = JSON.parse(readFileSync(runPath, "utf8")) as { pid: number; startedAt: string };
    expect(before.pid).toBe(first.pid);

    const second = await cli(["tunnel", "listen", "--endpoint", `127.0.0.1:${origin.port}`]);
    expect(second.code).toBe(64);
    expect(second.stderr).toContain(String(first.pid));

    const after = JSON.parse(readFileSync(runPath, "utf8")) as { pid: number; startedAt: string };
    expect({ pid: after.pid, startedAt: after.startedAt }).toEqual({ pid: before.pid, startedAt: before.startedAt });
    const listed = (await ps()).find((e) => e.name === null && e.project === PROJECT);
    expect(listed?.pid).toBe(first.pid);
    expect(listed?.status).toBe("ready");
    expect((await first.stop()).code).toBe(0);
  }, 60_000);

  // Purpose: `tunnel run` of a running tunnel checks the slot lock first and names the PID; it
  // does not trip over the health port the running one holds, nor rewrite its run.json.
  test("named: tunnel run while it runs exits 64 naming the PID", async () => {
    const health = `127.0.0.1:${freePort()}`;
    const { pid } = await detach("st-twice", ["--health", health]);
    const before = readRun(datum, "st-twice");

    const r = await cli(["tunnel", "run", "--name", "st-twice"]);
    expect(r.code).toBe(64);
    expect(r.stderr).not.toContain("cannot serve health");
    expect(r.stderr).not.toContain("--health");
    expect(r.stderr).toContain(`process ${pid}`);
    expect(r.stderr).toContain("tunnel stop --name st-twice");

    const after = readRun(datum, "st-twice");
    expect({ pid: after?.pid, startedAt: after?.startedAt }).toEqual({ pid: before?.pid, startedAt: before?.startedAt });
    expect((await psOf("st-twice"))?.status).toBe("ready");
    expect((await readyz(health)).status).toBe(200);
  }, 60_000);
});

describe("tunnel stop that could not disable (item 6)", () => {
  // Purpose: stop with the control plane down says the advertisement may still be up and exits 69.
  test("control plane down: exit 69, advertisement may still be up", async () => {
    const { tunnelId } = await detach("st-stop-down");
    await addFault(datum, { status: 503, forMs: 120_000 });
    const r = await cli(["tunnel", "stop", "--name", "st-stop-down"]);
    expect(r.code).toBe(69);
    expect(r.stdout).not.toContain("Stopped tunnel st-stop-down");
    expect(r.stderr).toMatch(/error: .*advertisement may still be up/);
    expect(r.stderr).toContain(`tunnel disable --id ${tunnelId}`);
    await datum.admin("faults", { method: "DELETE" });
    // The advertisement is indeed still there; the hint's command takes it down.
    const off = await cli(["tunnel", "disable", "--id", tunnelId, "--project", PROJECT]);
    expect(off.code, off.stderr).toBe(0);
  }, 90_000);
});

describe("read-only commands create no state (item 10)", () => {
  // Purpose: `tunnel list` for a project this machine never used writes no identity, failing or not.
  test("list --project: no projects/<p>/ afterwards", async () => {
    const root = datum.env.DATUM_CONNECT_DIR as string;
    const failing = await cli(["tunnel", "list", "--project", "st-never-used"], { DATUM_CREDENTIALS_HELPER: "/nonexistent/datumctl" });
    expect(failing.code).toBe(78);
    expect(existsSync(join(root, "projects", "st-never-used"))).toBe(false);

    const ok = await cli(["tunnel", "list", "--project", "st-never-used-2"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(join(root, "projects", "st-never-used-2"))).toBe(false);
    expect(existsSync(join(root, "projects")) ? readdirSync(join(root, "projects")).filter((p) => p.startsWith("st-")) : []).toEqual([]);
  }, 30_000);
});
