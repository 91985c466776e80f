/**
 * File faults through the real CLI against `dev cloud` (issue 8 item 5): state written under a
 * umask of 000 still ends up 0700/0600; a corrupt `run.json`, `tunnel.yaml`, `state.yml` or
 * `listen_key` is exit 65 naming the file (never a crash) for every command that reads it; and a
 * full disk under the tunnel's logs (`/dev/full`, a real ENOSPC) does not stop the tunnel.
 * Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 180000 test/e2e/faults-files.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { processStartTime } from "../../src/state/process-identity.ts";
import { parseRunState } from "../../src/state/run-state.ts";
import { BUN, CLI, REPO_ROOT, runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

const PROJECT = "local-project";
let datum: LocalDatum;
let origin: Server<undefined>;
let originUrl: string;
let root: string;
/** Daemons this file started (from their run.json): PID → start time, ended in afterAll if still that process. */
const daemons = new Map<number, string | null>();

const cli = (args: string[], timeoutMs = 45_000): Promise<CliResult> => runCli(args, { env: datum.env, timeoutMs });

/** The CLI under `umask 000` (sh execs it: one PID): any mode the product leaves to the umask comes out world-writable. */
function spawnUmask0(args: string[]) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: "1", ...datum.env })) if (v !== undefined) env[k] = v;
  return Bun.spawn(["sh", "-c", 'umask 000 && exec "$0" "$@"', BUN, CLI, ...args], {
    env,
    cwd: REPO_ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
}

async function cliUmask0(args: string[]): Promise<CliResult> {
  const child = spawnUmask0(args);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr, ms: 0 };
}

function remember(name: string): number {
  const run = parseRunState(readFileSync(join(root, "tunnels", name, "run.json"), "utf8"), "run.json");
  daemons.set(run.pid, run.startTime);
  return run.pid;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

/** An error the user can act on: `error: …` naming the file, and no stack trace. */
function expectMalformed(r: CliResult, path: string): void {
  expect({ code: r.code, named: r.stderr.includes(path), stack: /\n\s+at /.test(r.stderr) }).toEqual({ code: 65, named: true, stack: false });
  expect(r.stderr).toStartWith("error: ");
}

beforeAll(async () => {
  datum = await startLocalDatum();
  root = datum.env.DATUM_CONNECT_DIR as string;
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`files origin ${new URL(req.url).pathname}`) });
  originUrl = `127.0.0.1:${origin.port}`;
});

afterAll(async () => {
  // Every daemon that reported itself (a failed assertion may have skipped remember()).
  for (const name of root && existsSync(join(root, "tunnels")) ? readdirSync(join(root, "tunnels")) : []) {
    try {
      const run = parseRunState(readFileSync(join(root, "tunnels", name, "run.json"), "utf8"), "run.json");
      daemons.set(run.pid, run.startTime);
    } catch {
      // No run.json, or a broken one.
    }
  }
  for (const [pid, startTime] of daemons) {
    // Only the very process that wrote run.json (a PID may have been reused since it exited).
    if (processStartTime(pid) === undefined || processStartTime(pid) !== (startTime ?? undefined)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already stopped.
    }
  }
  origin?.stop(true);
  await datum?.stop();
});

describe("file and directory modes", () => {
  // Purpose: after a full detach/stop cycle and a foreground listen, all run under umask 000, every directory under the state root is 0700 and every file 0600.
  test("umask 000: detach, stop and a foreground listen leave only 0700 directories and 0600 files", async () => {
    const up = await cliUmask0(["tunnel", "listen", "--detach", "--name", "modes", "--endpoint", originUrl]);
    expect({ code: up.code, stderr: up.code === 0 ? "" : up.stderr }).toEqual({ code: 0, stderr: "" });
    remember("modes");
    expect(await get(`${up.stdout.trim()}/modes`)).toEqual({ status: 200, body: "files origin /modes" });
    // While it runs: the lock, run.json rewrites and the log, too.
    await Bun.sleep(200);
    const running = modes();
    const down = await cliUmask0(["tunnel", "stop", "--name", "modes"]);
    expect(down.code).toBe(0);

    // A foreground (unnamed) listen under the same umask: the project slot.
    const fg = spawnUmask0(["tunnel", "listen", "--endpoint", originUrl]);
    try {
      let err = "";
      const reader = (async () => {
        for await (const chunk of fg.stderr) err += new TextDecoder().decode(chunk);
      })();
      let out = "";
      const outReader = (async () => {
        for await (const chunk of fg.stdout) out += new TextDecoder().decode(chunk);
      })();
      const deadline = performance.now() + 30_000;
      while (!/Tunnel ready after/.test(out) && fg.exitCode === null && performance.now() < deadline) await Bun.sleep(25);
      expect(out).toContain("Tunnel ready after");
      fg.kill("SIGINT");
      expect(await fg.exited).toBe(0);
      await Promise.all([reader, outReader]);
    } finally {
      if (fg.exitCode === null) fg.kill("SIGKILL");
    }

    const after = modes();
    const wrong = [...running, ...after].filter((m) => m.mode !== (m.dir ? 0o700 : 0o600)).map((m) => `${m.path} ${m.mode.toString(8)}`);
    expect(wrong).toEqual([]);
    // What was checked: the named tunnel's files and the project slot's.
    const paths = after.map((m) => m.path);
    for (const p of ["tunnels", "tunnels/modes", "tunnels/modes/tunnel.yaml", "tunnels/modes/run.json", "tunnels/modes/state.yml", "tunnels/modes/listen_key", "tunnels/modes/logs", "tunnels/modes/logs/tunnel.log", "tunnels/modes/logs/stdio.log", `projects/${PROJECT}/listen_key`, `projects/${PROJECT}/state.yml`]) {
      expect(paths).toContain(p);
    }
    expect(running.map((m) => m.path)).toContain("tunnels/modes/.lock");
  }, 60_000);
});

