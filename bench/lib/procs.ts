/**
 * Processes the benchmark starts, and what /proc says about them: CPU time (all threads, and per
 * thread), RSS, and a sampler for peak RSS. Everything started here is remembered and ended by PID.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { adoptedPids } from "./stats.ts";

export class BenchError extends Error {}

const TICK_S = 0.01;

/** Every child we spawned and every daemon we adopted, so cleanup ends exactly those, by PID. */
export const running = new Set<Subprocess>();
export const daemons = new Set<number>();

export function track<T extends Subprocess>(proc: T): T {
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  return proc;
}

export function adopt(pid: number): void {
  daemons.add(pid);
  adoptedPids.add(pid);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (alive(pid)) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(20);
  }
  return true;
}

/** SIGTERM, then SIGKILL after `graceMs`: only for processes we started. */
export async function endPid(pid: number, graceMs = 5_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  if (!(await waitGone(pid, graceMs))) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    await waitGone(pid, 2_000);
  }
}

export async function endAll(): Promise<void> {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
  await Promise.all([
    Promise.race([Promise.all([...running].map((p) => p.exited)), Bun.sleep(8_000)]),
    ...[...daemons].map((pid) => endPid(pid)),
  ]);
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
}

// ---------------------------------------------------------------------------------------------

function statFields(path: string): string[] | undefined {
  try {
    const text = readFileSync(path, "utf8");
    return [text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")), ...text.slice(text.lastIndexOf(")") + 2).split(" ")];
  } catch {
    return undefined;
  }
}

/** utime+stime of a whole process (every thread), in seconds; null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  const f = statFields(`/proc/${pid}/stat`);
  if (!f) return null;
  // f[0] = comm, f[1] = state (field 3) → utime (field 14) = f[12], stime = f[13]
  return (Number(f[12]) + Number(f[13])) * TICK_S;
}

/**
 * CPU seconds per thread, grouped by thread name (`comm`): the JS thread of the main isolate is
 * named after the executable (`bun`), Bun names worker threads, and iroh's tokio runtime threads
 * are `tokio-runtime-w` (or similar). Lets a report say how much went to JS vs the Rust side.
 */
export function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  let live = 0;
  for (const tid of tids) {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    if (!f) continue;
    const name = tid === String(pid) ? `main(${f[0]})` : (f[0] as string);
    const cpu = (Number(f[12]) + Number(f[13])) * TICK_S;
    out[name] = (out[name] ?? 0) + cpu;
    live += cpu;
  }
  // Threads that have ended still count in the process total.
  const total = cpuSeconds(pid);
  if (total !== null) out["(ended threads)"] = Math.max(0, total - live);
  return out;
}

export function diffThreads(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = Math.round((v - (a[k] ?? 0)) * 100) / 100;
    if (d > 0) out[k] = d;
  }
  return out;
}

/** VmRSS in MiB, or null once the process is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

export interface MemSplit {
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  threads: number;
}

/** VmRSS split into anonymous (heaps) and file-backed (executable, libraries) pages, from /proc/<pid>/status. */
export function memSplit(pid: number): MemSplit | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? "0");
    const mib = (n: number): number => Math.round((n / 1024) * 10) / 10;
    return { rssMiB: mib(kb("VmRSS")), anonMiB: mib(kb("RssAnon")), fileMiB: mib(kb("RssFile")), threads: kb("Threads") };
  } catch {
    return null;
  }
}

/** Sample RSS every `everyMs` until stopped; reports the peak. */
export function rssSampler(pids: readonly number[], everyMs = 50): { stop(): Record<number, number> } {
  const peak: Record<number, number> = {};
  const take = (): void => {
    for (const pid of pids) {
      const rss = rssMiB(pid);
      if (rss !== null) peak[pid] = Math.max(peak[pid] ?? 0, rss);
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}

/** Direct children of `pid` (from /proc), e.g. sshd's per-connection processes. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(`/proc/${name}/stat`);
    if (f && Number(f[2]) === pid) out.push(Number(name));
  }
  return out;
}

export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 10_000) {
    const p = queue.shift() as number;
    for (const c of childrenOf(p)) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

export async function collect(stream: ReadableStream<Uint8Array>, into: { text: string }, onText?: () => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    into.text += decoder.decode(chunk, { stream: true });
    onText?.();
  }
}

/** Run a command to completion (bounded), return its exit code, output and wall time. */
export async function runTimed(
  argv: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  const proc = track(
    Bun.spawn(argv, {
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: "SIGKILL",
    }),
  );
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr, ms: performance.now() - t0 };
}
