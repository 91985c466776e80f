/**
 * Groups (BENCHMARKS.md "Groups"; docs/groups.md): one `tunnel up` serving 20 services against the
 * local Datum (`dev cloud`, controller delays 0), next to one `tunnel listen`.
 *
 *   npm run bench:group
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/group.ts [--runs 5] [--reload-runs 3] [--clients 4] [--idle-s 40] [--scale 1,5,10,40|none] [--no-build] [--exe PATH] [--out FILE]
 *
 * Origins: bench/lib/many-origins.ts, one process with one loopback port per service; port i
 * answers `origin <i>`, so a request that reaches another service's origin is a wrong body.
 *
 * 1. **Setup**: `tunnel up -f FILE`, 20 services, fresh state every run (a new local Datum, a new
 *    DATUM_CONNECT_DIR, so every tunnel is created): ms from spawn to (a) run.json `phase: ready`
 *    with `readiness.ready` (every service verified; polled every 20 ms) and (b) the 20th
 *    `<name> <url>` line on stdout; run.json's own `setupMs`; when each progress line of every
 *    service arrived on stderr (the breakdown); the process's CPU seconds at that point. A warm-up
 *    run first (page cache; compiled: the native-module cache, shared through
 *    DATUM_CONNECT_NATIVE_DIR), not counted. A run during which other processes took > 15 % of the
 *    machine or the native CPU speed probe (`nativeProbe`) ran > 1.3× slow is noisy and run again (at most `--runs` extra).
 *    After each run every public URL must answer with its own origin's body.
 * 2. **Idle RSS**: one more such run, then the process is left alone for `--idle-s` s (past the main
 *    thread's trim 1 s after settling and the data plane's trim 30 s after its last stream,
 *    src/supervise/heap-trim.ts), VmRSS (all threads, /proc/<pid>/status) sampled on the way; then
 *    one `tunnel listen` on the same local Datum, the same way. From source, and compiled
 *    (scripts/build.ts --targets host into a temp dir, `dist/` untouched) unless --no-build
 *    (`--exe PATH`: that executable instead of building one).
 *    The same idle RSS for groups of `--scale` sizes (from source; default 1, 5, 10 and 40
 *    services), for what each service adds; every idle figure comes with RSS by mapping
 *    (/proc/<pid>/smaps: the executable's pages, iroh's module, anonymous memory).
 * 3. **Reload under traffic** (from source), `--reload-runs` times, fresh state each: 21 services
 *    (u0…u18 untouched, `moved`, `gone`); `--clients` loops of GETs on fresh connections
 *    (`keepalive: false`) round the 19 untouched public URLs; then the file is rewritten (`gone`
 *    removed, `new` added, `moved` pointed at another origin) and the foreground `up` reloads it.
 *    Traffic runs until run.json's `group.lastReload.seq` advanced, plus 3 s. A failure is a
 *    non-200, a wrong body, a network error or no answer within 10 s. Then `moved` must answer from
 *    its new origin and `new` from its own.
 *
 * Everything started is ended by PID; every wait is bounded. Prints a summary table; writes
 * bench/results/<date>-<machine>-group.json. Exits 1 only when something is broken (a process that
 * does not settle or stop cleanly, a URL that answers wrongly after setup).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { stateRoot, tunnelDir, tunnelFiles } from "../src/state/paths.ts";
import { buildHost, exeLabel, type Build } from "./lib/compiled.ts";
import { isolatedEnv, REPO_ROOT, SOURCE, startDevCloud, startListen, stopListen, type DevCloud, type Exe } from "./lib/datum.ts";
import { BenchError, collect, cpuSeconds, endAll, endPid, memSplit, threadCpu, track, type MemSplit } from "./lib/procs.ts";
import { load, machine, machineTag, median, noiseGauge, round, warmSpeedProbe, type Noise } from "./lib/stats.ts";

const USAGE = "bench/group.ts [--runs 5] [--reload-runs 3] [--clients 4] [--idle-s 40] [--scale 1,5,10,40|none] [--no-build] [--exe PATH] [--out FILE]";
let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      runs: { type: "string" },
      "reload-runs": { type: "string" },
      clients: { type: "string" },
      "idle-s": { type: "string" },
      scale: { type: "string" },
      "no-build": { type: "boolean" },
      exe: { type: "string" },
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
  process.stdout.write(`usage: bun ${USAGE}\n(run it inside scripts/netns.sh, as \`npm run bench:group\` does)\n`);
  process.exit(0);
}
function count(name: string, fallback: number, min: number, max: number): number {
  const raw = values[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`error: invalid --${name} "${String(raw)}"\nhint: a whole number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
}
function sizes(): number[] {
  const raw = values.scale;
  if (raw === undefined) return [1, 5, 10, 40];
  if (raw === "none") return [];
  const list = String(raw).split(",").map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 60)) {
    process.stderr.write(`error: invalid --scale "${String(raw)}"\nhint: service counts from 1 to 60, comma-separated, or none\n`);
    process.exit(2);
  }
  return list;
}
const P = {
  services: 20,
  /** Group sizes whose idle RSS is measured too (from source), next to the 20 of the idle RSS run. */
  scale: sizes(),
  runs: count("runs", 5, 1, 50),
  reloadRuns: count("reload-runs", 3, 0, 20),
  clients: count("clients", 4, 1, 64),
  idleS: count("idle-s", 40, 36, 600),
  /** Wall-clock bound on one group settling (every service verified or degraded). */
  settleBudgetMs: 60_000,
  /** Bound on a reload being answered (run.json's lastReload.seq advanced). */
  reloadBudgetMs: 60_000,
  /** Traffic kept up after the reload was answered. */
  afterReloadMs: 3_000,
  requestTimeoutMs: 10_000,
  targets: { setupMs: 3_000, idleRssMB: 100, reloadFailures: 0 },
};
/** A run is redone when other processes used more than this share of all cores meanwhile… */
const NOISE_LIMIT = 0.15;
/** … or when the native CPU speed probe ran this much slower than its best in the run (a busy host). */
const SLOWDOWN_LIMIT = 1.3;