/** Mode bits of everything under the state root (symlinks excluded). */
function modes(): { path: string; mode: number; dir: boolean }[] {
  const out: { path: string; mode: number; dir: boolean }[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) continue;
      out.push({ path: relative(root, path), mode: st.mode & 0o777, dir: st.isDirectory() });
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  out.push({ path: ".", mode: statSync(root).mode & 0o777, dir: true });
  return out.filter((m) => m.path !== ".");
}

describe("a corrupt state file is exit 65 naming it", () => {
  /** A copy of the stopped `modes` tunnel with one file replaced. */
  function corruptCopy(name: string, file: string, content: string | Uint8Array): string {
    const dir = join(root, "tunnels", name);
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(root, "tunnels", "modes"), dir, { recursive: true });
    rmSync(join(dir, "logs"), { recursive: true, force: true });
    const path = join(dir, file);
    writeFileSync(path, content, { mode: 0o600 });
    if (file === "tunnel.yaml") return path;
    // The copied tunnel.yaml names "modes": give the copy its own name so only `file` is wrong.
    const yaml = readFileSync(join(dir, "tunnel.yaml"), "utf8").replace(/^name: modes$/m, `name: ${name}`);
    writeFileSync(join(dir, "tunnel.yaml"), yaml, { mode: 0o600 });
    return path;
  }

  // Purpose: run.json that is not JSON, or JSON of the wrong shape: status, ps and stop exit 65 naming it; listen --detach rewrites it (its hint says so) and runs.
  test("run.json: status, ps and stop exit 65 naming it; --detach starts over", async () => {
    for (const [i, content] of ['{"version": 1, "pid": ', JSON.stringify({ version: 1, pid: "seven" })].entries()) {
      const name = `bad-run-${i}`;
      const path = corruptCopy(name, "run.json", content);
      expectMalformed(await cli(["tunnel", "status", "--name", name]), path);
      expectMalformed(await cli(["tunnel", "status", "--name", name, "-o", "json"]), path);
      const ps = await cli(["tunnel", "ps"]);
      expectMalformed(ps, path);
      // The listing still shows the healthy tunnels before the error.
      expect(ps.stdout).toContain("modes");
      const psJson = await cli(["tunnel", "ps", "-o", "json"]);
      expectMalformed(psJson, path);
      // No PID to signal: stop says which file is broken instead of "not running".
      expectMalformed(await cli(["tunnel", "stop", "--name", name]), path);
      rmSync(join(root, "tunnels", name), { recursive: true, force: true });
    }
    // --detach over a corrupt run.json: the daemon writes a fresh one (the hint's promise).
    const path = corruptCopy("bad-run-2", "run.json", "\u0000\u0001garbage");
    const up = await cli(["tunnel", "listen", "--detach", "--name", "bad-run-2"]);
    expect({ code: up.code, stderr: up.code === 0 ? "" : up.stderr }).toEqual({ code: 0, stderr: "" });
    remember("bad-run-2");
    expect(parseRunState(readFileSync(path, "utf8"), path).phase).toBe("ready");
    expect((await cli(["tunnel", "stop", "--name", "bad-run-2"])).code).toBe(0);
  }, 60_000);

  // Purpose: tunnel.yaml that is not YAML or misses fields: status, ps, listen and listen --detach exit 65 naming it, and nothing starts.
  test("tunnel.yaml: status, ps, listen --name and listen --detach exit 65 naming it", async () => {
    for (const [i, content] of ["name: [unclosed\n", "name: bad-yaml-1\nendpoint: http://127.0.0.1:1\n"].entries()) {
      const name = `bad-yaml-${i}`;
      const path = corruptCopy(name, "tunnel.yaml", content);
      expectMalformed(await cli(["tunnel", "status", "--name", name]), path);
      expectMalformed(await cli(["tunnel", "ps"]), path);
      expectMalformed(await cli(["tunnel", "listen", "--name", name]), path);
      expectMalformed(await cli(["tunnel", "listen", "--detach", "--name", name]), path);
      expect(existsSync(join(root, "tunnels", name, "logs"))).toBe(false); // no daemon was started
      rmSync(join(root, "tunnels", name), { recursive: true, force: true });
    }
  }, 60_000);

  // Purpose: a named tunnel's state.yml (allow-list) that is corrupt: listen exits 65 naming it, and so does a detached start (relayed from its daemon).
  test("state.yml: listen --name and listen --detach exit 65 naming it", async () => {
    const path = corruptCopy("bad-allow", "state.yml", "proxies:\n  - info: {resource_id: 7}\n    enabled: maybe\n");
    expectMalformed(await cli(["tunnel", "listen", "--name", "bad-allow"]), path);
    const detached = await cli(["tunnel", "listen", "--detach", "--name", "bad-allow"]);
    expectMalformed(detached, path);
    rmSync(join(root, "tunnels", "bad-allow"), { recursive: true, force: true });
  }, 60_000);

  // Purpose: the project slot's state.yml and listen_key: listen (and, for the key, tunnel list) exit 65 naming the file.
  test("project slot: corrupt state.yml → listen 65; a 31-byte listen_key → list and listen 65", async () => {
    const slot = join(root, "projects", PROJECT);
    const allow = join(slot, "state.yml");
    const keep = readFileSync(allow);
    try {
      writeFileSync(allow, "proxies: {this is: [not, a list}\n");
      expectMalformed(await cli(["tunnel", "listen", "--endpoint", originUrl]), allow);
    } finally {
      writeFileSync(allow, keep);
    }
    const key = join(slot, "listen_key");
    const good = readFileSync(key);
    try {
      writeFileSync(key, good.subarray(0, 31));
      expectMalformed(await cli(["tunnel", "list"]), key);
      expectMalformed(await cli(["tunnel", "listen", "--endpoint", originUrl]), key);
    } finally {
      writeFileSync(key, good);
    }
    // Restored: the slot works again.
    expect((await cli(["tunnel", "list"])).code).toBe(0);
  }, 60_000);
});

