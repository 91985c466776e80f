/**
 * The measurements, each against one path (a `Target`): sequential latency (fresh connections or
 * one kept-alive connection), concurrency (N connections × M requests), held connections, and
 * bulk transfers with the agent's CPU time.
 */
import { availableParallelism } from "node:os";
import { BenchError, cpuSeconds, threadCpu, diffThreads } from "./procs.ts";
import { freshRequest, HttpConn, type Target } from "./http-client.ts";
import { round, summarize, type Summary } from "./stats.ts";

const MiB = 1024 * 1024;

export interface Expect {
  status: number;
  text: string;
}
const OK: Expect = { status: 200, text: "ok" };

function check(r: { status: number; text: string }, what: string, expect: Expect): void {
  if (r.status !== expect.status || r.text !== expect.text) throw new BenchError(`${what}: HTTP ${r.status} ${r.text.slice(0, 120)}`);
}

export interface LatencyResult {
  mode: "fresh" | "keepalive";
  requests: number;
  warmup: number;
  ms: Summary;
}

/** `n` sequential `GET /small`, after `warmup` of the same; ms per request (connect included when fresh). */
export async function latencySeries(target: Target, mode: "fresh" | "keepalive", n: number, warmup: number, expect: Expect = OK): Promise<LatencyResult> {
  const times: number[] = [];
  if (mode === "fresh") {
    for (let i = 0; i < warmup + n; i++) {
      const t0 = performance.now();
      const r = await freshRequest(target, "/small");
      const ms = performance.now() - t0;
      check(r, "GET /small (fresh connection)", expect);
      if (i >= warmup) times.push(ms);
    }
  } else {
    const conn = await HttpConn.open(target);
    try {
      for (let i = 0; i < warmup + n; i++) {
        const t0 = performance.now();
        const r = await conn.request(target, "/small");
        const ms = performance.now() - t0;
        check(r, "GET /small (keep-alive)", expect);
        if (i >= warmup) times.push(ms);
      }
    } finally {
      conn.destroy();
    }
  }
  return { mode, requests: n, warmup, ms: summarize(times) };
}

export interface ConcurrencyResult {
  connections: number;
  requestsPerConnection: number;
  ok: number;
  errors: number;
  errorSamples: string[];
  wallMs: number;
  reqPerS: number;
  /** Per request, after its connection is open. */
  ms: Summary;
}

/** `conns` connections at once, each doing `perConn` sequential keep-alive requests. */
export async function concurrency(target: Target, conns: number, perConn: number, timeoutMs = 30_000): Promise<ConcurrencyResult> {
  const times: number[] = [];
  const errors: string[] = [];
  let ok = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conns }, async () => {
      let conn: HttpConn | undefined;
      try {
        conn = await HttpConn.open(target);
        for (let i = 0; i < perConn; i++) {
          const s = performance.now();
          const r = await conn.request(target, "/small", { timeoutMs });
          times.push(performance.now() - s);
          if (r.status === 200 && r.text === "ok") ok++;
          else errors.push(`HTTP ${r.status}`);
        }
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      } finally {
        conn?.destroy();
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const total = conns * perConn;
  return {
    connections: conns,
    requestsPerConnection: perConn,
    ok,
    errors: total - ok,
    errorSamples: [...new Set(errors)].slice(0, 5),
    wallMs: round(wallMs, 1),
    reqPerS: round(ok / (wallMs / 1000), 0),
    ms: summarize(times),
  };
}

export interface HeldResult {
  connections: number;
  holdS: number;
  connectFailures: number;
  /** Connections the far side closed while they were held idle. */
  closedWhileHeld: number;
  requestFailures: number;
  /** connect + closed-while-held + request failures. */
  failures: number;
  failureSamples: string[];
  connectWallMs: number;
  /** The burst: one request on every held connection, all at once. */
  burstWallMs: number;
  burstMs: Summary;
}

export interface HeldConnections {
  target: Target;
  conns: HttpConn[];
  connectFailures: number;
  failures: string[];
  connectWallMs: number;
  /** performance.now() once every connection was open. */
  openedAt: number;
}

/** Open `n` connections (`batch` connects at a time: a listen backlog is 128 on some paths) and keep them idle. */
export async function openHeld(target: Target, n: number, batch = 100): Promise<HeldConnections> {
  const conns: HttpConn[] = [];
  const failures: string[] = [];
  let connectFailures = 0;
  const c0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const opened = await Promise.allSettled(Array.from({ length: Math.min(batch, n - i) }, () => HttpConn.open(target, 15_000)));
    for (const o of opened) {
      if (o.status === "fulfilled") conns.push(o.value);
      else {
        connectFailures++;
        failures.push(`connect: ${o.reason instanceof Error ? o.reason.message : String(o.reason)}`);
      }
    }
  }
  const openedAt = performance.now();
  return { target, conns, connectFailures, failures, connectWallMs: round(openedAt - c0, 1), openedAt };
}

/**
 * Once the connections have been held `holdS` seconds (counted from when the last one opened),
 * count those the far side closed meanwhile, then send one request on each open one, all at
 * once, call `afterBurst` (every connection still open and idle), and close them all.
 */
