/**
 * Process faults against `dev cloud` (issue 8 items 4–6), through the real CLI:
 *
 * - sleep: a listening tunnel is SIGSTOPped past its (3 s) lease and SIGCONTed; it says so once,
 *   renews, and the Connector is Ready and traffic flows again within 5 s, with no manual action;
 * - crashes: `kill -9` at seeded random points of `listen`, `listen --detach` and `install`
 *   (≥ 10 in all; the seed is printed, rerun one with FAULTS_SEED=<n>) leaves every state file
 *   loadable, no half-written unit or config, and a next run that reaches ready;
 * - soak: `scripts/soak.ts --minutes 0.5` runs end to end and writes its result file.
 *
 * Every process started here is ended by its PID. Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 180000 test/e2e/faults-process.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server, Subprocess } from "bun";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseAllowList } from "../../src/state/allowlist.ts";
import { processStartTime } from "../../src/state/process-identity.ts";
import { parseRunState } from "../../src/state/run-state.ts";
import { parseTunnelConfig } from "../../src/state/tunnel-config.ts";
import { BUN, CLI, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { killAllListens, startListen } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { serviceHarness, type ServiceHarness } from "../unit/service/harness.ts";
import { prng } from "../helpers/prng.ts";
import { running, until } from "../helpers/wait.ts";

const PROJECT = "local-project";

let datum: LocalDatum;
let origin: Server<undefined>;
let originUrl: string;
const spawned = new Set<Subprocess>();

// ---------- small helpers ----------


const SEED = process.env.FAULTS_SEED ? Number(process.env.FAULTS_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const random = prng(SEED);
const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));

/** GET through the edge on a fresh connection (no keep-alive: each request its own stream), bounded. */
async function get(url: string, timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: err instanceof Error ? err.message : String(err) };
  }
}

async function snapshot(): Promise<Record<string, { metadata: { name: string }; status?: { conditions?: { type: string; status: string; message?: string }[] } }[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, never> }).projects[PROJECT] ?? {};
}

const readyOf = (c: { status?: { conditions?: { type: string; status: string }[] } } | undefined) => c?.status?.conditions?.find((x) => x.type === "Ready")?.status;