/**
 * The CPU speed probe of this bench: SHA-256 of 4 MiB (native code, ~2.4 ms here), best of 3,
 * before and after each run, against its best time in the run. bench/lib/stats.ts's probe (a JS
 * loop) is recorded too (`cpuSlowdown`) but not used: in this process it reads in modes that have
 * nothing to do with the host (2.7, ~5 and ~150 ms on an idle machine, as the JIT tiers it), so
 * every run looked noisy; the native probe stays within ±5 % on an idle machine and still shows a
 * slowed host.
 */
const probeBytes = new Uint8Array(4 * 1024 * 1024).fill(7);
let fastestNativeMs = Number.POSITIVE_INFINITY;
function nativeProbe(): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    new Bun.CryptoHasher("sha256").update(probeBytes).digest();
    best = Math.min(best, performance.now() - t0);
  }
  fastestNativeMs = Math.min(fastestNativeMs, best);
  return best;
}

/** The shared gauge (others' share of the machine, load) plus the native probe's slowdown. */
type RunNoise = Noise & { hostSlowdown: number };
function runGauge(): { stop(): RunNoise } {
  const p0 = nativeProbe();
  const gauge = noiseGauge();
  return {
    stop() {
      const noise = gauge.stop();
      const p1 = nativeProbe();
      return { ...noise, hostSlowdown: round(Math.max(p0, p1) / fastestNativeMs, 2) };
    },
  };
}
// A setup run lasts ~1.3 s: 260 ticks of 10 ms on 2 cores, fine enough for a 15 % share.
const noisy = (n: RunNoise): boolean => n.foreignShare > NOISE_LIMIT || n.hostSlowdown > SLOWDOWN_LIMIT;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const t00 = performance.now();
const root = mkdtempSync(join(tmpdir(), "bench-group-"));
const nativeDir = join(root, "native"); // the compiled executable's native-module cache, shared by every run
const clouds = new Set<DevCloud>();
let originPid: number | undefined;

let interrupt: (err: Error) => void = () => undefined;
const interrupted = new Promise<never>((_, reject) => {
  interrupt = reject;
});
interrupted.catch(() => undefined);
process.once("SIGINT", () => interrupt(new BenchError("interrupted (SIGINT)")));
process.once("SIGTERM", () => interrupt(new BenchError("interrupted (SIGTERM)")));

// ---------------------------------------------------------------------------------------------
// Pieces.

async function startOrigins(n: number): Promise<number[]> {
  const proc = track(Bun.spawn([process.execPath, join(import.meta.dir, "lib", "many-origins.ts"), String(n)], { stdin: "ignore", stdout: "pipe", stderr: "inherit" }));
  originPid = proc.pid;
  const out = { text: "" };
  void collect(proc.stdout, out);
  const deadline = performance.now() + 10_000;
  while (!out.text.includes("\n")) {
    if (proc.exitCode !== null || performance.now() > deadline) throw new BenchError("the origins did not start");
    await Bun.sleep(10);
  }
  return (JSON.parse(out.text.split("\n")[0] as string) as { ports: number[] }).ports;
}

async function freshDatum(tag: string): Promise<{ dc: DevCloud; env: Record<string, string>; dir: string }> {
  const dir = join(root, tag);
  mkdirSync(dir, { recursive: true });
  const dc = await startDevCloud(isolatedEnv(join(dir, "cloud-home")));
  clouds.add(dc);
  const env = isolatedEnv(dir, { ...dc.env, DATUM_CONNECT_DIR: join(dir, "connect"), DATUM_CONNECT_NATIVE_DIR: nativeDir, TMPDIR: join(dir, "tmp") });
  mkdirSync(join(dir, "tmp"), { recursive: true });
  return { dc, env, dir };
}

async function stopDatum(dc: DevCloud): Promise<void> {
  await dc.stop();
  clouds.delete(dc);
}

interface Spec {
  name: string;
  port: number;
  /** What its origin answers. */
  body: string;
}

function groupYaml(group: string, specs: readonly Spec[]): string {
  return `name: ${group}\ntunnels:\n${specs.map((s) => `  - name: ${s.name}\n    endpoint: 127.0.0.1:${s.port}\n`).join("")}`;
}

interface ServiceRec {
  name: string;
  publicUrls: string[];
  setupMs: number | null;
  readiness: { ready: boolean; reason: string };
}
interface RunDoc {
  phase: string;
  startedAt: string;
  readyAt: string | null;
  setupMs: number | null;
  readiness: { ready: boolean; reason: string };
  services?: ServiceRec[];
  group?: { lastReload: { seq: number; ok: boolean; message: string | null; added: string[]; removed: string[]; deleted: string[]; changed: string[]; at: string } | null };
}

function readRun(path: string): RunDoc | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunDoc;
  } catch {
    return undefined; // not written yet
  }
}

/** Lines as they arrive, each with the ms since `t0` at which it was read. */
interface Lines {
  lines: { ms: number; text: string }[];
  text(): string;
}

function timedLines(stream: ReadableStream<Uint8Array>, t0: number, onLine?: (text: string, ms: number) => void): Lines {
  const out: Lines = { lines: [], text: () => out.lines.map((l) => l.text).join("\n") };
  let partial = "";
  const into = { text: "" };
  void collect(stream, into, () => {
    const ms = round(performance.now() - t0, 1);
    partial += into.text;
    into.text = "";
    const parts = partial.split("\n");
    partial = parts.pop() as string;
    for (const text of parts) {
      out.lines.push({ ms, text });
      onLine?.(text, ms);
    }
  });
  return out;
}

