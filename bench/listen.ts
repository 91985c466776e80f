/**
 * `tunnel listen` end to end against the local Datum, not a test (issue 3's closing note; `npm run
 * bench` now runs bench/peers.ts, which measures this and more, next to its peers):
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/listen.ts [--runs N] [--requests N] [--mib N]
 *
 * Real processes over real sockets: `dev cloud` (control plane, controllers with zero delay, edge
 * and gateway), an origin in its own process, and the `tunnel listen` CLI. Measures
 *   (a) spawn of `tunnel listen` → its ready line on stdout (`--runs` times, each stopped with
 *       SIGINT and waited for: "Tunnel disabled.", exit 0);
 *   (b) GET latency through the public URL vs straight to the origin, `--requests` sequential
 *       requests, first with a new connection each (keep-alive off), then over one kept-alive one;
 *   (c) a `--mib` MiB download through the tunnel vs direct;
 *   (d) the listen process's RSS (VmRSS) idle, peak under (b) and (c), and idle again after.
 * Path through the tunnel: client (this process) → edge → gateway (dev cloud) → iroh → ListenNode
 * worker (listen) → origin. Prints a markdown table and writes bench/results/<date>-<machine>.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { startLocalDatum, type LocalDatum } from "../test/helpers/local-datum.ts";

const MiB = 1024 * 1024;
const REPO_ROOT = join(import.meta.dir, "..");
const CLI = join(REPO_ROOT, "src", "cli.ts");
const READY_BUDGET_MS = 60_000;
const STOP_BUDGET_MS = 15_000;
const READY_RE = /^Tunnel ready after \d+ sec: (https?:\/\/\S+)$/m;

// ---------------------------------------------------------------------------------------------
// The origin, in its own process so this one carries only the client.
if (process.argv[2] === "--origin") {
  const block = new Uint8Array(MiB).fill(0x61);
  const peers = new Set<string>();
  let requests = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname === "/_stats") return Response.json({ requests, connections: peers.size });
      if (url.pathname === "/_reset") {
        requests = 0;
        peers.clear();
        return new Response("reset");
      }
      requests++;
      const peer = srv.requestIP(req);
      if (peer) peers.add(`${peer.address}:${peer.port}`);
      if (url.pathname !== "/big") return new Response("ok");
      const size = Number(url.searchParams.get("mib") ?? "64");
      let sent = 0;
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (sent >= size) return controller.close();
            sent++;
            controller.enqueue(block);
          },
        }),
        { headers: { "content-length": String(size * MiB), "content-type": "application/octet-stream" } },
      );
    },
  });
  console.log(server.port);
  await new Promise(() => undefined);
}

// ---------------------------------------------------------------------------------------------
class BenchError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`error: invalid --${name} "${value}"\nhint: a whole number ≥ 1\n`);
    process.exit(2);
  }
  return n;
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: process.argv.slice(2),
    options: {
      runs: { type: "string" },
      requests: { type: "string" },
      mib: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  parsed = parse();
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\nhint: bench/listen.ts [--runs N] [--requests N] [--mib N]\n`);
  process.exit(2);
}
if (parsed.values.help) {
  process.stdout.write("usage: bun bench/listen.ts [--runs N (10)] [--requests N (500)] [--mib N (64)]\n(run it inside scripts/netns.sh)\n");
  process.exit(0);
}
const RUNS = positiveInt("runs", parsed.values.runs, 10);
const REQUESTS = positiveInt("requests", parsed.values.requests, 500);
const SIZE_MIB = positiveInt("mib", parsed.values.mib, 64);
const DOWNLOAD_RUNS = 5;
const WARMUP_REQUESTS = 20;

const log = (line: string): void => void process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Statistics and machine facts.

interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const r = (n: number): number => Math.round(n * 1000) / 1000;
  return {
    n: s.length,
    min: r(s[0] as number),
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s[s.length - 1] as number),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m ? (m[1] as string).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

/** `amd-epyc-2c`: a few words of the CPU model and the core count, for the result file's name. */
function machineTag(model: string, cores: number): string {
  const words = model
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|@.*$|\bcpu\b|\bprocessor\b|\d+-core/g, " ")
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
  return [...words.slice(0, 3), `${cores}c`].join("-");
}