/** Direct children of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function killPid(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** A CLI child we may kill at any moment (runCli waits for the end; this does not). */
function spawnCli(args: string[], env: Record<string, string | undefined>, exact = false): Subprocess<"ignore", "pipe", "pipe"> {
  const full: Record<string, string | undefined> = exact ? { ...env } : { ...process.env, NO_COLOR: "1", ...env };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  const child = Bun.spawn([BUN, CLI, ...args], { env: full as Record<string, string>, cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  spawned.add(child);
  void child.exited.then(() => spawned.delete(child));
  return child;
}

/**
 * Every file under a state root loads the way the product loads it: tunnel.yaml, run.json and
 * state.yml through their validating parsers, listen_key is 32 bytes, every complete tunnel.log
 * line is JSON, a launcher is a whole script. Temp files of an interrupted atomic write are
 * counted (they are never read). Anything else is a failure.
 */
function checkStateLoadable(root: string): { files: number; temps: string[]; locks: string[] } {
  const problems: string[] = [];
  const temps: string[] = [];
  const locks: string[] = [];
  let files = 0;
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      if (d.isDirectory()) {
        walk(path);
        continue;
      }
      if (d.isSymbolicLink()) continue;
      files++;
      const rel = relative(root, path);
      try {
        const text = () => readFileSync(path, "utf8");
        if (/^\..+\.tmp$/.test(d.name)) temps.push(rel);
        else if (d.name === "tunnel.yaml") parseTunnelConfig(text(), path);
        else if (d.name === "run.json") parseRunState(text(), path);
        else if (d.name === "state.yml") parseAllowList(text(), path);
        else if (d.name === "listen_key") {
          const n = readFileSync(path).length;
          if (n !== 32) throw new Error(`listen_key is ${n} bytes`);
        } else if (d.name === ".lock") locks.push(rel);
        else if (/^tunnel\.log(\.\d+)?$/.test(d.name)) {
          const lines = text().split("\n");
          lines.pop(); // the unterminated tail (empty when the file ends with a newline)
          for (const line of lines) if (line !== "") JSON.parse(line);
        } else if (d.name === "stdio.log") {
          // Free text (a crash's stack trace, if any).
        } else if (d.name === "datumctl-connect" && rel.includes("/bin/")) {
          const t = text();
          if (!t.startsWith("#!") || !t.endsWith("\n")) throw new Error("truncated launcher");
        } else throw new Error("unexpected file");
      } catch (err) {
        problems.push(`${rel}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  if (existsSync(root)) walk(root);
  expect(problems).toEqual([]);
  return { files, temps, locks };
}

interface PsDoc {
  name: string | null;
  status: string;
  pid: number | null;
  running: boolean;
}

async function ps(env: Record<string, string | undefined>, exact = false): Promise<PsDoc[]> {
  const r = await runCli(["tunnel", "ps", "-o", "json"], exact ? { exactEnv: env as Record<string, string> } : { env });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  return JSON.parse(r.stdout) as PsDoc[];
}

beforeAll(async () => {
  console.log(`faults-process: kill -9 schedule seed=${SEED} (replay with FAULTS_SEED=${SEED})`);
  datum = await startLocalDatum();
  // Before any Connector exists, so its Lease gets this duration; an exact flip at expiry.
  expect((await datum.admin("config", { body: { leaseDurationSeconds: 3, leaseExpiryJitter: 0 } })).status).toBe(200);
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`faults origin ${new URL(req.url).pathname}`) });
  originUrl = `127.0.0.1:${origin.port}`;
});

/** Background daemons this file started: every named tunnel's run.json whose process still runs. */
function sweepDaemons(root: string | undefined): void {
  const tunnels = root ? join(root, "tunnels") : "";
  if (!root || !existsSync(tunnels)) return;
  for (const name of readdirSync(tunnels)) {
    try {
      const run = parseRunState(readFileSync(join(tunnels, name, "run.json"), "utf8"), "run.json");
      if (running(run.pid) && processStartTime(run.pid) === (run.startTime ?? undefined)) killPid(run.pid);
    } catch {
      // No run.json, or a broken one: nothing to end.
    }
  }
}

afterAll(async () => {
  await killAllListens();
  for (const child of spawned) killPid(child.pid);
  sweepDaemons(datum?.env.DATUM_CONNECT_DIR);
  origin?.stop(true);
  await datum?.stop();
});

// ---------- item 4: sleep and lease loss ----------

describe("sleep and lease loss", () => {
  // Purpose: a tunnel stopped (SIGSTOP) for twice its lease notices the lapse on SIGCONT, renews by itself, and serves again within 5 s.
  test("SIGSTOP 6 s past a 3 s lease, then SIGCONT: one 'lease lost' line, Ready and traffic again within 5 s", async () => {
    const listen = await startListen(["--endpoint", originUrl], { env: datum.env });
    try {
      expect(await get(`${listen.url}/before`)).toEqual({ status: 200, body: "faults origin /before" });
      const tunnelId = /^ {2}id: (tunnel-[a-z0-9]+)$/m.exec(listen.stderr())?.[1];
      const routes = ((await (await datum.admin("routes")).json()) as { items: { proxyName: string; connectorName: string }[] }).items;
      const connectorName = routes.find((r) => r.proxyName === tunnelId)?.connectorName as string;
      expect(connectorName).toMatch(/^datum-connect-/);
      const connector = async () => (await snapshot()).connectors?.find((c) => c.metadata.name === connectorName);

      const STOP_MS = 6_000;
      let stoppedAt = 0;
      let contAt = 0;
      try {
        process.kill(listen.pid, "SIGSTOP");
        stoppedAt = performance.now();
        // The platform notices: the lease expires and the edge stops routing to the device.
        await until(async () => readyOf(await connector()) === "False", STOP_MS - 500, "Connector not Ready while stopped", 200);
        const message = (await connector())?.status?.conditions?.find((x) => x.type === "Ready")?.message;
        expect(message).toBe("Connector lease has expired. Agent may be offline.");
        expect(await get(`${listen.url}/while-stopped`, 2_000)).toEqual({ status: 503, body: "Tunnel not online" });
        await Bun.sleep(Math.max(0, STOP_MS - (performance.now() - stoppedAt)));
      } finally {
        process.kill(listen.pid, "SIGCONT");
        contAt = performance.now();
      }

      // Nothing but time from here: no request to the agent, no admin call that could help it.
      const readyAfter = await until(async () => (readyOf(await connector()) === "True" ? performance.now() - contAt : undefined), 10_000, "Connector Ready after SIGCONT");
      const servedAfter = await until(async () => {
        const r = await get(`${listen.url}/after`, 1_000);
        return r.status === 200 && r.body === "faults origin /after" ? performance.now() - contAt : undefined;
      }, 10_000, "traffic after SIGCONT");
      await until(() => listen.stderr().includes("lease lost during sleep"), 10_000, "the lease-lost line");
      await Bun.sleep(1_000); // another renewal round or two: still exactly one line
      const lines = listen.stderr().split("\n").filter((l) => l.includes("lease lost"));
      console.log(`sleep: stopped ${Math.round(contAt - stoppedAt)} ms; after SIGCONT Ready in ${Math.round(readyAfter)} ms, traffic in ${Math.round(servedAfter)} ms; ${JSON.stringify(lines)}`);

      expect(readyAfter).toBeLessThan(5_000);
      expect(servedAfter).toBeLessThan(5_000);
      expect(lines).toHaveLength(1);
      const seconds = Number(/^lease lost during sleep \((\d+)s since the last renewal\); re-enabling$/.exec(lines[0] as string)?.[1]);
      expect(seconds).toBeGreaterThanOrEqual(STOP_MS / 1000);
      expect(seconds).toBeLessThanOrEqual(STOP_MS / 1000 + 3);
      expect(listen.exitCode()).toBeNull();
      const exit = await listen.stop("SIGINT");
      expect(exit.code).toBe(0);
    } finally {
      listen.kill();
      await listen.done;
    }
  }, 60_000);
});

// ---------- item 5: kill -9 at random points ----------

interface KillRecord {
  kind: string;
  delayMs: number;
  /** Where the victim was when it died (its last progress line or run.json phase). */
  at: string;
  staleLock: boolean;
  temps: number;
  recovered: string;
}
const kills: KillRecord[] = [];
/**
 * Where setup starts verifying through the edge. Once the edge has dialled a process, a crash
 * leaves the edge's pooled QUIC connection to that endpoint id in place until it idles out (~30 s,
 * iroh's idle timeout, not settable from iroh-js): a successor started at once is unreachable
 * until then (started 34 s after the crash it is ready in ~2 s). Random kills therefore land
 * before this point, and one deliberate kill after ready (detach, below) measures that wait.
 */
const VERIFYING = "Verifying connectivity...";

/** Sleep `delayMs`, or less if `reached()` holds first (polled every 5 ms). */
async function killPoint(delayMs: number, reached: () => boolean): Promise<void> {
  const deadline = performance.now() + delayMs;
  while (performance.now() < deadline && !reached()) await Bun.sleep(5);
}

function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1)?.trim().slice(0, 60) ?? "";
}

describe("kill -9 at random points", () => {
  const root = () => datum.env.DATUM_CONNECT_DIR as string;

  // Purpose: a foreground listen killed anywhere in setup (once right after taking its lock) leaves loadable state and a stale lock the next listen takes over.
  test("foreground listen: 4 random kills, each followed by a listen that reaches ready and serves", async () => {
    const slot = join(root(), "projects", PROJECT);
    for (let i = 0; i < 4; i++) {
      // The first kill lands as soon as the lock file exists, so a stale lock is left for certain.
      const atLock = i === 0;
      const delayMs = atLock ? 0 : between(0, 1_500);
      const victim = await startListen(["--endpoint", originUrl], { env: datum.env, waitForReady: false });
      if (atLock) await until(() => existsSync(join(slot, ".lock")), 10_000, "the slot lock", 5);
      else await killPoint(delayMs, () => victim.stderr().includes(VERIFYING));
      expect({ exited: victim.exitCode(), stderr: victim.exitCode() === null ? "" : victim.stderr() }).toEqual({ exited: null, stderr: "" }); // alive until killed
      victim.kill();
      const exit = await victim.done;
      expect(victim.child.signalCode).toBe("SIGKILL");
      const state = checkStateLoadable(root());
      const staleLock = existsSync(join(slot, ".lock"));
      if (atLock) expect(staleLock).toBe(true);

      const t0 = performance.now();
      const next = await startListen(["--endpoint", originUrl], { env: datum.env, readyTimeoutMs: 60_000 });
      const recoveredMs = performance.now() - t0;
      expect(await get(`${next.url}/fg-${i}`)).toEqual({ status: 200, body: `faults origin /fg-${i}` });
      const stopped = await next.stop("SIGINT");
      expect(stopped.code).toBe(0);
      expect(existsSync(join(slot, ".lock"))).toBe(false);
      kills.push({
        kind: "listen",
        delayMs: atLock ? -2 : delayMs,
        at: exit.code === 0 ? "exited" : lastLine(exit.stderr) || "(no output yet)",
        staleLock,
        temps: state.temps.length,
        recovered: `ready in ${(recoveredMs / 1000).toFixed(1)} s`,
      });
    }
  }, 180_000);

  // Purpose: `listen --detach` with its daemon (and maybe its parent) killed anywhere leaves loadable state, `ps` says dead, and the next --detach reaches ready.
  test("listen --detach: 4 kills of the daemon (and the waiting parent), ps shows dead, the next --detach is ready", async () => {
    const NAME = "kill-detach";
    const dir = join(root(), "tunnels", NAME);
    const runState = () => (existsSync(join(dir, "run.json")) ? parseRunState(readFileSync(join(dir, "run.json"), "utf8"), "run.json") : undefined);
    for (let i = 0; i < 4; i++) {
      // 0: as soon as the daemon has written run.json (ps must then say dead); 1–2: random;
      // 3: a daemon already ready in the background (a crash at runtime).
      const mode = i === 0 ? "at run.json" : i === 3 ? "after ready" : "random";
      const delayMs = mode === "random" ? between(0, 2_200) : 0;
      const logPath = join(dir, "logs", "tunnel.log");
      const logBefore = existsSync(logPath) ? readFileSync(logPath, "utf8").length : 0;
      const parent = spawnCli(["tunnel", "listen", "--detach", "--name", NAME, "--endpoint", originUrl], datum.env);
      if (mode === "after ready") expect(await parent.exited).toBe(0);
      else if (mode === "at run.json") await until(() => runState()?.pid !== undefined && childrenOf(parent.pid).includes(runState()?.pid as number), 15_000, "the daemon's run.json", 10);
      else await killPoint(delayMs, () => existsSync(logPath) && readFileSync(logPath, "utf8").slice(logBefore).includes(VERIFYING));
      // The parent either still waits or (after ready) returned 0: it never failed on its own.
      expect(parent.exitCode === null || parent.exitCode === 0).toBe(true);
      const daemons = new Set<number>();
      let stopped = false;
      try {
        if (parent.exitCode === null) {
          // Freeze the parent first so it cannot spawn a daemon between our look and our kill.
          killPid(parent.pid, "SIGSTOP");
          stopped = true;
          for (const c of childrenOf(parent.pid)) daemons.add(c);
        }
        const run = runState();
        if (run && running(run.pid) && processStartTime(run.pid) === (run.startTime ?? undefined)) daemons.add(run.pid);
        for (const pid of daemons) killPid(pid);
        killPid(parent.pid);
      } finally {
        if (stopped) killPid(parent.pid, "SIGCONT");
      }
      await parent.exited;
      for (const pid of daemons) await until(() => !running(pid), 5_000, `daemon ${pid} gone`, 20);
      if (mode !== "random") expect(daemons.size).toBe(1);

      const state = checkStateLoadable(root());
      const run = runState();
      const entry = (await ps(datum.env)).find((e) => e.name === NAME);
      if (run && daemons.has(run.pid)) {
        // The killed daemon had reported itself: it is dead, not running, not "stopped".
        expect(entry).toMatchObject({ status: "dead", running: false, pid: run.pid });
      } else if (entry) {
        expect(entry.running).toBe(false);
        expect(["stopped", "dead", "never started"]).toContain(entry.status);
      }
      if (mode !== "random") expect(entry?.status).toBe("dead");
      const at = run && daemons.has(run.pid) ? `daemon ${run.phase}` : daemons.size > 0 ? "daemon before run.json" : "parent only";
      const staleLock = existsSync(join(dir, ".lock"));

      const t0 = performance.now();
      // --wait 60s: a daemon killed after ready leaves the edge a stale pooled connection (VERIFYING).
      const next = await runCli(["tunnel", "listen", "--detach", "--name", NAME, "--endpoint", originUrl, "--wait", "60s"], { env: datum.env, timeoutMs: 75_000 });
      const recoveredMs = performance.now() - t0;
      expect({ code: next.code, stderr: next.code === 0 ? "" : next.stderr }).toEqual({ code: 0, stderr: "" });
      // After a crash at runtime: ready once the edge's stale connection idled out, not later.
      if (mode === "after ready") expect(recoveredMs).toBeLessThan(45_000);
      const url = next.stdout.trim();
      expect(await get(`${url}/bg-${i}`)).toEqual({ status: 200, body: `faults origin /bg-${i}` });
      expect((await ps(datum.env)).find((e) => e.name === NAME)).toMatchObject({ status: "ready", running: true });
      const stop = await runCli(["tunnel", "stop", "--name", NAME], { env: datum.env });
      expect({ code: stop.code, stdout: stop.stdout.trim() }).toEqual({ code: 0, stdout: `Stopped tunnel ${NAME}` });
      kills.push({ kind: "listen --detach", delayMs: mode === "random" ? delayMs : mode === "at run.json" ? -3 : -1, at, staleLock, temps: state.temps.length, recovered: `ready in ${(recoveredMs / 1000).toFixed(1)} s` });
    }
  }, 180_000);

  // Purpose: `install` killed anywhere leaves no half-written unit, config or launcher, and install works again (after uninstall when it got far enough to claim the name).
  test("install: 2 random kills, no half-written unit or tunnel.yaml, and a clean reinstall", async () => {
    if (!existsSync(join(REPO_ROOT, "src", "commands", "tunnel", "install.ts"))) {
      console.log("skip: src/commands/tunnel/install.ts does not exist yet");
      return;
    }
    const NAME = "kill-install";
    const UNIT = `datumctl-connect-user-${NAME}.service`;
    const h: ServiceHarness = serviceHarness({
      base: {},
      sessions: [{ name: datum.env.DATUM_SESSION as string, userKey: "dev@local.datum@auth.datum.net", email: "dev@local.datum", server: datum.apiUrl }],
      org: "local-org",
      project: PROJECT,
    });
    const env = Object.fromEntries(
      Object.entries(h.env({ ...datum.env, DATUM_CONNECT_DIR: h.stateDir, NO_COLOR: "1" })).filter((e): e is [string, string] => e[1] !== undefined),
    );
    const cli = (args: string[]) => runCli(args, { exactEnv: env, timeoutMs: 60_000 });
    const install = () => cli(["tunnel", "install", "--name", NAME, "--endpoint", originUrl, "--session", datum.env.DATUM_SESSION as string]);
    const unitPath = join(h.unitDir, UNIT);
    try {
      // A reference install: what a complete unit looks like, and how long install takes here.
      const t0 = performance.now();
      const ref = await install();
      expect({ code: ref.code, stderr: ref.code === 0 ? "" : ref.stderr }).toEqual({ code: 0, stderr: "" });
      const installMs = performance.now() - t0;
      const completeUnit = readFileSync(unitPath, "utf8");
      expect((await cli(["tunnel", "uninstall", "--name", NAME])).code).toBe(0);

      for (let i = 0; i < 2; i++) {
        const delayMs = between(50, Math.max(500, installMs));
        const victim = spawnCli(["tunnel", "install", "--name", NAME, "--endpoint", originUrl, "--session", datum.env.DATUM_SESSION as string], env, true);
        await Bun.sleep(delayMs);
        killPid(victim.pid);
        await victim.exited;

        // No half-written files: the unit is absent or exactly what install writes; the config parses.
        if (existsSync(unitPath)) expect(readFileSync(unitPath, "utf8")).toBe(completeUnit);
        const state = checkStateLoadable(h.stateDir);
        const tunnelDirExists = existsSync(join(h.stateDir, "tunnels", NAME));
        const at = existsSync(unitPath) ? "unit written" : tunnelDirExists ? "tunnel dir, no unit" : "nothing written";
        if (tunnelDirExists) {
          const s = await cli(["tunnel", "status", "--name", NAME, "-o", "json"]);
          expect({ code: s.code, stderr: s.code === 0 ? "" : s.stderr }).toEqual({ code: 0, stderr: "" });
        }

        // The next run: install again; where the killed one already claimed the name, the refusal
        // names the way out (uninstall), and that way out works.
        let again = await install();
        let recovered = "install";
        if (again.code === 64) {
          expect(again.stderr).toContain(`tunnel uninstall --name ${NAME}`);
          const un = await cli(["tunnel", "uninstall", "--name", NAME]);
          expect({ code: un.code, stderr: un.code === 0 ? "" : un.stderr }).toEqual({ code: 0, stderr: "" });
          again = await install();
          recovered = "uninstall + install";
        }
        expect({ code: again.code, stderr: again.code === 0 ? "" : again.stderr }).toEqual({ code: 0, stderr: "" });
        expect(readFileSync(unitPath, "utf8")).toBe(completeUnit);
        expect(await get(`${again.stdout.trim()}/svc-${i}`)).toEqual({ status: 200, body: `faults origin /svc-${i}` });
        const un = await cli(["tunnel", "uninstall", "--name", NAME]);
        expect(un.code).toBe(0);
        kills.push({ kind: "install", delayMs, at, staleLock: false, temps: state.temps.length, recovered });
      }
    } finally {
      h.cleanup();
    }
  }, 150_000);

  // Purpose: the schedule as run (seed, delays, where each kill landed), and the ≥ 10 kills the issue asks for.
  test("at least 10 kills in all", () => {
    console.log(`kill -9 schedule (seed ${SEED}):\n${kills.map((k) => `  ${k.kind.padEnd(16)} ${(k.delayMs === -1 ? "after ready" : k.delayMs === -2 ? "at lock" : k.delayMs === -3 ? "at run.json" : `${k.delayMs} ms`).padEnd(11)} at: ${k.at}${k.staleLock ? " [stale lock]" : ""}${k.temps ? ` [${k.temps} temp]` : ""} → ${k.recovered}`).join("\n")}`);
    expect(kills.length).toBeGreaterThanOrEqual(10);
  });
});

// ---------- item 6: the soak script works end to end ----------

describe("soak", () => {
  // Purpose: `scripts/soak.ts --minutes 0.5` runs by itself (own local Datum, detached tunnel, traffic, rotation, outage), passes, and writes its result file.
  test("scripts/soak.ts --minutes 0.5: exit 0 and a complete result file", async () => {
    const out = join(mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "soak-")), "soak.json");
    const child = Bun.spawn([BUN, join(REPO_ROOT, "scripts", "soak.ts"), "--minutes", "0.5", "--out", out], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: "1" } as Record<string, string>,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 110_000,
      killSignal: "SIGTERM", // the script stops its daemon and local Datum on SIGTERM
    });
    spawned.add(child);
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect({ code, stderr: code === 0 ? "" : `${stdout}\n${stderr}` }).toEqual({ code: 0, stderr: "" });
    const result = JSON.parse(readFileSync(out, "utf8")) as {
      pass: boolean;
      checks: Record<string, boolean | null>;
      requests: { total: number; failed: number };
      samples: { rssKb: number | null; fds: number | null }[];
      config: { note: string; outageSeconds: number };
    };
    expect(result.pass).toBe(true);
    expect(result.requests.total).toBeGreaterThan(300); // 20 req/s for 30 s
    expect(result.requests.failed).toBe(0);
    expect(result.checks).toMatchObject({ zeroFailedRequests: true, outageHappened: true, heartbeatResumedAfterOutage: true, connectorReadyAtEnd: true });
    expect(result.samples.length).toBeGreaterThanOrEqual(6);
    expect(result.samples.every((s) => s.rssKb !== null && s.fds !== null)).toBe(true);
    expect(result.config.note).toContain("short mode");
    expect(stdout).toContain("soak PASS");
  }, 120_000);
});
