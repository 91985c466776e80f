/**
 * The access token never leaves memory (docs/architecture.md#tokens, issue 8 item 5):
 * three real agents — a foreground `listen`, a `listen --detach` daemon and an installed service
 * (the fake systemctl runs its unit) — run against `dev cloud` with a 3 s lease, get 401s for
 * their tokens mid-run and refresh them; then the **actual** token values the datumctl double
 * issued (its runtime file) are searched for in `/proc/<pid>/cmdline` and `/proc/<pid>/environ` of
 * every agent and every child seen, in the helper calls' argv and environment (the double's call
 * log), in every log line, every state file, the unit file and every CLI output.
 * Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 180000 test/e2e/secrets.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readCallLog } from "../../src/devcloud/datumctl-double/call-log.ts";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import { readRuntime } from "../../src/devcloud/datumctl-double/tokens.ts";
import { processStartTime } from "../../src/state/process-identity.ts";
import { parseRunState } from "../../src/state/run-state.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { serviceHarness, type ServiceHarness } from "../unit/service/harness.ts";

const PROJECT = "local-project";
let datum: LocalDatum;
let h: ServiceHarness;
let origin: Server<undefined>;
let fg: ListenProcess;
let serviceEnv: Record<string, string>;

/** Everything a token could have leaked into, gathered as the test runs: [where, bytes]. */
const haystacks: [string, Buffer][] = [];
const keep = (where: string, text: string | Buffer) => haystacks.push([where, Buffer.isBuffer(text) ? text : Buffer.from(text)]);
/** Agent PIDs whose /proc entries were read, and the children seen under them. */
const seenPids = new Set<number>();

async function cli(args: string[], env: Record<string, string | undefined> = datum.env): Promise<CliResult> {
  const r = await runCli(args, { env, timeoutMs: 60_000 });
  keep(`stdout of ${args.join(" ")}`, r.stdout);
  keep(`stderr of ${args.join(" ")}`, r.stderr);
  return r;
}

async function svc(args: string[]): Promise<CliResult> {
  const r = await runCli(args, { exactEnv: serviceEnv, timeoutMs: 60_000 });
  keep(`stdout of ${args.join(" ")}`, r.stdout);
  keep(`stderr of ${args.join(" ")}`, r.stderr);
  return r;
}

function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      byParent.set(ppid, [...(byParent.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const queue = [...(byParent.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    out.push(next);
    queue.push(...(byParent.get(next) ?? []));
  }
  return out;
}

/** Snapshot cmdline and environ of `pid` and its descendants (children come and go: sampled often). */
function sampleProc(label: string, pid: number): void {
  for (const p of [pid, ...descendants(pid)]) {
    for (const file of ["cmdline", "environ"]) {
      try {
        keep(`/proc/${p}/${file} (${label}${p === pid ? "" : " child"})`, readFileSync(`/proc/${p}/${file}`));
        seenPids.add(p);
      } catch {
        // Exited between the listing and the read.
      }
    }
  }
}

function keepTree(label: string, dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) {
        keep(`${label}: ${path}`, readFileSync(path));
        n++;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return n;
}

async function get(url: string): Promise<number> {
  const res = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  await res?.text();
  return res?.status ?? 0;
}

function pidOf(root: string, name: string): number {
  return parseRunState(readFileSync(join(root, "tunnels", name, "run.json"), "utf8"), "run.json").pid;
}

const agents = (): [string, number][] => [
  ["foreground listen", fg.pid],
  ["--detach daemon", pidOf(datum.env.DATUM_CONNECT_DIR as string, "sec-daemon")],
  ["service", pidOf(h.stateDir, "sec-svc")],
];

beforeAll(async () => {
  datum = await startLocalDatum();
  expect((await datum.admin("config", { body: { leaseDurationSeconds: 3 } })).status).toBe(200);
  // Every helper call mints a new token, so each refresh puts one more value to look for in play.
  updateDoubleState(datum.env.DATUMCTL_DOUBLE_STATE as string, (s) => {
    const session = s.sessions[datum.env.DATUM_SESSION as string];
    if (!session) throw new Error("the double has no session for DATUM_SESSION");
    session.token = { ...session.token, mode: "always-new" };
  });
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("secret-free origin") });
  h = serviceHarness({
    base: {},
    sessions: [{ name: datum.env.DATUM_SESSION as string, userKey: "dev@local.datum@auth.datum.net", email: "dev@local.datum", server: datum.apiUrl }],
    org: "local-org",
    project: PROJECT,
  });
  serviceEnv = Object.fromEntries(
    Object.entries(h.env({ ...datum.env, DATUM_CONNECT_DIR: h.stateDir, NO_COLOR: "1" })).filter((e): e is [string, string] => e[1] !== undefined),
  );
});

/** The daemon and service agents, as their run.json names them, while still those processes. */
function liveDaemons(): number[] {
  const out: number[] = [];
  for (const [root, name] of [[datum?.env.DATUM_CONNECT_DIR, "sec-daemon"], [h?.stateDir, "sec-svc"]] as const) {
    try {
      const run = parseRunState(readFileSync(join(root as string, "tunnels", name, "run.json"), "utf8"), "run.json");
      if (processStartTime(run.pid) !== undefined && processStartTime(run.pid) === (run.startTime ?? undefined)) out.push(run.pid);
    } catch {
      // Never started, or already removed.
    }
  }
  return out;
}

afterAll(async () => {
  await killAllListens();
  for (const pid of liveDaemons()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already stopped.
    }
  }
  h?.cleanup();
  origin?.stop(true);
  await datum?.stop();
});

