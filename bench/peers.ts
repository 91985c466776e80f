/**
 * Benchmarks against real peers (issue 7): our tunnel next to direct access and an OpenSSH reverse
 * tunnel, with the raw iroh-js stream ceiling measured in the same run.
 *
 *   npm run bench                 quick mode (< 3 min on 2 cores)
 *   npm run bench:full            full mode
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/peers.ts [--full] [--requests N] [--no-ssh] [--no-build] [--no-breakdown] [--out FILE]
 *
 * Paths, each to the same HTTP/1.1 origin (bench/lib/origin.ts), from the same client (this process):
 *   direct   client → origin
 *   tunnel   client → edge → gateway (dev cloud) → iroh → ListenNode worker (tunnel listen) → origin
 *   ssh      client → sshd (its -R port) → ssh client → origin
 * Everything is on loopback inside scripts/netns.sh's namespace, every loop is bounded, and every
 * process started here is ended by PID. Writes bench/results/<date>-<machine>-peers-<mode>.json and
 * two PNG charts next to it, and prints the summary and the targets table.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { chartsFromResult, gnuplotAvailable } from "./lib/chart.ts";
import { IDLE_TRIM_MS } from "../src/supervise/heap-trim.ts";
import { buildHost, coldStart, distSizes, type Build, type ColdStart } from "./lib/compiled.ts";
import { detach, isolatedEnv, REPO_ROOT, SOURCE, startDevCloud, startListen, stopListen, stopNamed, type DevCloud, type Exe, type Listen, type Milestone } from "./lib/datum.ts";
import type { Target } from "./lib/http-client.ts";
import { concurrency, finishHeld, latencySeries, openHeld, transfer, type ConcurrencyResult, type HeldConnections, type HeldResult, type LatencyResult, type TransferResult } from "./lib/measure.ts";
import { BenchError, collect, endAll, endPid, memSplit, rssMiB, rssSampler, runTimed, threadCpu, track } from "./lib/procs.ts";
import { cpuProfile, type Profile } from "./lib/profile.ts";
import { sshAvailable, startSshTunnel, type SshTunnel } from "./lib/ssh.ts";
import { load, machine, machineTag, median, noiseGauge, nofileLimits, round, warmSpeedProbe, type Noise } from "./lib/stats.ts";

// ---------------------------------------------------------------------------------------------
// Options.

const USAGE = "bench/peers.ts [--full] [--requests N] [--no-ssh] [--no-build] [--no-breakdown] [--out FILE]";
let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      full: { type: "boolean" },
      requests: { type: "string" },
      "no-ssh": { type: "boolean" },
      "no-build": { type: "boolean" },
      "no-breakdown": { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\nhint: ${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`usage: bun ${USAGE}\n(run it inside scripts/netns.sh, as \`npm run bench\` does)\n`);
  process.exit(0);
}

// 1,000 held connections need ~2,000 descriptors in some of our processes (the edge holds both
// sides): raise the soft `ulimit -n` to 8192 (within the hard limit) by re-executing under `sh`.
{
  const { soft, hard } = nofileLimits();
  const want = hard === null ? 8192 : Math.min(8192, hard);
  if (soft !== null && soft < want && process.env.BENCH_NOFILE_RAISED !== "1") {
    const child = Bun.spawn(["sh", "-c", `ulimit -n ${want} && exec "$@"`, "sh", process.execPath, import.meta.path, ...process.argv.slice(2)], {
      env: { ...process.env, BENCH_NOFILE_RAISED: "1" },
      stdio: ["inherit", "inherit", "inherit"],
    });
    process.on("SIGINT", () => child.kill("SIGINT"));
    process.on("SIGTERM", () => child.kill("SIGTERM"));
    process.exit(await child.exited);
  }
}

const FULL = values.full === true;
const MODE = FULL ? "full" : "quick";
const P = {
  /** Sequential GETs per latency series (the issue asks for 2,000; quick mode uses 1,000). */
  requests: Number(values.requests ?? (FULL ? 2000 : 1000)),
  warmup: 50,
  concurrencyConns: 100,
  concurrencyPerConn: 20,
  heldConns: 1000,
  heldS: 10,
  mib: 64,
  /** Measured transfers per path and direction; through the tunnel each is paired with a ceiling run just before it. */
  transferRuns: FULL ? 5 : 3,
  /** Runs of the standalone ceiling measurement; its timing split always runs (the paired runs give the headline figure). */
  ceilingRuns: FULL ? 3 : 0,
  readyRuns: FULL ? 10 : 3,
  compiledReadyRuns: FULL ? 5 : 2,
  coldRuns: FULL ? 15 : 5,
  namedSteps: [1, 2, 4],
  psTunnels: 20,
  /** Retries of a measurement during which other processes took more than NOISE_LIMIT of the machine. */
  retries: FULL ? 2 : 1,
  archives: FULL,
  breakdown: values["no-breakdown"] !== true,
  profiles: FULL,
};
if (!Number.isInteger(P.requests) || P.requests < 1) {
  process.stderr.write(`error: invalid --requests "${String(values.requests)}"\nhint: a whole number ≥ 1\n`);
  process.exit(2);
}
/** A measurement is redone when other processes used more than this share of all cores meanwhile… */
const NOISE_LIMIT = 0.15;
/** … or when the CPU speed probe ran this much slower than its best in the run (a busy host). */
const SLOWDOWN_LIMIT = 1.3;
/** Seconds the repeats of noisy measurements may add in all (keeps quick mode under 3 min on a busy machine). */
const RETRY_BUDGET_S = FULL ? 600 : 20;
/** How long a process is left alone before its idle RSS is read: past its post-start heap trims (1 s). */
const SETTLE_MS = FULL ? 3_000 : 2_000;
let retrySpentS = 0;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const t00 = performance.now();
const elapsedS = (): number => (performance.now() - t00) / 1000;
const phases: Record<string, number> = {};
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    phases[name] = round((performance.now() - t0) / 1000, 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements with a noise check.

interface Measured<T> {
  result: T;
  noise: Noise;
  /** The noise of every attempt, in order (the kept one is the quietest: foreign share + slowdown). */
  attempts: Noise[];
}

/**
 * Run `fn`; if others took more than NOISE_LIMIT of the machine meanwhile, or the CPU was more than
 * SLOWDOWN_LIMIT slower than at its best, run it again (at most P.retries times, within
 * RETRY_BUDGET_S in all) and keep the quietest attempt.
 */
async function measured<T>(label: string, fn: () => Promise<T>): Promise<Measured<T>> {
  const attempts: { result: T; noise: Noise }[] = [];
  for (let i = 0; i <= P.retries; i++) {
    const gauge = noiseGauge();
    const result = await fn();
    const noise = gauge.stop();
    attempts.push({ result, noise });
    // Under ~2 s the 10 ms CPU-tick accounting is too coarse to call a measurement noisy.
    const noisy = (noise.foreignShare > NOISE_LIMIT && noise.wallS >= 2) || noise.cpuSlowdown > SLOWDOWN_LIMIT;
    if (!noisy) break;
    if (i < P.retries && retrySpentS + noise.wallS <= RETRY_BUDGET_S) {
      retrySpentS += noise.wallS;
      log(`    ${label}: other processes took ${(noise.foreignShare * 100).toFixed(0)} % of the machine, CPU probe ${noise.cpuSlowdown}× slower; measuring again`);
      await Bun.sleep(1_000);
    } else break;
  }
  const score = (n: Noise): number => n.foreignShare + Math.max(0, n.cpuSlowdown - 1);
  const best = attempts.reduce((a, b) => (score(b.noise) < score(a.noise) ? b : a));
  return { ...best, attempts: attempts.map((a) => a.noise) };
}

// ---------------------------------------------------------------------------------------------
// What to clean up.

const root = mkdtempSync(join(tmpdir(), "bench-peers-"));
mkdirSync(join(root, "tmp"), { recursive: true });
const baseEnv = isolatedEnv(root, { TMPDIR: join(root, "tmp") });
let devCloud: DevCloud | undefined;
let ssh: SshTunnel | undefined;
let origin: { pid: number; port: number; extra: number[] } | undefined;
let listen: Listen | undefined;
const named = new Map<string, { pid: number; exe: Exe }>();

let interrupt: (err: Error) => void = () => undefined;
const interrupted = new Promise<never>((_, reject) => {
  interrupt = reject;
});
interrupted.catch(() => undefined);
process.once("SIGINT", () => interrupt(new BenchError("interrupted (SIGINT)")));
process.once("SIGTERM", () => interrupt(new BenchError("interrupted (SIGTERM)")));

async function startOrigin(extra: number): Promise<{ pid: number; port: number; extra: number[] }> {
  const proc = track(Bun.spawn([process.execPath, join(import.meta.dir, "lib", "origin.ts"), "--extra", String(extra)], { stdin: "ignore", stdout: "pipe", stderr: "inherit" }));
  const out = { text: "" };
  void collect(proc.stdout, out);
  const deadline = performance.now() + 10_000;
  while (!out.text.includes("\n")) {
    if (proc.exitCode !== null || performance.now() > deadline) throw new BenchError("the origin did not start");
    await Bun.sleep(10);
  }
  const info = JSON.parse(out.text.split("\n")[0] as string) as { port: number; extra: number[] };
  return { pid: proc.pid, ...info };
}

function sumRss(pids: number[]): number {
  return round(pids.reduce((a, pid) => a + (rssMiB(pid) ?? 0), 0), 1);
}

// ---------------------------------------------------------------------------------------------

interface PathResult {
  target: Target;
  latency: { fresh?: LatencyResult; keepalive?: LatencyResult };
  concurrency?: ConcurrencyResult;
  held?: HeldResult;
  download?: TransferResult;
  upload?: TransferResult;
  noise: Record<string, { chosen: Noise; attempts: Noise[] }>;
}

type ReadyRun = { readyMs: number; stopMs: number; created: boolean; milestones: Partial<Record<Milestone, number>> };

async function bench(): Promise<Record<string, unknown>> {
  const started = new Date();
  const loadBefore = load();
  const m = machine();
  const probeMs = warmSpeedProbe();
  log(`bench/peers.ts (${MODE}): ${m.cpuModel} × ${m.nproc}, bun ${m.bun}, ${m.openssh ?? "no OpenSSH"}; load ${loadBefore.join(" ")}`);
  if (process.env.DATUM_CONNECT_IN_NETNS !== "1") log("note: not inside scripts/netns.sh (no loopback-only namespace)");
  if ((m.nofile.soft ?? 1e9) < 4 * P.heldConns) log(`note: ulimit -n is ${m.nofile.soft}; 1,000 held connections need ~${4 * P.heldConns} descriptors`);

  // The compiled executable (cold starts, compiled listen) via scripts/build.ts into a temp dir.
  let build: Build | null = null;
  let buildError: string | null = null;
  if (values["no-build"] !== true) {
    await phase("build", async () => {
      log(`  build: scripts/build.ts --targets host${P.archives ? "" : " --no-archives"}`);
      try {
        build = await buildHost(join(root, "dist"), P.archives, baseEnv);
      } catch (err) {
        buildError = err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
        log(`  note: no compiled executable (${buildError}); compiled figures are skipped`);
      }
    });
  }
  const built = build as Build | null;
  const COMPILED: Exe | null = built ? [built.executable] : null;

  const setup = await phase("setup", async () => {
    origin = await startOrigin(P.psTunnels + 4);
    devCloud = await startDevCloud(baseEnv);
    const sshMissing = values["no-ssh"] === true ? "--no-ssh" : sshAvailable();
    if (sshMissing === null) {
      ssh = await startSshTunnel(origin.port);
      log(`  ssh -R: sshd on 127.0.0.1:${ssh.sshdPort} (PID ${ssh.sshdPid}), forwarded port ${ssh.port}, ssh PID ${ssh.sshPid}, user ${ssh.user}`);
    } else log(`  note: no OpenSSH path (${sshMissing})`);
    return { sshMissing };
  });
  const dc = devCloud as DevCloud;
  const og = origin as { pid: number; port: number; extra: number[] };
  const env = { ...baseEnv, ...dc.env, TMPDIR: join(root, "tmp") };
  const endpoint = `127.0.0.1:${og.port}`;

  // ------------------------------------------------------------------------------------------
  // Lifecycle (a): foreground `tunnel listen` → verified ready line, then SIGINT → exit 0.
  const readyRuns: Record<"source" | "compiled", ReadyRun[]> = { source: [], compiled: [] };
  const lifecycleNoise = await phase("lifecycle", async () => {
    log(`  lifecycle: tunnel listen → ready, ${P.readyRuns} runs from source${COMPILED ? `, ${P.compiledReadyRuns} compiled` : ""}`);
    const gauge = noiseGauge();
    for (const [kind, exe, runs] of [["source", SOURCE, P.readyRuns], ["compiled", COMPILED, P.compiledReadyRuns]] as const) {
      if (!exe) continue;
      for (let i = 0; i < runs; i++) {
        listen = await startListen(exe, env, endpoint);
        const l = listen;
        const stopMs = await stopListen(l);
        listen = undefined;
        readyRuns[kind].push({ readyMs: round(l.readyMs, 1), stopMs: round(stopMs, 1), created: l.created, milestones: l.milestones });
        log(`    ${kind} run ${i + 1}: ready ${l.readyMs.toFixed(0)} ms${l.created ? " (tunnel created)" : ""}, stopped in ${stopMs.toFixed(0)} ms`);
      }
    }
    return gauge.stop();
  });

  // ------------------------------------------------------------------------------------------
  // One long-running listen (from source) carries the traffic.
  listen = await startListen(SOURCE, env, endpoint);
  const listenPid = listen.pid;
  const tunnelHost = new URL(listen.url).host;
  await Bun.sleep(2_000);
  const idle = {
    listen: memSplit(listenPid),
    devCloud: memSplit(dc.pid),
    ssh: ssh ? memSplit(ssh.sshPid) : null,
    sshdTotalMiB: ssh ? sumRss(ssh.serverPids()) : null,
  };
  const listenThreads0 = threadCpu(listenPid);

  const paths: Record<string, PathResult> = {
    direct: { target: { port: og.port, hostHeader: endpoint }, latency: {}, noise: {} },
    tunnel: { target: { port: dc.edgePort, hostHeader: tunnelHost }, latency: {}, noise: {} },
  };
  if (ssh) paths.ssh = { target: { port: ssh.port, hostHeader: `127.0.0.1:${ssh.port}` }, latency: {}, noise: {} };
  const names = Object.keys(paths);
  const watchedRss = [listenPid, dc.pid, ...(ssh ? [ssh.sshPid, ...ssh.serverPids()] : [])];

  // Latency, sequential: fresh connections, then one kept-alive connection.
  const requestsSampler = rssSampler(watchedRss);
  let edgeOnly: Measured<LatencyResult> | undefined;
  await phase("latency", async () => {
    for (const mode of ["fresh", "keepalive"] as const) {
      for (const name of names) {
        const p = paths[name] as PathResult;
        log(`  latency ${mode}: ${name}, ${P.requests} sequential GETs`);
        const r = await measured(`latency ${mode} ${name}`, () => latencySeries(p.target, mode, P.requests, P.warmup));
        p.latency[mode] = r.result;
        p.noise[`latency-${mode}`] = { chosen: r.noise, attempts: r.attempts };
        log(`    p50 ${r.result.ms.p50} / p90 ${r.result.ms.p90} / p99 ${r.result.ms.p99} ms`);
      }
    }
    // The edge alone: an unknown Host is answered 404 by the edge itself (accept, head, route lookup).
    const n = Math.min(P.requests, 500);
    log(`  latency fresh: edge only (unknown Host → 404), ${n} sequential GETs`);
    edgeOnly = await measured("edge only", () =>
      latencySeries({ port: dc.edgePort, hostHeader: "no-such-tunnel.datumproxy.localhost" }, "fresh", n, P.warmup, { status: 404, text: "Not Found" }),
    );
    log(`    p50 ${edgeOnly.result.ms.p50} ms`);
  });

  // Concurrency: N connections × M requests each.
  await phase("concurrency", async () => {
    for (const name of names) {
      const p = paths[name] as PathResult;
      log(`  concurrency: ${name}, ${P.concurrencyConns} connections × ${P.concurrencyPerConn} requests`);
      const r = await measured(`concurrency ${name}`, () => concurrency(p.target, P.concurrencyConns, P.concurrencyPerConn));
      p.concurrency = r.result;
      p.noise.concurrency = { chosen: r.noise, attempts: r.attempts };
      log(`    ${r.result.reqPerS} req/s, p99 ${r.result.ms.p99} ms, ${r.result.errors} errors`);
    }
  });
  const rssUnderRequests = requestsSampler.stop();

  // Held connections (not retried: a failure count is a failure count). The paths' hold periods
  // overlap: all three sets are opened one after the other, and each path's burst comes once its
  // own connections have been held P.heldS seconds (while the others' stay held).
  const heldSampler = rssSampler(watchedRss);
  const heldOpenRss: Record<string, unknown> = {};
  await phase("held", async () => {
    const open: Record<string, HeldConnections> = {};
    for (const name of names) {
      log(`  held: ${name}, opening ${P.heldConns} connections`);
      open[name] = await openHeld((paths[name] as PathResult).target, P.heldConns);
    }
    for (const name of names) {
      const p = paths[name] as PathResult;
      const gauge = noiseGauge();
      // RSS with every connection open, kept alive and idle after its request.
      const afterBurst = (): void => {
        if (name === "tunnel") heldOpenRss.tunnel = { agent: memSplit(listenPid), server: memSplit(dc.pid) };
        if (name === "ssh" && ssh) heldOpenRss.ssh = { agent: memSplit(ssh.sshPid), serverTotalMiB: sumRss(ssh.serverPids()) };
      };
      p.held = await finishHeld(open[name] as HeldConnections, P.heldS, afterBurst);
      p.noise.held = { chosen: gauge.stop(), attempts: [] };
      log(`  held: ${name}, after ${p.held.holdS} s: ${p.held.failures} failures (connect ${p.held.connectFailures}, closed ${p.held.closedWhileHeld}, request ${p.held.requestFailures}); burst ${p.held.burstWallMs} ms`);
    }
  });
  const rssUnderHeld = heldSampler.stop();

  // The iroh-js ceiling, measured just before the transfers.
  type CeilingDir = { best: number | null; median: number | null; runs: number[]; cpuSPerMiB: number | null; rawMibps: number | null; split: Record<string, number> };
  const ceilingOnce = async (direction: "down" | "up"): Promise<{ mibps: number; cpuSPerMiB: number }> => {
    const run = await runTimed([process.execPath, join(import.meta.dir, "iroh-stream.ts"), String(P.mib), "--runs", "1", "--direction", direction, "--json", "--only-stream"], {
      env: baseEnv,
      cwd: REPO_ROOT,
      timeoutMs: 120_000,
    });
    if (run.code !== 0) throw new BenchError(`bench/iroh-stream.ts exited ${run.code}: ${run.stderr}`);
    const d = (JSON.parse(run.stdout.trim().split("\n").pop() as string) as Record<string, { best: number; cpuSPerMiB: number }>)[direction];
    return { mibps: d?.best ?? Number.NaN, cpuSPerMiB: d?.cpuSPerMiB ?? Number.NaN };
  };
  const paired: Record<"download" | "upload", { ceiling: number[]; ceilingCpuSPerMiB: number[]; tunnel: number[]; ratios: number[] }> = {
    download: { ceiling: [], ceilingCpuSPerMiB: [], tunnel: [], ratios: [] },
    upload: { ceiling: [], ceilingCpuSPerMiB: [], tunnel: [], ratios: [] },
  };
  const ceiling = await phase("ceiling", async () => {
    log(`  ceiling: bench/iroh-stream.ts ${P.mib} --runs ${P.ceilingRuns} --json`);
    const r = await measured("ceiling", async () => {
      const run = await runTimed([process.execPath, join(import.meta.dir, "iroh-stream.ts"), String(P.mib), "--runs", String(P.ceilingRuns), "--json", ...(FULL ? [] : ["--no-raw"])], {
        env: baseEnv,
        cwd: REPO_ROOT,
        timeoutMs: 300_000,
      });
      if (run.code !== 0) throw new BenchError(`bench/iroh-stream.ts exited ${run.code}: ${run.stderr}`);
      return JSON.parse(run.stdout.trim().split("\n").pop() as string) as { down: CeilingDir; up: CeilingDir; threadCpuS: Record<string, number> };
    });
    log(`    down ${r.result.down.runs.join(", ") || "-"} MiB/s (split run ${r.result.down.split.mibps}); up ${r.result.up.runs.join(", ") || "-"} MiB/s (split run ${r.result.up.split.mibps})`);
    return { ...r.result, noise: r.noise, attempts: r.attempts };
  });

  // Throughput, with CPU seconds of the agent (and the server side, and the origin).
  const transferSampler = rssSampler(watchedRss);
  await phase("transfer", async () => {
    for (const name of names) {
      const p = paths[name] as PathResult;
      const watch: Record<string, number[]> = { client: [process.pid], origin: [og.pid] };
      let agentPid: number | null = null;
      if (name === "tunnel") {
        watch.agent = [listenPid];
        watch.server = [dc.pid];
        agentPid = listenPid;
      } else if (name === "ssh" && ssh) {
        watch.agent = [ssh.sshPid];
        watch.server = ssh.serverPids();
        agentPid = ssh.sshPid;
      }
      for (const direction of ["download", "upload"] as const) {
        log(`  ${direction}: ${name}, ${P.mib} MiB × ${P.transferRuns} after a warm-up${name === "tunnel" ? ", each right after a ceiling run" : ""}`);
        const m = await measured(`${direction} ${name}`, async () => {
          const ceilings: { mibps: number; cpuSPerMiB: number }[] = [];
          const before = name === "tunnel" ? async () => void ceilings.push(await ceilingOnce(direction === "download" ? "down" : "up")) : undefined;
          return { transfer: await transfer(p.target, direction, P.mib, P.transferRuns, watch, agentPid, before), ceilings };
        });
        const r = { ...m, result: m.result.transfer };
        if (name === "tunnel") {
          const tunnelRuns = r.result.runs.map((x) => x.mibps);
          const c = m.result.ceilings.map((x) => x.mibps);
          paired[direction] = {
            ceiling: c,
            ceilingCpuSPerMiB: m.result.ceilings.map((x) => x.cpuSPerMiB),
            tunnel: tunnelRuns,
            ratios: tunnelRuns.map((t, i) => round(t / (c[i] ?? Number.NaN), 3)),
          };
          log(`    paired ceiling runs: ${c.join(", ")} MiB/s`);
        }
        p[direction] = r.result;
        p.noise[direction] = { chosen: r.noise, attempts: r.attempts };
        log(`    ${r.result.runs.map((x) => x.mibps).join(", ")} MiB/s; agent CPU ${r.result.cpuSPerMiB.agent ?? "-"} s/MiB`);
      }
    }
  });
  const rssUnderTransfer = transferSampler.stop();
  await Bun.sleep(2_000);
  const idleAfter = memSplit(listenPid);
  // Full mode: again once the data plane's idle trim (30 s without an open stream) has run.
  let idleAfterTrim: ReturnType<typeof memSplit> = null;
  if (FULL) {
    await Bun.sleep(IDLE_TRIM_MS + 3_000 - 2_000);
    idleAfterTrim = memSplit(listenPid);
  }
  const listenThreadsTotal = threadCpu(listenPid);
  const sigintMs = await stopListen(listen);
  listen = undefined;

  // ------------------------------------------------------------------------------------------
  // Lifecycle (b): named background tunnels: detach, restart with the same name, stop.
  const background: Record<string, unknown> = {};
  await phase("background", async () => {
    for (const [kind, exe] of [["source", SOURCE], ["compiled", COMPILED]] as const) {
      if (!exe) continue;
      const name = `bench-${kind}`;
      const ep = `127.0.0.1:${og.extra[kind === "source" ? 0 : 1]}`;
      log(`  background (${kind}): listen --detach --name ${name}, restart, stop`);
      const first = await detach(exe, env, name, ep);
      named.set(name, { pid: first.pid, exe });
      await Bun.sleep(300);
      const stop1 = await stopNamed(exe, env, name, first.pid);
      named.delete(name);
      const again = await detach(exe, env, name, undefined);
      named.set(name, { pid: again.pid, exe });
      await Bun.sleep(SETTLE_MS);
      const mem = memSplit(again.pid);
      const stop2 = await stopNamed(exe, env, name, again.pid);
      named.delete(name);
      background[kind] = {
        detachMs: round(first.ms, 1),
        restart: { stopMs: round(stop1, 1), detachMs: round(again.ms, 1), totalMs: round(stop1 + again.ms, 1) },
        stopMs: round(stop2, 1),
        idle: mem,
      };
      log(`    detach ${first.ms.toFixed(0)} ms; restart: stop ${stop1.toFixed(0)} + detach ${again.ms.toFixed(0)} ms; stop ${stop2.toFixed(0)} ms; idle RSS ${mem?.rssMiB} MiB`);
    }
  });

  // ------------------------------------------------------------------------------------------
  // Footprint: 1, 2, 4 named tunnels (each its own process), then 20 for `tunnel ps`.
  const fpExe = COMPILED ?? SOURCE;
  const fpKind = COMPILED ? "compiled" : "source";
  const steps: { tunnels: number; rssMiB: number[]; totalMiB: number }[] = [];
  let rss20: number[] = [];
  await phase("footprint", async () => {
    log(`  footprint: ${P.namedSteps.join(", ")} named tunnels (${fpKind}), then ${P.psTunnels} for tunnel ps`);
    let n = 0;
    const startNamed = async (i: number): Promise<void> => {
      const name = `fp-${String(i).padStart(2, "0")}`;
      const d = await detach(fpExe, env, name, `127.0.0.1:${og.extra[2 + i] as number}`);
      named.set(name, { pid: d.pid, exe: fpExe });
    };
    for (const target of P.namedSteps) {
      while (n < target) await startNamed(n++);
      await Bun.sleep(SETTLE_MS);
      const rss = [...named.values()].map((t) => rssMiB(t.pid) ?? 0);
      steps.push({ tunnels: named.size, rssMiB: rss, totalMiB: round(rss.reduce((a, b) => a + b, 0), 1) });
      log(`    ${named.size} tunnels: ${rss.join(" + ")} = ${steps[steps.length - 1]?.totalMiB} MiB`);
    }
    while (n < P.psTunnels) {
      const batch: Promise<void>[] = [];
      for (let k = 0; k < 4 && n < P.psTunnels; k++) batch.push(startNamed(n++));
      await Promise.all(batch);
    }
    await Bun.sleep(1_000);
    rss20 = [...named.values()].map((t) => rssMiB(t.pid) ?? 0);
  });
  const first = steps[0] as { totalMiB: number; tunnels: number };
  const last = steps[steps.length - 1] as { totalMiB: number; tunnels: number };
  const perAdditional = round((last.totalMiB - first.totalMiB) / (last.tunnels - first.tunnels), 1);

  // Cold starts (spawn → exit), `tunnel ps` with the 20 named tunnels present.
  const cold: Record<string, ColdStart> = {};
  const coldNoise = await phase("coldStart", async () => {
    log(`  cold starts: version, tunnel ps (${named.size} tunnels), --plugin-manifest; ${P.coldRuns} runs each`);
    const r = await measured("cold starts", async () => {
      const out: Record<string, ColdStart> = {};
      out.floorTrue = await coldStart(["/bin/true"], P.coldRuns, env, "/bin/true");
      out.floorBun = await coldStart([process.execPath, "-e", "0"], P.coldRuns, env, "bun -e 0");
      for (const [kind, exe] of [["source", SOURCE], ["compiled", COMPILED]] as const) {
        if (!exe) continue;
        out[`${kind}Version`] = await coldStart([...exe, "version"], P.coldRuns, env, `${kind}: version`);
        out[`${kind}Ps`] = await coldStart([...exe, "tunnel", "ps"], P.coldRuns, env, `${kind}: tunnel ps (${named.size} tunnels)`);
        out[`${kind}Manifest`] = await coldStart([...exe, "--plugin-manifest"], P.coldRuns, env, `${kind}: --plugin-manifest`);
      }
      return out;
    });
    Object.assign(cold, r.result);
    for (const [k, v] of Object.entries(cold)) log(`    ${k}: median ${v.ms.p50} ms (min ${v.ms.min})`);
    return { chosen: r.noise, attempts: r.attempts };
  });
  const stopTimes: number[] = [];
  await phase("stopNamed", async () => {
    log(`  stopping ${named.size} named tunnels`);
    const entries = [...named.entries()];
    for (let i = 0; i < entries.length; i += 10) {
      await Promise.all(
        entries.slice(i, i + 10).map(async ([name, t]) => {
          stopTimes.push(await stopNamed(t.exe, env, name, t.pid));
          named.delete(name);
        }),
      );
    }
  });

  // ------------------------------------------------------------------------------------------
  // What the idle RSS is made of, and the per-component breakdown of the tunnel's costs.
  const rssFloors: Record<string, unknown>[] = [];
  await phase("rssFloors", async () => {
    log("  rss floors: bench/rss-floor.ts bare, iroh, worker, endpoint, cli");
    // In parallel: each process reports its own RSS.
    const runs = await Promise.all(
      ["bare", "iroh", "worker", "endpoint", "cli"].map((mode) => runTimed([process.execPath, join(import.meta.dir, "rss-floor.ts"), mode], { env: baseEnv, cwd: REPO_ROOT, timeoutMs: 30_000 })),
    );
    for (const r of runs) {
      if (r.code !== 0) throw new BenchError(`bench/rss-floor.ts exited ${r.code}: ${r.stderr}`);
      rssFloors.push(JSON.parse(r.stdout.trim()) as Record<string, unknown>);
    }
  });
  let breakdown: Record<string, unknown> | null = null;
  if (P.breakdown) {
    breakdown = await phase("breakdown", async () => {
      log("  breakdown: bench/breakdown.ts (components, in one process)");
      const r = await measured("breakdown", async () => {
        const run = await runTimed([process.execPath, join(import.meta.dir, "breakdown.ts"), "--json", ...(FULL ? ["--full"] : [])], { env: baseEnv, cwd: REPO_ROOT, timeoutMs: 300_000 });
        if (run.code !== 0) throw new BenchError(`bench/breakdown.ts exited ${run.code}: ${run.stderr}`);
        return JSON.parse(run.stdout.trim().split("\n").pop() as string) as Record<string, unknown>;
      });
      return { ...r.result, noise: r.noise, attempts: r.attempts };
    });
  }
  // Stream window: a burst of 1,000 new streams after 100 closed ones (in-process data plane).
  const streamsBurst: Record<string, unknown>[] = [];
  await phase("streamsBurst", async () => {
    // Full mode also runs the data plane's former settings (stream window 1024, 256 KiB reads), then the window fix alone.
    const variants: string[][] = FULL ? [["--limit", "1024", "--read-size", "262144"], ["--read-size", "262144"], []] : [[]];
    for (const args of variants) {
      log(`  streams burst: bench/streams-burst.ts --prior 100 --burst 1000 ${args.join(" ")}`);
      const r = await runTimed([process.execPath, join(import.meta.dir, "streams-burst.ts"), "--json", ...args], { env: baseEnv, cwd: REPO_ROOT, timeoutMs: 120_000 });
      if (r.code !== 0) throw new BenchError(`bench/streams-burst.ts exited ${r.code}: ${r.stderr}`);
      const doc = JSON.parse(r.stdout.trim().split("\n").pop() as string) as Record<string, unknown>;
      streamsBurst.push({ args: args.join(" "), ...doc });
      const open = (doc.rssMiB as { withStreamsOpen: { rssMiB: number } | null }).withStreamsOpen;
      log(`    window ${doc.window}, reads ${doc.readSize}: ${doc.failures} failures, burst ${doc.burstWallMs} ms, RSS with 1,000 open ${open?.rssMiB} MiB`);
    }
  });
  const profiles: Record<string, Profile> = {};
  if (P.profiles) {
    await phase("profiles", async () => {
      log("  profiles: bun --cpu-prof-md on the ceiling (main thread sending, then receiving) and on `version`");
      profiles.ceilingMainSends = await cpuProfile([join(import.meta.dir, "iroh-stream.ts"), String(P.mib), "--runs", "1", "--direction", "up"], baseEnv);
      profiles.ceilingMainReceives = await cpuProfile([join(import.meta.dir, "iroh-stream.ts"), String(P.mib), "--runs", "1", "--direction", "down"], baseEnv);
      profiles.sourceVersion = await cpuProfile(["--cpu-prof-interval=100", join(REPO_ROOT, "src", "cli.ts"), "version"], env);
    });
  }

  // ------------------------------------------------------------------------------------------
  const median1 = (xs: number[]): number => round(median(xs), 1);
  const readySummary = (runs: ReadyRun[]) => {
    const later = runs.filter((r) => !r.created);
    const ms = (later.length > 0 ? later : runs).map((r) => r.readyMs);
    return {
      medianMs: median1(ms),
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      createdRunMs: runs.find((r) => r.created)?.readyMs ?? null,
      stopMedianMs: median1(runs.map((r) => r.stopMs)),
      phaseMedians: Object.fromEntries((["endpoint", "settingUp", "verifying"] as const).map((k) => [k, median1(runs.map((r) => r.milestones[k] ?? Number.NaN))])),
      runs,
    };
  };
  const peak = (samples: Record<number, number>, pid: number): number | null => samples[pid] ?? null;

  return {
    bench: "bench/peers.ts",
    mode: MODE,
    date: started.toISOString(),
    command: FULL ? "npm run bench:full" : "npm run bench",
    netns: process.env.DATUM_CONNECT_IN_NETNS === "1",
    machine: m,
    loadavg: { before: loadBefore, after: load() },
    durationS: round(elapsedS(), 1),
    phasesS: phases,
    params: { ...P, noiseLimit: NOISE_LIMIT, slowdownLimit: SLOWDOWN_LIMIT, retryBudgetS: RETRY_BUDGET_S },
    retrySpentS: round(retrySpentS, 1),
    /** The CPU speed probe's best time at the start (bench/lib/stats.ts speedProbe), ms. */
    speedProbeMs: probeMs,
    devCloudConfig: dc.config,
    ssh: ssh
      ? {
          version: ssh.version,
          user: ssh.user,
          note: process.getuid?.() === 0 ? "sshd runs in a nested user namespace mapping our uid to 65534 (nobody): unprivileged sshd, so no privsep setgroups(2), which the netns forbids" : null,
        }
      : { skipped: setup.sshMissing },
    paths: Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, { ...v, target: { port: v.target.port, host: v.target.hostHeader } }])),
    edgeOnly: edgeOnly ? { ...edgeOnly.result, noise: edgeOnly.noise } : null,
    ceiling: { ...ceiling, paired },
    lifecycle: {
      ready: { source: readySummary(readyRuns.source), ...(COMPILED ? { compiled: readySummary(readyRuns.compiled) } : {}) },
      background,
      sigintStopMs: round(sigintMs, 1),
      noise: lifecycleNoise,
    },
    coldStart: { ...cold, noise: coldNoise },
    footprint: {
      listen: {
        idle: idle.listen,
        peakUnderRequestsMiB: peak(rssUnderRequests, listenPid),
        peakUnderHeldMiB: peak(rssUnderHeld, listenPid),
        /** With the held connections all open and idle after their request (tunnel: also the dev cloud; ssh: ssh and sshd). */
        withHeldOpen: heldOpenRss,
        peakUnderTransferMiB: peak(rssUnderTransfer, listenPid),
        idleAfter: idleAfter,
        /** Full mode: 33 s after the last transfer, past the data plane's idle heap trim (30 s). */
        idleAfterTrim,
        threadCpuS: { idle2s: listenThreads0, total: listenThreadsTotal },
      },
      devCloud: { idle: idle.devCloud, peakMiB: Math.max(peak(rssUnderRequests, dc.pid) ?? 0, peak(rssUnderHeld, dc.pid) ?? 0, peak(rssUnderTransfer, dc.pid) ?? 0) },
      ssh: ssh
        ? {
            idle: idle.ssh,
            peakMiB: Math.max(peak(rssUnderRequests, ssh.sshPid) ?? 0, peak(rssUnderHeld, ssh.sshPid) ?? 0, peak(rssUnderTransfer, ssh.sshPid) ?? 0),
            sshdIdleTotalMiB: idle.sshdTotalMiB,
          }
        : null,
      named: { kind: fpKind, steps, perAdditionalMiB: perAdditional, rssAt20: rss20, totalAt20MiB: round(rss20.reduce((a, b) => a + b, 0), 1), stopMs: stopTimes.map((x) => round(x, 1)) },
      rssFloors,
      build: built ? { ...built, executable: `<tmp>/${relative(root, built.executable)}` } : { skipped: buildError ?? "--no-build" },
      dist: distSizes(),
    },
    breakdown,
    streamsBurst,
    profiles: P.profiles ? profiles : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Report.