/** VmRSS of a process in MiB, or null once it is gone. */
function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/** Sample a process's RSS every `everyMs` until stopped; the peak is what (d) reports. */
function rssSampler(pid: number, everyMs = 50): { stop(): { peak: number; samples: number } } {
  let peak = 0;
  let samples = 0;
  const take = () => {
    const rss = rssMiB(pid);
    if (rss !== null) {
      samples++;
      peak = Math.max(peak, rss);
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peak, samples };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Processes.

async function collect(stream: ReadableStream<Uint8Array>, into: { text: string }, onText?: () => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    into.text += decoder.decode(chunk, { stream: true });
    onText?.();
  }
}

interface Listen {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  readyMs: number;
  created: boolean;
  stderr: { text: string };
  /** When each progress line showed up on stderr, ms after the spawn. */
  milestones: Partial<Record<Milestone, number>>;
}

/** Progress lines of `tunnel listen` (plain reporter) that split the time to ready. */
const MILESTONES = {
  endpoint: "Your endpoint ID:", // process up, token fetched, worker started, iroh endpoint bound
  settingUp: "Setting up tunnel...", // tunnel found or created, heartbeat started, advertisement enabled
  verifying: "Verifying connectivity...", // every setup condition held (750 ms polls)
} as const;
type Milestone = keyof typeof MILESTONES;

const running = new Set<Subprocess>();

function childEnv(datum: LocalDatum): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    const datumVar = k.startsWith("DATUM_") || k.startsWith("DATUMCTL_");
    if (v !== undefined && (!datumVar || k === "DATUM_CONNECT_IN_NETNS")) env[k] = v;
  }
  return { ...env, ...datum.env, NO_COLOR: "1" };
}