describe("the token stays out of every place it could leak to", () => {
  // Purpose: three agents serve, get 401s and refresh; none of the issued tokens appears in any process's argv or environment, any helper call, log, state or unit file, or CLI output.
  test("foreground, detached and service agents through a 401 refresh: no issued token anywhere", async () => {
    const endpoint = `127.0.0.1:${origin.port}`;
    fg = await startListen(["--endpoint", endpoint], { env: datum.env });
    const up = await cli(["tunnel", "listen", "--detach", "--name", "sec-daemon", "--endpoint", endpoint]);
    expect({ code: up.code, stderr: up.code === 0 ? "" : up.stderr }).toEqual({ code: 0, stderr: "" });
    const inst = await svc(["tunnel", "install", "--name", "sec-svc", "--endpoint", endpoint, "--session", datum.env.DATUM_SESSION as string]);
    expect({ code: inst.code, stderr: inst.code === 0 ? "" : inst.stderr }).toEqual({ code: 0, stderr: "" });
    const urls = [fg.url, up.stdout.trim(), inst.stdout.trim()];
    for (const url of urls) expect(await get(url)).toBe(200);
    for (const [label, pid] of agents()) sampleProc(label, pid);

    // Revoke every token issued so far: each agent's next call is a 401 and a helper refresh.
    const statePath = datum.env.DATUMCTL_DOUBLE_STATE as string;
    const logPath = datum.env.DATUMCTL_DOUBLE_LOG as string;
    const before = readRuntime(statePath).issued;
    const callsBefore = readCallLog(logPath).calls.length;
    for (const token of before) expect((await datum.admin("deny-token", { body: { token } })).status).toBe(204);
    const deadline = performance.now() + 20_000;
    // Sample /proc while the refreshes happen, so short-lived helper children are caught too.
    while (performance.now() < deadline && readCallLog(logPath).calls.length < callsBefore + 3) {
      for (const [label, pid] of agents()) sampleProc(label, pid);
      await Bun.sleep(20);
    }
    expect(readCallLog(logPath).calls.length).toBeGreaterThanOrEqual(callsBefore + 3);
    await Bun.sleep(2_500); // renewals with the new tokens
    for (const url of urls) expect(await get(url)).toBe(200);
    for (const [label, pid] of agents()) sampleProc(label, pid);
    expect(fg.exitCode()).toBeNull();

    // Stop them (their logs get the shutdown lines), then collect every file they wrote.
    expect((await fg.stop("SIGINT")).code).toBe(0);
    keep("foreground listen stdout", fg.stdout());
    keep("foreground listen stderr", fg.stderr());
    expect((await cli(["tunnel", "stop", "--name", "sec-daemon"])).code).toBe(0);
    expect((await svc(["tunnel", "stop", "--name", "sec-svc"])).code).toBe(0);
    const files =
      keepTree("state", datum.env.DATUM_CONNECT_DIR as string) + keepTree("service state", h.stateDir) + keepTree("units", h.unitDir) + keepTree("service manager", h.fakeDir);

    // The actual values, as the double issued them, and each one's unique parts (payload and
    // signature segments: a truncated or re-encoded leak still carries one of them).
    const issued = readRuntime(statePath).issued;
    expect(issued.length).toBeGreaterThanOrEqual(before.length + 3);
    const needles = issued.flatMap((token) => [token, ...token.split(".").slice(1).filter((part) => part.length >= 16)]);
    const leaks: string[] = [];
    for (const [where, bytes] of haystacks) {
      for (const needle of needles) if (bytes.includes(needle)) leaks.push(`${where} contains ${needle === issued.find((t) => t === needle) ? "a token" : "part of a token"}`);
    }
    // The helper's own view of each call: argv and the complete environment it was given.
    const calls = readCallLog(logPath);
    for (const call of calls.calls) {
      if (call.argvHasIssuedToken) leaks.push(`helper call ${call.pid} argv: ${JSON.stringify(call.argv)}`);
      if (call.envWithIssuedToken.length > 0) leaks.push(`helper call ${call.pid} env: ${call.envWithIssuedToken.join(", ")}`);
    }
    console.log(
      `secrets: ${issued.length} tokens issued, ${calls.calls.length} helper calls, ${seenPids.size} processes' cmdline/environ, ${files} files, ${haystacks.length} places searched`,
    );
    expect(leaks).toEqual([]);
    // The search finds a token where one is (the double's own keyring file holds them).
    const keyring = readFileSync(`${statePath}.runtime.json`);
    expect(needles.filter((n) => keyring.includes(n)).length).toBeGreaterThanOrEqual(issued.length);
    expect(calls.unfinished).toEqual([]);
    // What was searched really holds what it should (the search is not vacuous).
    const unit = haystacks.find(([where]) => where.includes("datumctl-connect-user-sec-svc.service"));
    expect(unit?.[1].toString()).toContain("ExecStart=");
    expect(haystacks.some(([where, bytes]) => where.endsWith("sec-daemon/logs/tunnel.log") && bytes.toString().includes("Tunnel ready after"))).toBe(true);
    expect(haystacks.some(([where, bytes]) => where.includes("environ") && bytes.toString().includes("DATUM_CREDENTIALS_HELPER="))).toBe(true);
    expect(seenPids.size).toBeGreaterThan(3); // helper children were caught in flight, not only the agents
    expect((await svc(["tunnel", "uninstall", "--name", "sec-svc"])).code).toBe(0);
  }, 90_000);
});