interface TargetRow {
  target: string;
  measured: string;
  met: boolean;
  margin: string;
}

function targets(r: any): TargetRow[] {
  const rows: TargetRow[] = [];
  const t = r.paths.tunnel;
  const d = r.paths.direct;
  for (const dir of ["download", "upload"] as const) {
    // Each tunnel transfer runs right after a ceiling run: the median of those pairs' ratios
    // compares the two under the same machine conditions.
    const pr = r.ceiling.paired[dir];
    const ratio = median(pr.ratios);
    rows.push({
      target: `tunnel ${dir} ≥ 90 % of the iroh-js stream ceiling (same run)`,
      measured: `${(ratio * 100).toFixed(0)} % (median of ${pr.ratios.length} paired runs: tunnel ${median(pr.tunnel).toFixed(1)}, ceiling ${median(pr.ceiling).toFixed(1)} MiB/s)`,
      met: ratio >= 0.9,
      margin: `${ratio >= 0.9 ? "+" : ""}${((ratio - 0.9) * 100).toFixed(0)} points`,
    });
  }
  for (const mode of ["fresh", "keepalive"] as const) {
    const added = round(t.latency[mode].ms.p50 - d.latency[mode].ms.p50, 2);
    const goal = mode === "fresh" ? 1.5 : 0.5;
    rows.push({
      target: `added p50 latency over direct, ${mode === "fresh" ? "fresh connections" : "keep-alive"} ≤ ${goal} ms`,
      measured: `${t.latency[mode].ms.p50} − ${d.latency[mode].ms.p50} = ${added} ms`,
      met: added <= goal,
      margin: `${round(Math.abs(goal - added), 2)} ms ${added <= goal ? "to spare" : "over"}`,
    });
  }
  rows.push({
    target: `${t.held.connections} connections held ${t.held.holdS} s, then 1 request each: 0 failures`,
    measured: `${t.held.failures} failures`,
    met: t.held.failures === 0,
    margin: t.held.failures === 0 ? "—" : `${t.held.failures} failures`,
  });
  rows.push({
    target: `${t.concurrency.connections} × ${t.concurrency.requestsPerConnection} concurrent requests: 0 errors`,
    measured: `${t.concurrency.errors} errors (${t.concurrency.reqPerS} req/s)`,
    met: t.concurrency.errors === 0,
    margin: t.concurrency.errors === 0 ? "—" : `${t.concurrency.errors} errors`,
  });
  for (const kind of ["source", "compiled"] as const) {
    const ready = r.lifecycle.ready[kind];
    if (ready) {
      rows.push({
        target: `verified ready ≤ 1.5 s (${kind}, existing tunnel)`,
        measured: `${ready.medianMs} ms median (max ${ready.maxMs}; new tunnel ${ready.createdRunMs ?? "—"} ms)`,
        met: ready.medianMs <= 1500,
        margin: `${round(Math.abs(1500 - ready.medianMs), 0)} ms ${ready.medianMs <= 1500 ? "to spare" : "over"}`,
      });
    }
    const bg = r.lifecycle.background[kind];
    if (bg) {
      rows.push({
        target: `restart-to-ready ≤ 2 s (${kind}: stop, then detach again)`,
        measured: `${bg.restart.stopMs} + ${bg.restart.detachMs} = ${bg.restart.totalMs} ms`,
        met: bg.restart.totalMs <= 2000,
        margin: `${round(Math.abs(2000 - bg.restart.totalMs), 0)} ms ${bg.restart.totalMs <= 2000 ? "to spare" : "over"}`,
      });
    }
  }
  const cv = r.coldStart.compiledVersion;
  if (cv) {
    rows.push({
      target: "compiled `version` ≤ 50 ms",
      measured: `${cv.ms.p50} ms median (min ${cv.ms.min})`,
      met: cv.ms.p50 <= 50,
      margin: `${round(Math.abs(50 - cv.ms.p50), 1)} ms ${cv.ms.p50 <= 50 ? "to spare" : "over"}`,
    });
  }
  const cps = r.coldStart.compiledPs ?? r.coldStart.sourcePs;
  rows.push({
    target: `\`tunnel ps\` with ${r.params.psTunnels} tunnels ≤ 200 ms (${r.coldStart.compiledPs ? "compiled" : "source"})`,
    measured: `${cps.ms.p50} ms median`,
    met: cps.ms.p50 <= 200,
    margin: `${round(Math.abs(200 - cps.ms.p50), 1)} ms ${cps.ms.p50 <= 200 ? "to spare" : "over"}`,
  });
  const MB = 1.048576;
  const src = r.footprint.listen.idle?.rssMiB;
  const comp = r.lifecycle.background.compiled?.idle?.rssMiB;
  const worst = Math.max(...[src, comp].filter((x) => typeof x === "number"));
  rows.push({
    target: "idle RSS ≤ 80 MB, one tunnel process",
    measured: `${round(src * MB, 1)} MB from source, ${comp === undefined ? "—" : round(comp * MB, 1)} MB compiled`,
    met: worst * MB <= 80,
    margin: `${round(Math.abs(80 - worst * MB), 1)} MB ${worst * MB <= 80 ? "to spare" : "over"} (worst)`,
  });
  return rows;
}

