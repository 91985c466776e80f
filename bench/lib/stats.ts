/**
 * Statistics and machine facts shared by the benchmarks: nearest-rank percentiles, the machine's
 * description, and a noise gauge that tells our own CPU use from everyone else's.
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export const round = (n: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, min: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  return {
    n: s.length,
    min: round(s[0] as number),
    p50: round(percentile(s, 50)),
    p90: round(percentile(s, 90)),
    p99: round(percentile(s, 99)),
    max: round(s[s.length - 1] as number),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m ? (m[1] as string).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

/** `amd-epyc-2c`: a few words of the CPU model and the core count, for result file names. */
export function machineTag(model: string, cores: number): string {
  const words = model
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|@.*$|\bcpu\b|\bprocessor\b|\d+-core/g, " ")
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
  return [...words.slice(0, 3), `${cores}c`].join("-");
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  kernel: string;
  memGiB: number;
  bun: string;
  openssh: string | null;
  /** `ulimit -n` soft/hard of the bench process (its children inherit it). */
  nofile: { soft: number | null; hard: number | null };
}

export function nofileLimits(): { soft: number | null; hard: number | null } {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    const n = (s: string | undefined): number | null => (s === undefined || s === "unlimited" ? null : Number(s));
    return { soft: n(m?.[1]), hard: n(m?.[2]) };
  } catch {
    return { soft: null, hard: null };
  }
}

export function machine(): Machine {
  let openssh: string | null = null;
  try {
    const r = Bun.spawnSync(["ssh", "-V"], { stdout: "pipe", stderr: "pipe" });
    openssh = (r.stderr.toString() + r.stdout.toString()).trim().split("\n")[0] ?? null;
  } catch {
    openssh = null;
  }
  return {
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    kernel: release(),
    memGiB: round(totalmem() / 1024 ** 3, 1),
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    openssh,
    nofile: nofileLimits(),
  };
}

export const load = (): number[] => loadavg().map((x) => round(x, 2));

// ---------------------------------------------------------------------------------------------
// Noise: how much CPU did processes other than ours use while a measurement ran?

const TICK_S = 0.01; // CLK_TCK is 100 on Linux

function machineBusyTicks(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] as string;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
}

interface ProcTicks {
  ppid: number;
  own: number;
  children: number;
}

function procTicks(pid: number): ProcTicks | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // f[0] = state (field 3); utime = field 14 → f[11]
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** Every live process whose ancestry reaches `root` (and `root` itself), with its CPU ticks. */
function treeTicks(root: number, extra: ReadonlySet<number>): Map<number, number> {
  const all = new Map<number, ProcTicks>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const t = procTicks(Number(name));
    if (t) all.set(Number(name), t);
  }
  const ours = new Map<number, number>();
  const isOurs = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === root || extra.has(p)) return true;
      p = all.get(p)?.ppid ?? 0;
    }
    return false;
  };
  for (const [pid, t] of all) if (isOurs(pid)) ours.set(pid, t.own + (pid === root ? t.children : 0));
  return ours;
}

// ---------------------------------------------------------------------------------------------
// A CPU speed probe: a fixed integer workload, timed. On a virtual machine the host's own load
// slows every vCPU without showing in the guest's /proc/stat (steal reads 0 here), so the probe,
// taken before and after each measurement, is compared with the fastest one seen in the run.

let sink = 0;
let fastestProbeMs = Number.POSITIVE_INFINITY;

export function speedProbe(): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    let x = r;
    for (let i = 0; i < 10_000_000; i++) x = (x + Math.imul(i, 2654435761)) | 0;
    sink ^= x;
    best = Math.min(best, performance.now() - t0);
  }
  fastestProbeMs = Math.min(fastestProbeMs, best);
  return best;
}

/** Call once at start: the JIT settles, and the first fastest probe is taken on an idle machine. */
export function warmSpeedProbe(): number {
  for (let i = 0; i < 10; i++) speedProbe();
  void sink;
  return round(fastestProbeMs, 3);
}

export interface Noise {
  wallS: number;
  machineCpuS: number;
  oursCpuS: number;
  /** CPU seconds used by processes that are not ours (other engineers' tests, say). */
  foreignCpuS: number;
  /** foreignCpuS / (wallS × nproc): the share of the machine others took. */
  foreignShare: number;
  /** The slower of the speed probes before and after, over the fastest probe of the run (1 = full speed). */
  cpuSlowdown: number;
  loadavg: { before: number[]; after: number[] };
}

/**
 * Daemons we started detach from our process tree (`listen --detach` starts a new session and is
 * re-parented), so they are registered here to count as ours.
 */
export const adoptedPids = new Set<number>();

export function noiseGauge(): { stop(): Noise } {
  const probe0 = speedProbe();
  const t0 = performance.now();
  const busy0 = machineBusyTicks();
  const ours0 = treeTicks(process.pid, adoptedPids);
  const load0 = load();
  return {
    stop(): Noise {
      const wallS = (performance.now() - t0) / 1000;
      const busy = (machineBusyTicks() - busy0) * TICK_S;
      const ours1 = treeTicks(process.pid, adoptedPids);
      let oursTicks = 0;
      for (const [pid, t1] of ours1) oursTicks += t1 - (ours0.get(pid) ?? 0);
      const oursS = oursTicks * TICK_S;
      const foreign = Math.max(0, busy - oursS);
      const nproc = availableParallelism();
      const probe1 = speedProbe();
      return {
        wallS: round(wallS, 2),
        machineCpuS: round(busy, 2),
        oursCpuS: round(oursS, 2),
        foreignCpuS: round(foreign, 2),
        foreignShare: round(wallS > 0 ? foreign / (wallS * nproc) : 0, 3),
        cpuSlowdown: round(Math.max(probe0, probe1) / fastestProbeMs, 2),
        loadavg: { before: load0, after: load() },
      };
    },
  };
}
