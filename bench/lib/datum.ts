/**
 * Our side: the local Datum (`dev cloud`: control plane with zero controller delays, edge and
 * gateway) and the agent, run as a user would run them: `tunnel listen` in the foreground, or
 * `tunnel listen --detach --name N` / `tunnel stop --name N`, from source or compiled.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { parseExports } from "../../test/helpers/local-datum.ts";
import { adopt, alive, BenchError, collect, daemons, endPid, runTimed, track, waitGone } from "./procs.ts";

export const REPO_ROOT = join(import.meta.dir, "..", "..");
export const CLI = join(REPO_ROOT, "src", "cli.ts");
const READY_RE = /^Tunnel ready after \d+ sec: (https?:\/\/\S+)$/m;

/** How to run the CLI: `[bun, src/cli.ts]` from source, `[dist/…/datumctl-connect]` compiled. */
export type Exe = readonly string[];
export const SOURCE: Exe = [process.execPath, CLI];

/**
 * The environment every child gets: ours without Datum/datumctl variables, with HOME and the XDG
 * directories in a throwaway root (nothing reads or writes the user's real state), plus `extra`.
 */
export function isolatedEnv(root: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    const datumVar = k.startsWith("DATUM_") || k.startsWith("DATUMCTL_");
    if (v !== undefined && (!datumVar || k === "DATUM_CONNECT_IN_NETNS")) env[k] = v;
  }
  return {
    ...env,
    HOME: join(root, "home"),
    XDG_DATA_HOME: join(root, "data"),
    XDG_CONFIG_HOME: join(root, "config"),
    XDG_STATE_HOME: join(root, "state"),
    XDG_CACHE_HOME: join(root, "cache"),
    DATUM_CONNECT_DIR: join(root, "connect"),
    NO_COLOR: "1",
    ...extra,
  };
}

export interface DevCloud {
  readonly pid: number;
  readonly env: Record<string, string>;
  readonly apiUrl: string;
  readonly edgePort: number;
  readonly config: Record<string, unknown>;
  stop(): Promise<void>;
}