/** Figures derived from the raw ones, for the report: where the time and the CPU go. */
function analysis(r: any): Record<string, unknown> {
  const t = r.paths.tunnel;
  const mib = r.params.mib;
  const nproc = r.machine.nproc;
  const throughput: Record<string, unknown> = {};
  for (const [dir, cdir] of [["download", "down"], ["upload", "up"]] as const) {
    const c = r.ceiling[cdir];
    const ceilingCpu = round(median(r.ceiling.paired[dir].ceilingCpuSPerMiB), 4);
    const tunnelCpu = t[dir].totalCpuSPerMiB;
    const split = c.split ?? {};
    // The NAPI copy of the sender's number[] into a Rust Vec happens inside the synchronous part of writeAll.
    const napiSendSPerMiB = round((split.writeCallMs ?? Number.NaN) / 1000 / mib, 4);
    const ourConversionSPerMiB = round(((split.convertMs ?? 0) + (split.fromMs ?? 0)) / 1000 / mib, 4);
    throughput[dir] = {
      tunnelCpuSPerMiB: tunnelCpu,
      tunnelCpuByProcess: t[dir].cpuSPerMiB,
      ceilingCpuSPerMiB: ceilingCpu,
      /** If both are CPU-bound on the same cores, the tunnel can reach at most this share of the ceiling. */
      cpuBoundRatio: round(ceilingCpu / tunnelCpu, 3),
      cpuBoundTunnelMibps: round(nproc / tunnelCpu, 1),
      cpuBoundCeilingMibps: round(nproc / ceilingCpu, 1),
      napiSendCopySPerMiB: napiSendSPerMiB,
      napiSendShareOfSender: round((split.writeCallMs ?? Number.NaN) / (split.senderMs ?? Number.NaN), 3),
      ourConversionLoopsSPerMiB: ourConversionSPerMiB,
      ourConversionShareOfCeilingCpu: round(ourConversionSPerMiB / ceilingCpu, 3),
      agentThreadsCpuS: t[dir].agentThreads,
    };
  }
  const b = r.breakdown;
  const latency = {
    freshAddedMs: round(t.latency.fresh.ms.p50 - r.paths.direct.latency.fresh.ms.p50, 3),
    keepaliveAddedMs: round(t.latency.keepalive.ms.p50 - r.paths.direct.latency.keepalive.ms.p50, 3),
    edgeOnlyAddedMs: r.edgeOnly ? round(r.edgeOnly.ms.p50 - r.paths.direct.latency.fresh.ms.p50, 3) : null,
    inProcess: b ? b.derived : null,
    connectSteps: b ? b.connectSteps : null,
  };
  return { throughput, latency };
}