export async function finishHeld(h: HeldConnections, holdS: number, afterBurst?: () => void): Promise<HeldResult> {
  try {
    const wait = h.openedAt + holdS * 1000 - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const heldS = round((performance.now() - h.openedAt) / 1000, 1);
    const failures = [...h.failures];
    const closedWhileHeld = h.conns.filter((c) => c.closed).length;
    if (closedWhileHeld > 0) failures.push(`${closedWhileHeld} closed while held`);
    const live = h.conns.filter((c) => !c.closed);
    const times: number[] = [];
    let requestFailures = 0;
    const b0 = performance.now();
    await Promise.all(
      live.map(async (c) => {
        const s = performance.now();
        try {
          const r = await c.request(h.target, "/small", { timeoutMs: 30_000 });
          times.push(performance.now() - s);
          if (r.status !== 200 || r.text !== "ok") {
            requestFailures++;
            failures.push(`HTTP ${r.status}`);
          }
        } catch (err) {
          requestFailures++;
          failures.push(err instanceof Error ? err.message : String(err));
        }
      }),
    );
    const burstWallMs = performance.now() - b0;
    afterBurst?.(); // every connection still open, each with its answered request (a kept-alive, idle stream)
    return {
      connections: h.conns.length + h.connectFailures,
      holdS: heldS,
      connectFailures: h.connectFailures,
      closedWhileHeld,
      requestFailures,
      failures: h.connectFailures + closedWhileHeld + requestFailures,
      failureSamples: [...new Set(failures)].slice(0, 5),
      connectWallMs: h.connectWallMs,
      burstWallMs: round(burstWallMs, 1),
      burstMs: summarize(times),
    };
  } finally {
    for (const c of h.conns) c.destroy();
  }
}

/** `n` connections held `holdS` seconds, then one request each (see openHeld / finishHeld). */
export async function held(target: Target, n: number, holdS: number, batch = 100, afterBurst?: () => void): Promise<HeldResult> {
  return finishHeld(await openHeld(target, n, batch), holdS, afterBurst);
}

export interface TransferRun {
  mibps: number;
  ms: number;
  /** CPU seconds of each watched process during this transfer. */
  cpuS: Record<string, number>;
}

export interface TransferResult {
  direction: "download" | "upload";
  mib: number;
  runs: TransferRun[];
  best: number;
  median: number;
  /** Σ CPU seconds / Σ MiB over the measured runs, per watched process. */
  cpuSPerMiB: Record<string, number>;
  /** Per thread name of the agent process, CPU seconds over all measured runs. */
  agentThreads: Record<string, number>;
  /**
   * Σ of cpuSPerMiB over every watched process (client, origin, agent, server): what one MiB costs
   * the machine; `nproc / that` is the most this path could move with every core busy.
   */
  totalCpuSPerMiB: number;
  cpuBoundMibps: number;
}

/**
 * `runs` transfers of `mib` MiB (after one warm-up), each on a fresh connection; CPU time of every
 * `watch`ed process (name → pid) read from /proc before and after each run.
 */
export async function transfer(
  target: Target,
  direction: "download" | "upload",
  mib: number,
  runs: number,
  watch: Record<string, readonly number[]>,
  agentPid: number | null,
  /** Runs before each measured transfer, outside its timing and CPU accounting (a paired ceiling run). */
  before?: (run: number) => Promise<void>,
): Promise<TransferResult> {
  const once = async (): Promise<{ ms: number }> => {
    const t0 = performance.now();
    const r =
      direction === "download"
        ? await freshRequest(target, `/big?mib=${mib}`, { timeoutMs: 120_000 })
        : await freshRequest(target, "/sink", { upload: mib * MiB, timeoutMs: 120_000 });
    const ms = performance.now() - t0;
    if (r.status !== 200) throw new BenchError(`${direction} ${mib} MiB: HTTP ${r.status}`);
    if (direction === "download" && r.bytes !== mib * MiB) throw new BenchError(`download: ${r.bytes} bytes, expected ${mib * MiB}`);
    if (direction === "upload" && r.text !== String(mib * MiB)) throw new BenchError(`upload: the origin counted ${r.text}, expected ${mib * MiB}`);
    return { ms };
  };
  await once(); // warm-up
  const out: TransferRun[] = [];
  const agentThreadsAcc: Record<string, number> = {};
  for (let i = 0; i < runs; i++) {
    if (before) await before(i);
    const cpuOf = (pids: readonly number[]): number => pids.reduce((a, pid) => a + (cpuSeconds(pid) ?? 0), 0);
    const cpu0 = Object.fromEntries(Object.entries(watch).map(([k, pids]) => [k, cpuOf(pids)]));
    const threads0 = agentPid !== null ? threadCpu(agentPid) : {};
    const { ms } = await once();
    if (agentPid !== null) for (const [k, v] of Object.entries(diffThreads(threads0, threadCpu(agentPid)))) agentThreadsAcc[k] = round((agentThreadsAcc[k] ?? 0) + v, 2);
    const cpuS = Object.fromEntries(Object.entries(watch).map(([k, pids]) => [k, round(cpuOf(pids) - (cpu0[k] ?? 0), 2)]));
    out.push({ mibps: round(mib / (ms / 1000), 1), ms: round(ms, 1), cpuS });
  }
  const agentThreads = agentThreadsAcc;
  const speeds = out.map((r) => r.mibps).sort((a, b) => a - b);
  const cpuSPerMiB: Record<string, number> = {};
  for (const k of Object.keys(watch)) cpuSPerMiB[k] = round(out.reduce((a, r) => a + (r.cpuS[k] ?? 0), 0) / (mib * runs), 4);
  const totalCpuSPerMiB = round(Object.values(cpuSPerMiB).reduce((a, b) => a + b, 0), 4);
  return {
    direction,
    mib,
    totalCpuSPerMiB,
    cpuBoundMibps: totalCpuSPerMiB > 0 ? round(availableParallelism() / totalCpuSPerMiB, 0) : Number.NaN,
    runs: out,
    best: speeds[speeds.length - 1] as number,
    median: round(speeds.length % 2 ? (speeds[(speeds.length - 1) / 2] as number) : ((speeds[speeds.length / 2 - 1] as number) + (speeds[speeds.length / 2] as number)) / 2, 1),
    cpuSPerMiB,
    agentThreads,
  };
}