/** `dev cloud` (plus `args`) as a child process, ready once it wrote its env file; controller delays set to 0. */
export async function startDevCloud(baseEnv: Record<string, string>, args: readonly string[] = []): Promise<DevCloud> {
  const dir = mkdtempSync(join(tmpdir(), "bench-datum-"));
  const envFile = join(dir, "env.sh");
  const child = track(
    Bun.spawn([process.execPath, CLI, "dev", "cloud", "--dir", join(dir, "cloud"), "--env-file", envFile, "--parent-pid", String(process.pid), ...args], {
      cwd: REPO_ROOT,
      env: baseEnv,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
  const stderr = { text: "" };
  void collect(child.stderr, stderr);
  void new Response(child.stdout).text();
  const stop = async (): Promise<void> => {
    await endPid(child.pid, 5_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = performance.now() + 30_000;
  while (!existsSync(envFile)) {
    if (child.exitCode !== null) throw new BenchError(`dev cloud exited ${child.exitCode} before ready:\n${stderr.text}`);
    if (performance.now() > deadline) {
      await stop();
      throw new BenchError(`dev cloud not ready within 30 s:\n${stderr.text}`);
    }
    await Bun.sleep(25);
  }
  await Bun.sleep(50); // the file is written whole, but be sure
  const env = parseExports(readFileSync(envFile, "utf8"));
  const apiUrl = env.DATUM_API_HOST as string;
  if (!env.DATUM_DEV_CLOUD_EDGE) {
    await stop();
    throw new BenchError("the local Datum has no edge (iroh's native module did not load)");
  }
  const res = await fetch(`${apiUrl}/_dev/config`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ delays: { connector: 0, accepted: 0, certificatesReady: 0, programmed: 0, connectorMetadataProgrammed: 0, advertisement: 0 } }),
  });
  if (!res.ok) throw new BenchError(`could not set zero controller delays: ${res.status} ${await res.text()}`);
  const config = (await res.json()) as Record<string, unknown>;
  return { pid: child.pid, env, apiUrl, edgePort: Number(new URL(env.DATUM_DEV_CLOUD_EDGE).port), config, stop };
}

// ---------------------------------------------------------------------------------------------
// `tunnel listen` in the foreground.

/** Progress lines of `tunnel listen` (plain reporter) that split the time to ready. */
export const MILESTONES = {
  endpoint: "Your endpoint ID:", // process up, token fetched, worker started, iroh endpoint bound
  settingUp: "Setting up tunnel...", // tunnel found or created, heartbeat started, advertisement enabled
  verifying: "Verifying connectivity...", // every setup condition held (750 ms polls)
} as const;
export type Milestone = keyof typeof MILESTONES;

export interface Listen {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  url: string;
  readyMs: number;
  created: boolean;
  stderr: { text: string };
  milestones: Partial<Record<Milestone, number>>;
}

export async function startListen(exe: Exe, env: Record<string, string>, endpoint: string, budgetMs = 60_000): Promise<Listen> {
  const t0 = performance.now();
  const proc = track(
    Bun.spawn([...exe, "tunnel", "listen", "--endpoint", endpoint], {
      cwd: REPO_ROOT,
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true, // a Ctrl+C on the terminal is ours to relay, once
    }),
  );
  const stdout = { text: "" };
  const stderr = { text: "" };
  let readyMs = 0;
  const ready = new Promise<string>((resolve) => {
    void collect(proc.stdout, stdout, () => {
      const m = READY_RE.exec(stdout.text);
      if (m && readyMs === 0) {
        readyMs = performance.now() - t0;
        resolve(m[1] as string);
      }
    });
  });
  const milestones: Partial<Record<Milestone, number>> = {};
  void collect(proc.stderr, stderr, () => {
    for (const [name, line] of Object.entries(MILESTONES) as [Milestone, string][]) {
      if (milestones[name] === undefined && stderr.text.includes(line)) milestones[name] = Math.round((performance.now() - t0) * 10) / 10;
    }
  });
  let timer: Timer | undefined;
  try {
    const url = await Promise.race([
      ready,
      proc.exited.then((code) => {
        throw new BenchError(`tunnel listen exited with code ${code} before it was ready:\n${stderr.text}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new BenchError(`tunnel listen not ready within ${budgetMs / 1000} s:\n${stderr.text}`)), budgetMs);
      }),
    ]);
    return { proc, pid: proc.pid, url, readyMs, created: stderr.text.includes("Created tunnel:"), stderr, milestones };
  } catch (err) {
    await endPid(proc.pid, 5_000);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** SIGINT and wait: "Tunnel disabled." and exit 0 are required. Returns the ms it took. */
export async function stopListen(l: Listen, budgetMs = 15_000): Promise<number> {
  const t0 = performance.now();
  l.proc.kill("SIGINT");
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    l.proc.kill("SIGKILL");
  }, budgetMs);
  const code = await l.proc.exited;
  clearTimeout(timer);
  const ms = performance.now() - t0;
  await Bun.sleep(10); // the last stderr bytes
  if (killed) throw new BenchError(`tunnel listen did not exit within ${budgetMs / 1000} s of SIGINT`);
  if (code !== 0 || !l.stderr.text.includes("Tunnel disabled.")) {
    throw new BenchError(`tunnel listen ended with code ${code} after SIGINT:\n${l.stderr.text.split("\n").slice(-25).join("\n")}`);
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Named background tunnels.

export interface Detached {
  ms: number;
  pid: number;
  url: string;
}

/** `tunnel listen --detach --name N --endpoint E`: must exit 0 once ready; returns its time and the daemon's PID. */
export async function detach(exe: Exe, env: Record<string, string>, name: string, endpoint: string | undefined): Promise<Detached> {
  const args = [...exe, "tunnel", "listen", "--detach", "--name", name, ...(endpoint ? ["--endpoint", endpoint] : []), "--wait", "60s"];
  const r = await runTimed(args, { env, cwd: REPO_ROOT, timeoutMs: 90_000 });
  const m = /\(PID (\d+)\)/.exec(r.stderr);
  if (m) adopt(Number(m[1]));
  if (r.code !== 0 || !m) throw new BenchError(`listen --detach --name ${name} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return { ms: r.ms, pid: Number(m[1]), url: r.stdout.trim().split("\n")[0] ?? "" };
}

/** `tunnel stop --name N`: must exit 0 and the daemon must be gone. */
export async function stopNamed(exe: Exe, env: Record<string, string>, name: string, pid: number): Promise<number> {
  const r = await runTimed([...exe, "tunnel", "stop", "--name", name], { env, cwd: REPO_ROOT, timeoutMs: 60_000 });
  if (r.code !== 0 || !/Stopped tunnel/.test(r.stdout)) throw new BenchError(`tunnel stop --name ${name} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  if (!(await waitGone(pid, 5_000))) throw new BenchError(`tunnel ${name} (PID ${pid}) still running after tunnel stop`);
  daemons.delete(pid);
  return r.ms;
}

export { alive };