/** `tunnel up` as a child process, with its output read line by line as it arrives. */
interface Up {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  t0: number;
  stdout: Lines;
  stderr: Lines;
  runPath: string;
  /** `<name> <url>` lines from stdout. */
  urls: Map<string, string>;
  /** ms since spawn at which the n-th url line arrived. */
  urlLineMs: number[];
}

function spawnUp(exe: Exe, env: Record<string, string>, cwd: string, file: string, group: string): Up {
  const t0 = performance.now();
  const proc = track(
    Bun.spawn([...exe, "tunnel", "up", "-f", file], {
      cwd,
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true, // a Ctrl+C on the terminal is ours to relay, once
    }),
  );
  const urls = new Map<string, string>();
  const urlLineMs: number[] = [];
  const stdout = timedLines(proc.stdout, t0, (text, ms) => {
    const m = /^([a-z0-9-]+) (https?:\/\/\S+)$/.exec(text.trim());
    if (m?.[1] && m[2] && !urls.has(m[1])) {
      urls.set(m[1], m[2]);
      urlLineMs.push(ms);
    }
  });
  const stderr = timedLines(proc.stderr, t0);
  return { proc, pid: proc.pid, t0, stdout, stderr, urls, urlLineMs, runPath: tunnelFiles(tunnelDir(stateRoot("user", { env }), group)).run };
}

function tail(up: Up, n = 30): string {
  return up.stderr.lines.slice(-n).map((l) => l.text).join("\n");
}

/** SIGINT and wait: exit 0 is required. Returns the ms it took. */
async function stopUp(up: Up, budgetMs = 20_000): Promise<number> {
  const t0 = performance.now();
  up.proc.kill("SIGINT");
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    up.proc.kill("SIGKILL");
  }, budgetMs);
  const code = await up.proc.exited;
  clearTimeout(timer);
  const ms = performance.now() - t0;
  if (killed) throw new BenchError(`tunnel up (PID ${up.pid}) did not exit within ${budgetMs / 1000} s of SIGINT:\n${tail(up)}`);
  await Bun.sleep(10); // the last stderr bytes
  if (code !== 0) throw new BenchError(`tunnel up ended with code ${code} after SIGINT:\n${tail(up)}`);
  return round(ms, 1);
}

/** Until every one of `n` services is verified (run.json) and printed (stdout); bounded. */
async function waitSettled(up: Up, n: number): Promise<{ runReadyMs: number; stdoutMs: number; doc: RunDoc }> {
  let runReadyMs: number | undefined;
  let doc: RunDoc | undefined;
  const deadline = up.t0 + P.settleBudgetMs;
  for (;;) {
    if (runReadyMs === undefined) {
      const d = readRun(up.runPath);
      if (d && d.phase === "ready" && d.readiness.ready && d.services?.length === n && d.services.every((s) => s.readiness.ready)) {
        runReadyMs = round(performance.now() - up.t0, 1);
        doc = d;
      }
    }
    if (runReadyMs !== undefined && up.urls.size >= n) return { runReadyMs, stdoutMs: up.urlLineMs[n - 1] as number, doc: doc as RunDoc };
    if (up.proc.exitCode !== null) throw new BenchError(`tunnel up exited ${up.proc.exitCode} before it settled:\n${tail(up)}`);
    if (performance.now() > deadline) {
      const d = readRun(up.runPath);
      throw new BenchError(
        `tunnel up: ${n} services not verified within ${P.settleBudgetMs / 1000} s (run.json phase ${d?.phase ?? "none"}, ${d?.readiness.reason ?? ""}; ${up.urls.size} url lines):\n${tail(up)}`,
      );
    }
    await Bun.sleep(20);
  }
}