/** Spawn `tunnel listen` and time it to its ready line on stdout. */
async function startListen(datum: LocalDatum, endpoint: string): Promise<Listen> {
  if (stopping) throw new BenchError("stopping");
  const t0 = performance.now();
  const proc = Bun.spawn([process.execPath, CLI, "tunnel", "listen", "--endpoint", endpoint], {
    cwd: REPO_ROOT,
    env: childEnv(datum),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true, // a Ctrl+C on the terminal is ours to relay, once
  });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
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
  const url = await Promise.race([
    ready,
    proc.exited.then((code) => {
      throw new BenchError(`tunnel listen exited with code ${code} before it was ready:\n${stderr.text}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BenchError(`tunnel listen not ready within ${READY_BUDGET_MS / 1000} s:\n${stderr.text}`)), READY_BUDGET_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  return { proc, url, readyMs, created: stderr.text.includes("Created tunnel:"), stderr, milestones };
}

/** SIGINT and wait: "Tunnel disabled." and exit 0 are required. Returns the time it took. */
async function stopListen(l: Listen): Promise<number> {
  const t0 = performance.now();
  l.proc.kill("SIGINT");
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    l.proc.kill("SIGKILL");
  }, STOP_BUDGET_MS);
  const code = await l.proc.exited;
  clearTimeout(timer);
  const ms = performance.now() - t0;
  await Bun.sleep(10); // the last stderr bytes
  if (killed) throw new BenchError(`tunnel listen did not exit within ${STOP_BUDGET_MS / 1000} s of SIGINT`);
  if (code !== 0 || !l.stderr.text.includes("Tunnel disabled.")) {
    throw new BenchError(`tunnel listen ended with code ${code} (signal ${l.proc.signalCode ?? "none"}) after SIGINT:\n${l.stderr.text.split("\n").slice(-25).join("\n")}`);
  }
  return ms;
}

async function startOrigin(): Promise<{ proc: Subprocess<"ignore", "pipe", "inherit">; port: number }> {
  if (stopping) throw new BenchError("stopping");
  const proc = Bun.spawn([process.execPath, import.meta.path, "--origin"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  running.add(proc);
  const reader = proc.stdout.getReader();
  const first = await reader.read();
  reader.releaseLock();
  const port = Number(new TextDecoder().decode(first.value ?? new Uint8Array()).trim());
  if (!Number.isInteger(port) || port <= 0) throw new BenchError("the origin did not report its port");
  return { proc, port };
}

// ---------------------------------------------------------------------------------------------
// Measurements.

async function timedGet(url: string, keepalive: boolean): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { keepalive });
  const body = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200 || body !== "ok") throw new BenchError(`GET ${url}: ${res.status} ${body.slice(0, 200)}`);
  return ms;
}

interface LatencySeries {
  ms: Summary;
  /** Distinct client connections the origin saw (≈ requests with keep-alive off, ≈ 1 with it on). */
  originConnections: number;
}

async function latency(base: string, originBase: string, keepalive: boolean): Promise<LatencySeries> {
  for (let i = 0; i < WARMUP_REQUESTS; i++) await timedGet(`${base}/small`, keepalive);
  await fetch(`${originBase}/_reset`, { keepalive: false }).then((r) => r.text());
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) times.push(await timedGet(`${base}/small`, keepalive));
  const stats = (await (await fetch(`${originBase}/_stats`, { keepalive: false })).json()) as { requests: number; connections: number };
  if (stats.requests !== REQUESTS) throw new BenchError(`the origin counted ${stats.requests} requests, expected ${REQUESTS}`);
  return { ms: summarize(times), originConnections: stats.connections };
}

async function download(base: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${base}/big?mib=${SIZE_MIB}`, { keepalive: false });
  if (res.status !== 200 || !res.body) throw new BenchError(`download from ${base}: HTTP ${res.status}`);
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.length;
  const s = (performance.now() - t0) / 1000;
  if (bytes !== SIZE_MIB * MiB) throw new BenchError(`download from ${base}: ${bytes} bytes, expected ${SIZE_MIB * MiB}`);
  return Math.round((SIZE_MIB / s) * 10) / 10;
}

/** How long the CLI takes just to start and exit (`version`): the floor under the ready time. */
async function cliStartMs(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const p = Bun.spawn([process.execPath, CLI, "version"], { cwd: REPO_ROOT, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    running.add(p);
    const code = await p.exited;
    running.delete(p);
    if (code !== 0) throw new BenchError(`datumctl-connect version exited ${code}`);
    times.push(performance.now() - t0);
  }
  return times;
}

// ---------------------------------------------------------------------------------------------

const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(2));
const fmtS = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

let datum: LocalDatum | undefined;
let datumStarting: Promise<LocalDatum> | undefined;
/** Set once cleanup begins: nothing new is started after that. */
let stopping = false;
let origin: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number } | undefined;
let current: Listen | undefined;

let interrupt: (err: Error) => void = () => undefined;
const interrupted = new Promise<never>((_, reject) => {
  interrupt = reject;
});
interrupted.catch(() => undefined);
process.once("SIGINT", () => interrupt(new BenchError("interrupted (SIGINT)")));
process.once("SIGTERM", () => interrupt(new BenchError("interrupted (SIGTERM)")));

async function bench(): Promise<void> {
  const nproc = availableParallelism();
  const model = cpuModel();
  const started = new Date();
  const loadBefore = loadavg();
  log(`bench/listen.ts: ${RUNS} runs, ${REQUESTS} requests, ${SIZE_MIB} MiB on ${model} × ${nproc}, bun ${Bun.version}`);
  if (process.env.DATUM_CONNECT_IN_NETNS !== "1") log("note: not inside scripts/netns.sh (no loopback-only namespace)");

  const baseline = await cliStartMs();

  datumStarting = startLocalDatum();
  datum = await datumStarting;
  if (stopping) throw new BenchError("stopping");
  const config = await datum.admin("config", {
    body: { delays: { connector: 0, accepted: 0, certificatesReady: 0, programmed: 0, connectorMetadataProgrammed: 0, advertisement: 0 } },
  });
  if (!config.ok) throw new BenchError(`could not set zero controller delays: ${config.status} ${await config.text()}`);
  const devConfig = (await config.json()) as Record<string, unknown>;
  if (!datum.env.DATUM_DEV_CLOUD_EDGE) throw new BenchError("the local Datum has no edge (iroh's native module did not load)");
  origin = await startOrigin();
  const endpoint = `127.0.0.1:${origin.port}`;
  const direct = `http://${endpoint}`;

  // (a) spawn → ready, RUNS times.
  const readyRuns: { readyMs: number; stopMs: number; created: boolean; milestones: Partial<Record<Milestone, number>> }[] = [];
  for (let i = 0; i < RUNS; i++) {
    current = await startListen(datum, endpoint);
    const { readyMs, created, milestones } = current;
    const stopMs = await stopListen(current);
    current = undefined;
    readyRuns.push({ readyMs: Math.round(readyMs * 10) / 10, stopMs: Math.round(stopMs * 10) / 10, created, milestones });
    log(`  (a) run ${i + 1}/${RUNS}: ready after ${fmtMs(readyMs)} ms${created ? " (tunnel created)" : ""}, stopped in ${fmtMs(stopMs)} ms`);
  }

  // (b)–(d) against one long-running listen.
  current = await startListen(datum, endpoint);
  const tunnel = current.url;
  const pid = current.proc.pid;
  await Bun.sleep(2_000);
  const rssIdle = rssMiB(pid);

  const latencySampler = rssSampler(pid);
  log(`  (b) ${REQUESTS} sequential GETs each way, new connection each, then keep-alive`);
  const lat = {
    fresh: { tunnel: await latency(tunnel, direct, false), direct: await latency(direct, direct, false) },
    keepalive: { tunnel: await latency(tunnel, direct, true), direct: await latency(direct, direct, true) },
  };
  const latencyRss = latencySampler.stop();

  log(`  (c) ${SIZE_MIB} MiB downloads, ${DOWNLOAD_RUNS} each way after a warm-up`);
  const downloadSampler = rssSampler(pid);
  await download(direct);
  await download(tunnel);
  const dl = { tunnel: [] as number[], direct: [] as number[] };
  for (let i = 0; i < DOWNLOAD_RUNS; i++) {
    dl.direct.push(await download(direct));
    dl.tunnel.push(await download(tunnel));
  }
  const downloadRss = downloadSampler.stop();
  await Bun.sleep(2_000);
  const rssAfter = rssMiB(pid);
  await stopListen(current);
  current = undefined;

  // Report.
  const ready = readyRuns.map((r) => r.readyMs);
  const r1 = (n: number): number => Math.round(n * 10) / 10;
  const readyS = { median: r1(median(ready)), min: Math.min(...ready), max: Math.max(...ready) };
  const stopS = { median: r1(median(readyRuns.map((r) => r.stopMs))) };
  const milestoneMedian = (m: Milestone): number => r1(median(readyRuns.map((r) => r.milestones[m] ?? Number.NaN)));
  const phases = { endpoint: milestoneMedian("endpoint"), settingUp: milestoneMedian("settingUp"), verifying: milestoneMedian("verifying") };
  const best = (xs: number[]) => Math.max(...xs);
  const rows: [string, string, string][] = [
    [`\`tunnel listen\` spawn → ready line, median of ${RUNS} (min–max)`, `${fmtS(readyS.median)} (${fmtS(readyS.min)}–${fmtS(readyS.max)})`, `CLI start+exit (\`version\`): ${fmtS(median(baseline))}`],
    [
      "… of which (medians, since spawn): endpoint bound / setup started / setup done",
      `${fmtS(phases.endpoint)} / ${fmtS(phases.settingUp)} / ${fmtS(phases.verifying)}`,
      "—",
    ],
    [`SIGINT → "Tunnel disabled." + exit 0, median of ${RUNS}`, fmtS(stopS.median), "—"],
    [
      `GET p50 / p99, new connection each (${REQUESTS} sequential)`,
      `${fmtMs(lat.fresh.tunnel.ms.p50)} / ${fmtMs(lat.fresh.tunnel.ms.p99)} ms`,
      `${fmtMs(lat.fresh.direct.ms.p50)} / ${fmtMs(lat.fresh.direct.ms.p99)} ms`,
    ],
    [
      `GET p50 / p99, keep-alive (${REQUESTS} sequential)`,
      `${fmtMs(lat.keepalive.tunnel.ms.p50)} / ${fmtMs(lat.keepalive.tunnel.ms.p99)} ms`,
      `${fmtMs(lat.keepalive.direct.ms.p50)} / ${fmtMs(lat.keepalive.direct.ms.p99)} ms`,
    ],
    [
      `${SIZE_MIB} MiB download, best (median) of ${DOWNLOAD_RUNS}`,
      `${best(dl.tunnel).toFixed(1)} (${median(dl.tunnel).toFixed(1)}) MiB/s`,
      `${best(dl.direct).toFixed(1)} (${median(dl.direct).toFixed(1)}) MiB/s`,
    ],
    [
      "listen RSS: idle / peak under (b) / peak under (c) / idle after",
      `${rssIdle ?? "?"} / ${latencyRss.peak} / ${downloadRss.peak} / ${rssAfter ?? "?"} MiB`,
      "—",
    ],
  ];
  const table = ["| measure | through the tunnel | direct to the origin |", "|---|---:|---:|", ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

  const args = process.argv.slice(2);
  const command = `sh scripts/netns.sh bun bench/listen.ts${args.length > 0 ? ` ${args.join(" ")}` : ""}`;
  const machine = { nproc, cpuModel: model, kernel: release(), memGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10, bun: `${Bun.version} (${Bun.revision.slice(0, 9)})` };
  const result = {
    bench: "bench/listen.ts",
    date: started.toISOString(),
    command,
    netns: process.env.DATUM_CONNECT_IN_NETNS === "1",
    machine,
    /** 1/5/15-minute load averages at the start and the end: other work on the machine skews every figure. */
    loadavg: { before: loadBefore.map((x) => Math.round(x * 100) / 100), after: loadavg().map((x) => Math.round(x * 100) / 100) },
    params: { runs: RUNS, requests: REQUESTS, mib: SIZE_MIB, downloadRuns: DOWNLOAD_RUNS, warmupRequests: WARMUP_REQUESTS },
    devCloudConfig: devConfig,
    ready: { unit: "ms", ...readyS, phaseMedians: phases, runs: readyRuns, cliStartExitMs: baseline.map((x) => Math.round(x * 10) / 10) },
    shutdown: { unit: "ms", median: stopS.median },
    latency: { unit: "ms", newConnectionEach: lat.fresh, keepAlive: lat.keepalive },
    download: { unit: "MiB/s", mib: SIZE_MIB, tunnel: dl.tunnel, direct: dl.direct },
    rss: { unit: "MiB", idle: rssIdle, peakLatency: latencyRss.peak, peakDownload: downloadRss.peak, idleAfter: rssAfter },
    table,
  };
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  const stem = `${started.toISOString().slice(0, 10)}-${machineTag(model, nproc)}`;
  let file = join(dir, `${stem}.json`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `${stem}-${n}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

  process.stdout.write(`\n${table}\n\n`);
  process.stdout.write(
    `Machine: ${model}, nproc ${nproc}, Linux ${machine.kernel}, bun ${machine.bun}; load average ${result.loadavg.before[0]} → ${result.loadavg.after[0]}. Command: \`${command}\`.\n`,
  );
  process.stdout.write(
    `Origin saw ${lat.fresh.tunnel.originConnections}/${lat.fresh.direct.originConnections} connections for ${REQUESTS} requests without keep-alive ` +
      `(tunnel/direct), ${lat.keepalive.tunnel.originConnections}/${lat.keepalive.direct.originConnections} with it.\n`,
  );
  process.stdout.write(`Result: ${file.slice(REPO_ROOT.length + 1)}\n`);
}

async function cleanup(): Promise<void> {
  stopping = true;
  // Interrupted while dev cloud was starting: wait for it, so it is stopped too.
  datum ??= await datumStarting?.catch(() => undefined);
  if (current) {
    const l = current;
    current = undefined;
    await stopListen(l).catch(() => undefined);
  }
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
  await Promise.all([...running].map((p) => p.exited));
  await datum?.stop().catch(() => undefined);
}

process.on("exit", () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

let code = 0;
let failure: string | undefined;
try {
  await Promise.race([bench(), interrupted]);
} catch (err) {
  code = err instanceof BenchError && err.message.startsWith("interrupted") ? 130 : 1;
  failure = err instanceof Error ? err.message : String(err);
}
await cleanup();
if (failure !== undefined) process.stderr.write(`error: ${failure}\n`);
process.exit(code);