describe("a full disk under the logs", () => {
  // Purpose: with tunnel.log and stdio.log pointing at /dev/full (every write ENOSPC) from the start, the daemon comes up, serves, and status/logs/ps/stop work.
  test("logs on /dev/full: --detach is ready and serves; status, logs, ps and stop work", async () => {
    if (!existsSync("/dev/full")) {
      console.log("skip: no /dev/full on this machine");
      return;
    }
    const logs = join(root, "tunnels", "full", "logs");
    mkdirSync(logs, { recursive: true, mode: 0o700 });
    symlinkSync("/dev/full", join(logs, "tunnel.log"));
    symlinkSync("/dev/full", join(logs, "stdio.log"));
    const up = await cli(["tunnel", "listen", "--detach", "--name", "full", "--endpoint", originUrl]);
    expect({ code: up.code, stderr: up.code === 0 ? "" : up.stderr }).toEqual({ code: 0, stderr: "" });
    remember("full");
    const url = up.stdout.trim();
    for (let i = 0; i < 20; i++) expect(await get(`${url}/full-${i}`)).toEqual({ status: 200, body: `files origin /full-${i}` });

    const status = await cli(["tunnel", "status", "--name", "full", "-o", "json"]);
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: "" });
    const doc = JSON.parse(status.stdout) as { status: string; running: boolean; log: string[]; run: { counters: { connectionsCompleted: number } } };
    expect(doc).toMatchObject({ status: "ready", running: true, log: [] });
    const human = await cli(["tunnel", "status", "--name", "full"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("ready");
    const logsOut = await cli(["tunnel", "logs", "--name", "full", "--tail", "5"], 10_000);
    expect(logsOut.code).toBe(0);
    expect((await cli(["tunnel", "ps", "-o", "json"])).code).toBe(0);
    // Still serving after all that (the log writer kept failing the whole time).
    expect(await get(`${url}/still`)).toEqual({ status: 200, body: "files origin /still" });
    expect(lstatSync(join(logs, "tunnel.log")).isSymbolicLink()).toBe(true);
    expect(statSync("/dev/full").mode & 0o777).toBe(0o666); // never chmod what is not ours
    const down = await cli(["tunnel", "stop", "--name", "full"]);
    expect({ code: down.code, stdout: down.stdout.trim() }).toEqual({ code: 0, stdout: "Stopped tunnel full" });
    expect(parseRunState(readFileSync(join(root, "tunnels", "full", "run.json"), "utf8"), "run.json")).toMatchObject({ phase: "stopped", exitCode: 0 });
  }, 60_000);
});