function table(r: any): string {
  const names = Object.keys(r.paths);
  const head = `| measure | ${names.join(" | ")} |\n|---|${names.map(() => "---:").join("|")}|`;
  const row = (label: string, f: (p: any) => string): string => `| ${label} | ${names.map((n) => f(r.paths[n])).join(" | ")} |`;
  const lat = (mode: string) => (p: any) => `${p.latency[mode].ms.p50} / ${p.latency[mode].ms.p90} / ${p.latency[mode].ms.p99}`;
  return [
    head,
    row(`GET p50 / p90 / p99 ms, fresh connection each (${r.params.requests} sequential)`, lat("fresh")),
    row(`GET p50 / p90 / p99 ms, one keep-alive connection (${r.params.requests} sequential)`, lat("keepalive")),
    row(`${r.params.concurrencyConns} conns × ${r.params.concurrencyPerConn} req: req/s, p99 ms, errors`, (p) => `${p.concurrency.reqPerS}, ${p.concurrency.ms.p99}, ${p.concurrency.errors}`),
    row(`${r.params.heldConns} held ${r.params.heldS} s, then 1 req each: failures (burst wall ms)`, (p) => `${p.held.failures} (${p.held.burstWallMs})`),
    row(`${r.params.mib} MiB download MiB/s, median (best)`, (p) => `${p.download.median} (${p.download.best})`),
    row(`${r.params.mib} MiB upload MiB/s, median (best)`, (p) => `${p.upload.median} (${p.upload.best})`),
    row("agent CPU s/MiB, download / upload", (p) => (p.download.cpuSPerMiB.agent !== undefined ? `${p.download.cpuSPerMiB.agent} / ${p.upload.cpuSPerMiB.agent}` : "—")),
    row("server side CPU s/MiB (dev cloud / sshd), down / up", (p) => (p.download.cpuSPerMiB.server !== undefined ? `${p.download.cpuSPerMiB.server} / ${p.upload.cpuSPerMiB.server}` : "—")),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------

async function cleanup(): Promise<void> {
  if (listen) await stopListen(listen).catch(() => undefined);
  listen = undefined;
  const env = { ...baseEnv, ...(devCloud?.env ?? {}) };
  await Promise.all([...named.entries()].map(([name, t]) => stopNamed(t.exe, env, name, t.pid).catch(() => endPid(t.pid))));
  named.clear();
  await ssh?.stop().catch(() => undefined);
  await devCloud?.stop().catch(() => undefined);
  if (origin) await endPid(origin.pid, 2_000);
  await endAll();
  rmSync(root, { recursive: true, force: true });
}

let code = 0;
let failure: string | undefined;
let result: Record<string, unknown> | undefined;
try {
  result = await Promise.race([bench(), interrupted]);
} catch (err) {
  code = err instanceof BenchError && err.message.startsWith("interrupted") ? 130 : 1;
  failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
}
await cleanup();
if (failure !== undefined || result === undefined) {
  process.stderr.write(`error: ${failure ?? "no result"}\n`);
  process.exit(code || 1);
}
const r = result as any;
r.durationS = round(elapsedS(), 1);
r.loadavg.after = load();
r.analysis = analysis(r);
r.targets = targets(r);
r.table = table(r);
const dir = join(import.meta.dir, "results");
mkdirSync(dir, { recursive: true });
const stem = `${(r.date as string).slice(0, 10)}-${machineTag(r.machine.cpuModel, availableParallelism())}-peers-${MODE}`;
let file = values.out ? String(values.out) : join(dir, `${stem}.json`);
if (!values.out) for (let k = 2; existsSync(file); k++) file = join(dir, `${stem}-${k}.json`);
if (gnuplotAvailable()) {
  try {
    const charts = chartsFromResult(r, file.replace(/\.json$/, ""));
    r.charts = charts.map((c) => relative(REPO_ROOT, c));
  } catch (err) {
    log(`note: no chart (${err instanceof Error ? err.message : String(err)})`);
  }
} else log("note: gnuplot not installed (apt-get install -y gnuplot-nox); no PNG chart");
writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);

process.stdout.write(`\n${r.table}\n\n| target | measured | met? |\n|---|---|---|\n`);
for (const t of r.targets as TargetRow[]) process.stdout.write(`| ${t.target} | ${t.measured} | ${t.met ? "met" : "missed"} (${t.margin}) |\n`);
process.stdout.write(
  `\nMachine: ${r.machine.cpuModel}, nproc ${r.machine.nproc}, Linux ${r.machine.kernel}, bun ${r.machine.bun}; load ${r.loadavg.before[0]} → ${r.loadavg.after[0]}; ${r.durationS} s.\nResult: ${relative(REPO_ROOT, file)}${r.charts ? `, ${r.charts.join(", ")}` : ""}\n`,
);
process.exit(0);