/** One GET on a fresh connection: "200 <body>", or what went wrong. */
async function get(url: string): Promise<{ ok: boolean; got: string }> {
  try {
    const res = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(P.requestTimeoutMs) });
    return { ok: res.status === 200, got: `${res.status} ${(await res.text()).slice(0, 120)}` };
  } catch (err) {
    return { ok: false, got: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Every service's public URL answers with its own origin's body (else the bench is broken). */
async function checkAll(urls: Map<string, string>, specs: readonly Spec[]): Promise<void> {
  for (const s of specs) {
    const url = urls.get(s.name);
    if (!url) throw new BenchError(`no public URL for ${s.name}`);
    const r = await get(url);
    if (r.got !== `200 ${s.body}`) throw new BenchError(`${s.name} (${url}) answered "${r.got}", expected "200 ${s.body}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Setup of 20 services.

const SERVICE_STEPS = {
  created: /^Created tunnel:/,
  settingUp: /^Setting up tunnel\.\.\./,
  verifying: /^Verifying connectivity\.\.\./,
  ready: /^Tunnel ready after /,
} as const;
type Step = keyof typeof SERVICE_STEPS;

interface Breakdown {
  /** ms since spawn: the group's first line, the agent's endpoint bound, the `Ready: N of N` line. */
  groupLineMs: number | null;
  endpointMs: number | null;
  readyLineMs: number | null;
  /** Per step, over the services: when the first, the median and the last one reached it (ms since spawn). */
  steps: Record<Step, { first: number; median: number; last: number } | null>;
  /** Per service, "Setting up tunnel..." → "Verifying connectivity..." (the wait for Datum's conditions, 750 ms polls), ms. */
  setupWaitMs: { median: number; max: number; over500: number };
  /** Per service, "Verifying connectivity..." → "Tunnel ready" (origin probe, then the public URL), ms. */
  verifyMs: { median: number; max: number };
  /** Setup conditions first seen true only at a later poll (`✓ <step> (≥ 0.5s)`), counted by step: what the slow services waited for. */
  lateConditions: Record<string, number>;
}

function breakdown(up: Up): Breakdown {
  const per = new Map<string, Partial<Record<Step, number>>>();
  let groupLineMs: number | null = null;
  let endpointMs: number | null = null;
  let readyLineMs: number | null = null;
  const lateConditions: Record<string, number> = {};
  for (const { ms, text } of up.stderr.lines) {
    if (groupLineMs === null && /^Group \S+: \d+ services?:/.test(text)) groupLineMs = ms;
    if (endpointMs === null && text.startsWith("Your endpoint ID:")) endpointMs = ms;
    if (readyLineMs === null && /^Ready: \d+ of \d+ services? verified/.test(text)) readyLineMs = ms;
    const m = /^([a-z0-9][a-z0-9-]*): (.*)$/.exec(text);
    if (!m) continue;
    const svc = m[1] as string;
    const late = /^\s*✓ (.+?) \((\d+\.\d)s\)/.exec(m[2] as string);
    if (late && Number(late[2]) >= 0.5) lateConditions[late[1] as string] = (lateConditions[late[1] as string] ?? 0) + 1;
    for (const [step, re] of Object.entries(SERVICE_STEPS) as [Step, RegExp][]) {
      if (!re.test(m[2] as string)) continue;
      const rec = per.get(svc) ?? {};
      rec[step] ??= ms;
      per.set(svc, rec);
    }
  }
  const steps = {} as Breakdown["steps"];
  for (const step of Object.keys(SERVICE_STEPS) as Step[]) {
    const xs = [...per.values()].flatMap((r) => (r[step] === undefined ? [] : [r[step] as number])).sort((a, b) => a - b);
    steps[step] = xs.length === 0 ? null : { first: xs[0] as number, median: round(median(xs), 1), last: xs[xs.length - 1] as number };
  }
  const diffs = (a: Step, b: Step) => [...per.values()].flatMap((r) => (r[a] !== undefined && r[b] !== undefined ? [round((r[b] as number) - (r[a] as number), 1)] : []));
  const wait = diffs("settingUp", "verifying");
  const verify = diffs("verifying", "ready");
  return {
    groupLineMs,
    endpointMs,
    readyLineMs,
    steps,
    setupWaitMs: { median: round(median(wait), 1), max: Math.max(...wait), over500: wait.filter((x) => x > 500).length },
    verifyMs: { median: round(median(verify), 1), max: Math.max(...verify) },
    lateConditions,
  };
}

interface SetupRun {
  /** spawn → run.json phase ready, every service verified (polled every 20 ms). */
  runReadyMs: number;
  /** spawn → the 20th `<name> <url>` line on stdout. */
  stdoutMs: number;
  /** run.json: the group's setupMs, and each service's (min / median / max). */
  setupMs: number | null;
  serviceSetupMs: { min: number; median: number; max: number };
  breakdown: Breakdown;
  /** CPU seconds of the `up` process (all threads) when it had settled, by thread name. */
  cpuS: number | null;
  threadCpuS: Record<string, number>;
  stopMs: number;
  noise: RunNoise;
  noisy: boolean;
}

interface Idle {
  /** Seconds after the check that every URL answers → memory. */
  samples: { atS: number; mem: MemSplit | null }[];
  /** The last sample (≥ 35 s idle). */
  final: MemSplit | null;
  /** At the last sample: RSS MiB by mapping (file name, or [anon] / [heap] / [stack]), those ≥ 0.5 MiB. */
  byMapping: Record<string, number>;
}

/** RSS by mapping from /proc/<pid>/smaps, MiB, largest first; mappings under 0.5 MiB are left out. */
function rssByMapping(pid: number): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return {};
  }
  const kb: Record<string, number> = {};
  let name = "[anon]";
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const path = head[1] ?? "";
      name = path === "" ? "[anon]" : path.startsWith("[") ? path.replace(/^\[(stack|anon):.*\]$/, "[$1]") : (path.split("/").pop() as string);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[name] = (kb[name] ?? 0) + Number(rss[1]);
  }
  return Object.fromEntries(
    Object.entries(kb)
      .filter(([, v]) => v >= 512)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, round(v / 1024, 1)]),
  );
}

async function idleSamples(pid: number): Promise<Idle> {
  const at = [3, 10, 20, 30, 36, P.idleS].filter((s, i, a) => s <= P.idleS && a.indexOf(s) === i);
  const t0 = performance.now();
  const samples: Idle["samples"] = [];
  for (const s of at) {
    const wait = t0 + s * 1000 - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    samples.push({ atS: s, mem: memSplit(pid) });
  }
  return { samples, final: samples[samples.length - 1]?.mem ?? null, byMapping: rssByMapping(pid) };
}

/**
 * One fresh `up` of `n` services; with `idle`, also its idle RSS, and with "group+listen" then one
 * `tunnel listen`'s on the same local Datum.
 */
async function setupRun(
  exe: Exe,
  ports: readonly number[],
  tag: string,
  idle: "none" | "group" | "group+listen",
  n = P.services,
): Promise<{ run: SetupRun; idle?: { group: Idle; listen?: Idle & { readyMs: number } } }> {
  const { dc, env, dir } = await freshDatum(tag);
  try {
    const specs: Spec[] = Array.from({ length: n }, (_, i) => ({ name: `s${i}`, port: ports[i] as number, body: `origin ${i}` }));
    const file = join(dir, "datum-tunnels.yaml");
    writeFileSync(file, groupYaml("bench", specs));
    await Bun.sleep(500); // let the fresh local Datum's start-up work settle before the clock starts
    const gauge = runGauge();
    const up = spawnUp(exe, env, dir, file, "bench");
    const settled = await waitSettled(up, n);
    const noise = gauge.stop();
    const cpuS = cpuSeconds(up.pid);
    const threads = threadCpu(up.pid);
    await checkAll(up.urls, specs);
    const svc = (settled.doc.services ?? []).map((s) => s.setupMs ?? Number.NaN).sort((a, b) => a - b);
    const run: Omit<SetupRun, "stopMs"> = {
      runReadyMs: settled.runReadyMs,
      stdoutMs: settled.stdoutMs,
      setupMs: settled.doc.setupMs,
      serviceSetupMs: { min: svc[0] as number, median: round(median(svc), 1), max: svc[svc.length - 1] as number },
      breakdown: breakdown(up),
      cpuS: cpuS === null ? null : round(cpuS, 2),
      threadCpuS: Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, round(v, 2)])),
      noise,
      noisy: noisy(noise),
    };
    if (idle !== "none") {
      log(`    idle: ${P.idleS} s with ${n} service${n === 1 ? "" : "s"}…`);
      const group = await idleSamples(up.pid);
      const stopMs = await stopUp(up);
      if (idle === "group") return { run: { ...run, stopMs }, idle: { group } };
      // One `tunnel listen` the same way, on this local Datum, with its own state.
      const listenEnv = { ...env, DATUM_CONNECT_DIR: join(dir, "connect-listen") };
      const listen = await startListen(exe, listenEnv, `127.0.0.1:${ports[0]}`, P.settleBudgetMs);
      const answer = await get(listen.url);
      if (answer.got !== "200 origin 0") throw new BenchError(`tunnel listen (${listen.url}) answered "${answer.got}"`);
      log(`    idle: ${P.idleS} s with one tunnel listen…`);
      const single = await idleSamples(listen.pid);
      await stopListen(listen);
      return { run: { ...run, stopMs }, idle: { group, listen: { ...single, readyMs: round(listen.readyMs, 1) } } };
    }
    return { run: { ...run, stopMs: await stopUp(up) } };
  } finally {
    await stopDatum(dc);
  }
}

interface ExeResult {
  exe: string;
  warmup: SetupRun;
  /** Every counted attempt, in order; the quiet ones make the summary. */
  attempts: SetupRun[];
  summary: {
    quietRuns: number;
    over: "quiet runs" | "all runs (too few quiet ones)";
    runReadyMs: { median: number; max: number };
    stdoutMs: { median: number; max: number };
    setupMs: { median: number; max: number };
    /** The same over every attempt, noisy ones included. */
    allRuns: { runReadyMs: { median: number; max: number }; stdoutMs: { median: number; max: number } };
  };
  rssRun: SetupRun;
  idle: { group: Idle; listen: Idle & { readyMs: number } };
}

async function setupSeries(exe: Exe, ports: readonly number[], label: string): Promise<ExeResult> {
  log(`  ${label}: warm-up run`);
  const warmup = (await setupRun(exe, ports, `${label}-warmup`, "none")).run;
  const attempts: SetupRun[] = [];
  for (let i = 0; attempts.filter((a) => !a.noisy).length < P.runs && i < 2 * P.runs; i++) {
    const { run } = await setupRun(exe, ports, `${label}-${i}`, "none");
    attempts.push(run);
    log(
      `  ${label} run ${i + 1}: run.json ready ${Math.round(run.runReadyMs)} ms, ${P.services} url lines ${Math.round(run.stdoutMs)} ms, setupMs ${run.setupMs}; others ${(run.noise.foreignShare * 100).toFixed(0)} %, probe ${run.noise.hostSlowdown}×${run.noisy ? " (noisy: again)" : ""}`,
    );
  }
  log(`  ${label}: idle RSS run`);
  const { run: rssRun, idle } = await setupRun(exe, ports, `${label}-rss`, "group+listen");
  const quiet = attempts.filter((a) => !a.noisy);
  const use = quiet.length >= Math.min(3, P.runs) ? quiet : attempts;
  const mm = (xs: number[]) => ({ median: round(median(xs), 1), max: Math.max(...xs) });
  return {
    exe: exeLabel(exe),
    warmup,
    attempts,
    summary: {
      quietRuns: quiet.length,
      over: use === quiet ? "quiet runs" : "all runs (too few quiet ones)",
      runReadyMs: mm(use.map((r) => r.runReadyMs)),
      stdoutMs: mm(use.map((r) => r.stdoutMs)),
      setupMs: mm(use.map((r) => r.setupMs ?? Number.NaN)),
      allRuns: { runReadyMs: mm(attempts.map((r) => r.runReadyMs)), stdoutMs: mm(attempts.map((r) => r.stdoutMs)) },
    },
    rssRun,
    idle: idle as ExeResult["idle"],
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Reload under traffic.

interface Sample {
  service: string;
  start: number;
  end: number;
  ok: boolean;
  got: string;
}

interface ReloadRun {
  /** The rewrite of the file → run.json's lastReload.seq advanced (includes the watcher's 250 ms settle). */
  reloadMs: number;
  lastReload: NonNullable<NonNullable<RunDoc["group"]>["lastReload"]>;
  setupRunReadyMs: number;
  traffic: {
    clients: number;
    wallS: number;
    requests: number;
    failed: number;
    requestsPerS: number;
    /** Started between the rewrite and the reload's answer. */
    duringReload: { requests: number; failed: number };
    failures: { atMs: number; service: string; got: string }[];
  };
  /** After the reload: the changed service from its new origin, the added one from its own. */
  after: Record<"moved" | "new", { firstTry: string; okAfterMs: number | null }> & { gone: string };
  noise: RunNoise;
}

async function reloadRun(ports: readonly number[], i: number): Promise<ReloadRun> {
  const { dc, env, dir } = await freshDatum(`reload-${i}`);
  try {
    const untouched: Spec[] = Array.from({ length: 19 }, (_, k) => ({ name: `u${k}`, port: ports[k] as number, body: `origin ${k}` }));
    const moved: Spec = { name: "moved", port: ports[19] as number, body: "origin 19" };
    const gone: Spec = { name: "gone", port: ports[20] as number, body: "origin 20" };
    const movedTo: Spec = { name: "moved", port: ports[21] as number, body: "origin 21" };
    const added: Spec = { name: "new", port: ports[22] as number, body: "origin 22" };
    const before = [...untouched, moved, gone];
    const file = join(dir, "datum-tunnels.yaml");
    writeFileSync(file, groupYaml("reload", before));
    await Bun.sleep(500);
    const up = spawnUp(SOURCE, env, dir, file, "reload");
    const settled = await waitSettled(up, before.length);
    await checkAll(up.urls, before);
    const seq0 = settled.doc.group?.lastReload?.seq ?? 0;

    const gauge = runGauge();
    const samples: Sample[] = [];
    let stop = false;
    const t0 = performance.now();
    const loops = Array.from({ length: P.clients }, async (_, c) => {
      for (let k = c; !stop; k++) {
        const s = untouched[k % untouched.length] as Spec;
        const start = performance.now();
        const r = await get(up.urls.get(s.name) as string);
        samples.push({ service: s.name, start, end: performance.now(), ok: r.got === `200 ${s.body}`, got: r.got });
      }
    });
    const warm = performance.now() + 10_000;
    while (performance.now() < warm && (performance.now() - t0 < 1_000 || samples.filter((s) => s.ok).length < 20)) await Bun.sleep(20);

    const tWrite = performance.now();
    writeFileSync(file, groupYaml("reload", [...untouched, movedTo, added]));
    let doc: RunDoc | undefined;
    for (;;) {
      const d = readRun(up.runPath);
      if ((d?.group?.lastReload?.seq ?? 0) > seq0) {
        doc = d;
        break;
      }
      if (up.proc.exitCode !== null || performance.now() - tWrite > P.reloadBudgetMs) {
        stop = true;
        await Promise.all(loops);
        throw new BenchError(`the reload was not answered within ${P.reloadBudgetMs / 1000} s:\n${tail(up)}`);
      }
      await Bun.sleep(20);
    }
    const tAnswered = performance.now();
    await Bun.sleep(P.afterReloadMs);
    stop = true;
    await Promise.all(loops);
    const wallS = (performance.now() - t0) / 1000;
    const noise = gauge.stop();

    const lastReload = (doc as RunDoc).group?.lastReload as ReloadRun["lastReload"];
    const urlOf = (name: string): string | undefined => up.urls.get(name) ?? (doc as RunDoc).services?.find((s) => s.name === name)?.publicUrls[0];
    const afterCheck = async (s: Spec) => {
      const url = urlOf(s.name);
      if (!url) return { firstTry: "no public URL", okAfterMs: null };
      const tc = performance.now();
      const first = await get(url);
      let ok = first.got === `200 ${s.body}`;
      while (!ok && performance.now() - tc < 15_000) {
        await Bun.sleep(100);
        ok = (await get(url)).got === `200 ${s.body}`;
      }
      return { firstTry: first.got, okAfterMs: ok ? round(performance.now() - tc, 0) : null };
    };
    const after = { moved: await afterCheck(movedTo), new: await afterCheck(added), gone: (await get(up.urls.get("gone") as string)).got };
    await stopUp(up);

    const failed = samples.filter((s) => !s.ok);
    const during = samples.filter((s) => s.start >= tWrite && s.start < tAnswered);
    return {
      reloadMs: round(tAnswered - tWrite, 0),
      lastReload,
      setupRunReadyMs: settled.runReadyMs,
      traffic: {
        clients: P.clients,
        wallS: round(wallS, 2),
        requests: samples.length,
        failed: failed.length,
        requestsPerS: round(samples.length / wallS, 0),
        duringReload: { requests: during.length, failed: during.filter((s) => !s.ok).length },
        failures: failed.slice(0, 20).map((s) => ({ atMs: round(s.start - tWrite, 0), service: s.service, got: s.got })),
      },
      after,
      noise,
    };
  } finally {
    await stopDatum(dc);
  }
}

// ---------------------------------------------------------------------------------------------

function gitFacts(): { commit: string; srcChanges: string[] } {
  const run = (args: string[]) => Bun.spawnSync(["git", ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" }).stdout.toString().trim();
  return {
    commit: run(["rev-parse", "--short", "HEAD"]),
    // Other work in progress in this checkout runs too (the bench runs src/ as it is on disk).
    srcChanges: run(["status", "--porcelain", "--", "src"]).split("\n").filter((l) => l !== ""),
  };
}

async function bench(): Promise<Record<string, unknown>> {
  const started = new Date();
  const loadBefore = load();
  const m = machine();
  const probeMs = warmSpeedProbe();
  for (let i = 0; i < 5; i++) nativeProbe();
  const nativeProbeMs = round(fastestNativeMs, 3);
  log(`bench/group.ts: ${m.cpuModel} × ${m.nproc}, bun ${m.bun}; load ${loadBefore.join(" ")}`);
  if (process.env.DATUM_CONNECT_IN_NETNS !== "1") log("note: not inside scripts/netns.sh (no loopback-only namespace)");

  let build: Build | null = null;
  let buildNote: string | null = null;
  let compiled: Exe | null = null;
  if (typeof values.exe === "string") {
    compiled = [values.exe];
    buildNote = `--exe ${values.exe}`;
  } else if (values["no-build"] !== true) {
    log("  build: scripts/build.ts --targets host --no-archives");
    try {
      build = await buildHost(join(root, "dist"), false, isolatedEnv(join(root, "build-home")));
      compiled = [build.executable];
    } catch (err) {
      buildNote = err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
      log(`  note: no compiled executable (${buildNote}); compiled figures are skipped`);
    }
  } else buildNote = "--no-build";

  const ports = await startOrigins(Math.max(23, P.services, ...P.scale));
  log(`  origins: ${ports.length} ports (PID ${originPid})`);

  log(`setup: ${P.services} services in one tunnel up, ${P.runs} runs per executable`);
  const setup: Record<string, ExeResult> = {};
  setup.source = await setupSeries(SOURCE, ports, "source");
  if (compiled) setup.compiled = await setupSeries(compiled, ports, "compiled");

  // Idle RSS by group size (from source): what each service adds.
  const scale: { services: number; runReadyMs: number; idle: Idle }[] = [];
  if (P.scale.length > 0) log(`idle RSS by group size (source): ${P.scale.join(", ")} services`);
  for (const n of P.scale) {
    const { run, idle } = await setupRun(SOURCE, ports, `scale-${n}`, "group", n);
    scale.push({ services: n, runReadyMs: run.runReadyMs, idle: (idle as { group: Idle }).group });
  }
  const at20 = setup.source?.idle.group;
  if (at20 && P.scale.length > 0) scale.push({ services: P.services, runReadyMs: setup.source?.rssRun.runReadyMs as number, idle: at20 });
  scale.sort((a, b) => a.services - b.services);

  log(`reload under traffic: ${P.reloadRuns} runs, ${P.clients} client loops`);
  const reloads: ReloadRun[] = [];
  for (let i = 0; i < P.reloadRuns; i++) {
    const r = await reloadRun(ports, i);
    reloads.push(r);
    log(
      `  reload ${i + 1}: answered after ${r.reloadMs} ms (${JSON.stringify({ added: r.lastReload.added, removed: r.lastReload.removed, changed: r.lastReload.changed, ok: r.lastReload.ok })}); ${r.traffic.requests} requests (${r.traffic.duringReload.requests} during the reload), ${r.traffic.failed} failed; moved ${r.after.moved.firstTry}, new ${r.after.new.firstTry}`,
    );
  }

  return {
    bench: "bench/group.ts",
    date: started.toISOString(),
    command:
      process.env.npm_lifecycle_event === "bench:group"
        ? `npm run bench:group${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`
        : `sh scripts/netns.sh ./node_modules/.bin/bun bench/group.ts ${process.argv.slice(2).join(" ")}`.trim(),
    netns: process.env.DATUM_CONNECT_IN_NETNS === "1",
    machine: m,
    git: gitFacts(),
    loadavg: { before: loadBefore, after: load() },
    params: { ...P, noiseLimit: NOISE_LIMIT, slowdownLimit: SLOWDOWN_LIMIT },
    speedProbeMs: probeMs,
    nativeProbeMs,
    build: build ? { ...build, executable: `<tmp>/${relative(root, build.executable)}` } : { skipped: buildNote },
    setup,
    scale,
    reloads,
  };
}

// ---------------------------------------------------------------------------------------------
// Report.

const MB = (mib: number): number => round(mib * 1.048576, 1);

interface TargetRow {
  target: string;
  measured: string;
  met: boolean;
}

function targets(r: any): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const [k, e] of Object.entries(r.setup as Record<string, ExeResult>)) {
    rows.push({
      target: `${P.services} services verified ≤ ${P.targets.setupMs / 1000} s (${k}, max of ${e.summary.over})`,
      measured: `run.json ready ${e.summary.runReadyMs.median} ms median, ${e.summary.runReadyMs.max} max; stdout lines ${e.summary.stdoutMs.median} / ${e.summary.stdoutMs.max} ms`,
      met: e.summary.runReadyMs.max <= P.targets.setupMs && e.summary.stdoutMs.max <= P.targets.setupMs,
    });
    const g = e.idle.group.final;
    rows.push({
      target: `idle RSS of the ${P.services}-service group ≤ ${P.targets.idleRssMB} MB (${k})`,
      measured: g ? `${MB(g.rssMiB)} MB (${g.rssMiB} MiB) after ${P.idleS} s idle` : "process gone",
      met: g !== null && MB(g.rssMiB) <= P.targets.idleRssMB,
    });
  }
  const reloads = r.reloads as ReloadRun[];
  if (reloads.length > 0) {
    const failed = reloads.reduce((a, x) => a + x.traffic.failed, 0);
    const afterOk = reloads.every((x) => x.after.moved.okAfterMs !== null && x.after.new.okAfterMs !== null);
    rows.push({
      target: "reload under traffic: 0 failed requests on the untouched services; added and changed answer after",
      measured: `${failed} failed of ${reloads.reduce((a, x) => a + x.traffic.requests, 0)} (${reloads.length} reloads); added/changed answered: ${afterOk ? "yes" : "no"}`,
      met: failed === P.targets.reloadFailures && afterOk,
    });
  }
  return rows;
}

function table(r: any): string {
  const lines: string[] = [];
  const setup = r.setup as Record<string, ExeResult>;
  const keys = Object.keys(setup);
  lines.push(`| measure | ${keys.join(" | ")} |`, `|---|${keys.map(() => "---:").join("|")}|`);
  const row = (label: string, f: (e: ExeResult) => string) => lines.push(`| ${label} | ${keys.map((k) => f(setup[k] as ExeResult)).join(" | ")} |`);
  row(`spawn → run.json ready, ${P.services} verified: median / max ms`, (e) => `${e.summary.runReadyMs.median} / ${e.summary.runReadyMs.max}`);
  row(`spawn → ${P.services}th url line on stdout: median / max ms`, (e) => `${e.summary.stdoutMs.median} / ${e.summary.stdoutMs.max}`);
  row("run.json setupMs: median / max", (e) => `${e.summary.setupMs.median} / ${e.summary.setupMs.max}`);
  row("quiet runs (of attempts)", (e) => `${e.summary.quietRuns} of ${e.attempts.length}`);
  row("every attempt, noisy ones too: run.json ready median / max ms", (e) => `${e.summary.allRuns.runReadyMs.median} / ${e.summary.allRuns.runReadyMs.max}`);
  const med = (e: ExeResult, f: (b: Breakdown) => number | null | undefined) => round(median(e.attempts.map((a) => f(a.breakdown) ?? Number.NaN)), 0);
  row("ms since spawn (medians): group line / endpoint bound / first created / last created", (e) =>
    `${med(e, (b) => b.groupLineMs)} / ${med(e, (b) => b.endpointMs)} / ${med(e, (b) => b.steps.created?.first)} / ${med(e, (b) => b.steps.created?.last)}`,
  );
  row("… last setting up / last verifying / last ready / Ready line", (e) =>
    `${med(e, (b) => b.steps.settingUp?.last)} / ${med(e, (b) => b.steps.verifying?.last)} / ${med(e, (b) => b.steps.ready?.last)} / ${med(e, (b) => b.readyLineMs)}`,
  );
  row("services waiting > 500 ms for Datum's conditions (median of runs)", (e) => String(median(e.attempts.map((a) => a.breakdown.setupWaitMs.over500))));
  row("CPU s of the up process at settle (median)", (e) => String(round(median(e.attempts.map((a) => a.cpuS ?? Number.NaN)), 2)));
  row(`group idle RSS after ${P.idleS} s: MiB (anon + file), threads`, (e) => {
    const g = e.idle.group.final;
    return g ? `${g.rssMiB} (${g.anonMiB} + ${g.fileMiB}), ${g.threads}` : "-";
  });
  row(`one tunnel listen idle RSS after ${P.idleS} s: MiB (anon + file)`, (e) => {
    const g = e.idle.listen.final;
    return g ? `${g.rssMiB} (${g.anonMiB} + ${g.fileMiB})` : "-";
  });
  row("RSS series, group: MiB at 3 / 10 / 20 / 30 / 36 / … s", (e) => e.idle.group.samples.map((s) => s.mem?.rssMiB ?? "-").join(" / "));
  row("RSS series, one listen", (e) => e.idle.listen.samples.map((s) => s.mem?.rssMiB ?? "-").join(" / "));
  const scale = r.scale as { services: number; idle: Idle }[];
  if (scale.length > 0) {
    lines.push("", `| services in the group (source) | ${scale.map((x) => x.services).join(" | ")} |`, `|---|${scale.map(() => "---:").join("|")}|`);
    lines.push(`| idle RSS after ${P.idleS} s, MiB | ${scale.map((x) => x.idle.final?.rssMiB ?? "-").join(" | ")} |`);
    lines.push(`| … anonymous / file-backed | ${scale.map((x) => `${x.idle.final?.anonMiB ?? "-"} / ${x.idle.final?.fileMiB ?? "-"}`).join(" | ")} |`);
  }
  const reloads = r.reloads as ReloadRun[];
  if (reloads.length > 0) {
    lines.push("", "| reload run | answered after ms | requests (during reload) | failed | req/s | moved / new after |", "|---|---:|---:|---:|---:|---|");
    reloads.forEach((x, i) =>
      lines.push(
        `| ${i + 1} | ${x.reloadMs} | ${x.traffic.requests} (${x.traffic.duringReload.requests}) | ${x.traffic.failed} | ${x.traffic.requestsPerS} | ${x.after.moved.firstTry} / ${x.after.new.firstTry} |`,
      ),
    );
  }
  return lines.join("\n");
}

async function cleanup(): Promise<void> {
  for (const dc of clouds) await dc.stop().catch(() => undefined);
  if (originPid !== undefined) await endPid(originPid, 2_000);
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
r.durationS = round((performance.now() - t00) / 1000, 1);
r.loadavg.after = load();
r.targets = targets(r);
r.table = table(r);
const dir = join(import.meta.dir, "results");
mkdirSync(dir, { recursive: true });
const stem = `${(r.date as string).slice(0, 10)}-${machineTag(r.machine.cpuModel, r.machine.nproc)}-group`;
let file = values.out ? String(values.out) : join(dir, `${stem}.json`);
if (!values.out) for (let k = 2; existsSync(file); k++) file = join(dir, `${stem}-${k}.json`);
writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
process.stdout.write(`\n${r.table}\n\n| target | measured | met? |\n|---|---|---|\n`);
for (const t of r.targets as TargetRow[]) process.stdout.write(`| ${t.target} | ${t.measured} | ${t.met ? "met" : "missed"} |\n`);
process.stdout.write(
  `\nMachine: ${r.machine.cpuModel}, nproc ${r.machine.nproc}, Linux ${r.machine.kernel}, bun ${r.machine.bun}; load ${r.loadavg.before[0]} → ${r.loadavg.after[0]}; ${r.durationS} s.\nResult: ${relative(REPO_ROOT, file)}\n`,
);
process.exit(0);
