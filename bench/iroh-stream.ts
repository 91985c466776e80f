/**
 * The iroh-js ceiling for one bi-stream, with the data plane's own conversion code
 * (`IrohByteStream`): N MiB between a worker thread and the main thread, no HTTP, no TCP. Run it
 * next to the tunnel to see how much of the tunnel's cost is iroh-js marshaling.
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/iroh-stream.ts [MiB] [--runs N] [--direction down|up|both] [--json [--no-raw] [--only-stream]]
 *
 * `down` = worker → main (a download: the ListenNode worker sends), `up` = main → worker.
 * With `--json` (what bench/peers.ts uses) it prints one JSON document and also measures:
 *   - where the sender's time goes, per chunk: `toIrohBytes` (our Uint8Array → number[] loop),
 *     the synchronous part of `writeAll` (NAPI copying the number[] into a Rust Vec, element by
 *     element) and the rest of the await (QUIC, flow control, the thread hop);
 *   - the receiver's `fromIrohBytes` (number[] → Uint8Array);
 *   - a `raw` run: the same transfer with no JS-side conversion at all (a prebuilt number[] sent,
 *     the received number[] only measured), i.e. iroh-js itself with its marshaling;
 *   - CPU seconds per thread of this process (JS threads vs iroh's tokio threads).
 */
import { readdirSync, readFileSync } from "node:fs";
import { isMainThread, parentPort, workerData, Worker } from "node:worker_threads";
import { EndpointAddr, EndpointId, type RecvStream, type SendStream } from "@number0/iroh";
import { IrohByteStream } from "../src/dataplane/byte-stream.ts";
import { fromIrohBytes, IROH_CHUNK, toIrohBytes } from "../src/dataplane/bytes.ts";
import { ALPN, bindEndpoint } from "../src/dataplane/iroh-endpoint.ts";

const MiB = 1024 * 1024;

type Role = "send" | "recv";
type Mode = "stream" | "split" | "raw";
interface Job {
  mib: number;
  role: Role; // the worker's role
  mode: Mode;
}

interface SideResult {
  ms: number;
  bytes: number;
  /** Sender (split mode): ms in toIrohBytes, in the synchronous writeAll call, awaiting writeAll. */
  convertMs?: number;
  writeCallMs?: number;
  writeAwaitMs?: number;
  /** Receiver (split mode): ms awaiting read (includes NAPI building the number[]) and in fromIrohBytes. */
  readAwaitMs?: number;
  fromMs?: number;
}

async function runSide(role: Role, mode: Mode, send: SendStream, recv: RecvStream, size: number): Promise<SideResult> {
  const stream = new IrohByteStream(send, recv);
  if (role === "send") {
    const chunk = new Uint8Array(IROH_CHUNK).fill(0x61);
    const t0 = performance.now();
    if (mode === "stream") {
      for (let sent = 0; sent < size; sent += IROH_CHUNK) await stream.write(chunk);
      await stream.finish();
      return { ms: performance.now() - t0, bytes: size };
    }
    if (mode === "raw") {
      const arr = Array.from(chunk);
      for (let sent = 0; sent < size; sent += IROH_CHUNK) await send.writeAll(arr);
      await send.finish();
      return { ms: performance.now() - t0, bytes: size };
    }
    // split: IrohByteStream.write's own steps, timed one by one.
    let convertMs = 0;
    let writeCallMs = 0;
    let writeAwaitMs = 0;
    for (let sent = 0; sent < size; sent += IROH_CHUNK) {
      const a = performance.now();
      const arr = toIrohBytes(chunk);
      const b = performance.now();
      const p = send.writeAll(arr);
      const c = performance.now();
      await p;
      const d = performance.now();
      convertMs += b - a;
      writeCallMs += c - b;
      writeAwaitMs += d - c;
    }
    await send.finish();
    return { ms: performance.now() - t0, bytes: size, convertMs, writeCallMs, writeAwaitMs };
  }
  const t0 = performance.now();
  let got = 0;
  if (mode === "stream") {
    for (let c = await stream.read(); c !== null; c = await stream.read()) got += c.length;
    return { ms: performance.now() - t0, bytes: got };
  }
  let readAwaitMs = 0;
  let fromMs = 0;
  for (;;) {
    const a = performance.now();
    const arr = await recv.read(IROH_CHUNK);
    const b = performance.now();
    readAwaitMs += b - a;
    if (arr.length === 0) break;
    if (mode === "split") {
      const u8 = fromIrohBytes(arr);
      got += u8.length;
      fromMs += performance.now() - b;
    } else got += arr.length;
  }
  return { ms: performance.now() - t0, bytes: got, readAwaitMs, fromMs };
}

if (!isMainThread) {
  const job = workerData as Job;
  const { endpoint } = await bindEndpoint({ alpns: [ALPN], relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  parentPort!.postMessage({ id: endpoint.id().toString(), addrs: endpoint.addr().directAddresses() });
  const conn = await (await (await endpoint.acceptNext())!.accept()).connect();
  const bi = await conn.acceptBi();
  await bi.recv.read(1); // the go signal
  const result = await runSide(job.role, job.mode, bi.send, bi.recv, job.mib * MiB);
  if (job.role === "recv") await bi.send.finish();
  parentPort!.postMessage({ result });
  if (job.role === "send") await bi.recv.read(1).catch(() => null); // until the receiver is done
  await endpoint.close();
  await new Promise((resolve) => setTimeout(resolve, 200)); // let iroh calls settle before exit
  process.exit(0);
}

/**
 * CPU seconds of this process's threads, by name; `exited` is what threads that have ended used
 * (the worker threads: one per run), from the process total in /proc/self/stat.
 */
function threadCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  const self = readFileSync("/proc/self/stat", "utf8");
  const sf = self.slice(self.lastIndexOf(")") + 2).split(" ");
  let live = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const text = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = tid === String(process.pid) ? "main" : text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
      const cpu = (Number(f[11]) + Number(f[12])) / 100;
      out[name] = (out[name] ?? 0) + cpu;
      live += cpu;
    } catch {
      // the thread ended
    }
  }
  out.exited = (Number(sf[11]) + Number(sf[12])) / 100 - live;
  return out;
}

async function oneRun(mib: number, direction: "down" | "up", mode: Mode): Promise<{ mibps: number; worker: SideResult; main: SideResult }> {
  const role: Role = direction === "down" ? "send" : "recv";
  const worker = new Worker(new URL(import.meta.url), { workerData: { mib, role, mode } satisfies Job });
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  worker.on("message", (m: Record<string, unknown>) => {
    const w = waiters.shift();
    if (w) w(m);
    else messages.push(m);
  });
  const next = (): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const m = messages.shift();
      if (m) resolve(m);
      else waiters.push(resolve);
    });
  const exited = new Promise((resolve) => worker.on("exit", resolve));
  const info = (await next()) as { id: string; addrs: string[] };
  const { endpoint } = await bindEndpoint({ relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  const conn = await endpoint.connect(new EndpointAddr(EndpointId.fromString(info.id), null, info.addrs), ALPN);
  const bi = await conn.openBi();
  await bi.send.writeAll([1]);
  const mainRole: Role = role === "send" ? "recv" : "send";
  const main = await runSide(mainRole, mode, bi.send, bi.recv, mib * MiB);
  if (mainRole === "recv") await bi.send.finish();
  const { result } = (await next()) as { result: SideResult };
  const recvSide = mainRole === "recv" ? main : result;
  if (recvSide.bytes !== mib * MiB) throw new Error(`received ${recvSide.bytes} bytes, expected ${mib * MiB}`);
  await exited;
  await endpoint.close();
  // The receiver's clock: from its first read to FIN.
  return { mibps: mib / (recvSide.ms / 1000), worker: result, main };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

const VALUE_FLAGS = new Set(["--runs", "--direction"]);
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !VALUE_FLAGS.has(all[i - 1] ?? ""));
const size = Number(positional[0] ?? "64");
const runs = Number(flag("--runs") ?? "3");
const json = process.argv.includes("--json");
const dirFlag = flag("--direction") ?? (json ? "both" : "down");
const directions: Array<"down" | "up"> = dirFlag === "both" ? ["down", "up"] : [dirFlag as "down" | "up"];
const r1 = (n: number): number => Math.round(n * 10) / 10;

if (!json) {
  for (const direction of directions) {
    for (let run = 1; run <= runs; run++) {
      const r = await oneRun(size, direction, "stream");
      const sender = direction === "down" ? r.worker : r.main;
      console.log(
        `run ${run}: ${size} MiB over one bi-stream, ${direction === "down" ? "worker → main" : "main → worker"}: ${r.mibps.toFixed(1)} MiB/s (sender ${sender.ms.toFixed(0)} ms)`,
      );
    }
  }
  process.exit(0);
}

/** utime+stime of this whole process (every thread, ended ones included), seconds. */
function processCpu(): number {
  const self = readFileSync("/proc/self/stat", "utf8");
  const f = self.slice(self.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

const cpu0 = threadCpu();
const withRaw = !process.argv.includes("--no-raw");
const onlyStream = process.argv.includes("--only-stream");
const out: Record<string, unknown> = { mib: size, runs, chunk: IROH_CHUNK };
for (const direction of directions) {
  const speeds: number[] = [];
  const c0 = processCpu();
  for (let run = 0; run < runs; run++) speeds.push(r1((await oneRun(size, direction, "stream")).mibps));
  const cpuSPerMiB = runs > 0 ? Math.round(((processCpu() - c0) / (size * runs)) * 10000) / 10000 : null;
  if (onlyStream) {
    const sorted = [...speeds].sort((a, b) => a - b);
    out[direction] = { runs: speeds, best: sorted[sorted.length - 1], cpuSPerMiB };
    continue;
  }
  const split = await oneRun(size, direction, "split");
  const sender = direction === "down" ? split.worker : split.main;
  const receiver = direction === "down" ? split.main : split.worker;
  const raw = withRaw ? await oneRun(size, direction, "raw") : null;
  const sorted = [...speeds].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  out[direction] = {
    runs: speeds,
    best: sorted[sorted.length - 1] ?? null,
    median: sorted.length === 0 ? null : sorted.length % 2 === 1 ? sorted[mid] : r1(((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2),
    /** CPU seconds of the whole process (both ends, all threads) per MiB moved, over the timed runs. */
    cpuSPerMiB,
    split: {
      mibps: r1(split.mibps),
      senderMs: r1(sender.ms),
      convertMs: r1(sender.convertMs ?? 0),
      writeCallMs: r1(sender.writeCallMs ?? 0),
      writeAwaitMs: r1(sender.writeAwaitMs ?? 0),
      receiverMs: r1(receiver.ms),
      readAwaitMs: r1(receiver.readAwaitMs ?? 0),
      fromMs: r1(receiver.fromMs ?? 0),
    },
    rawMibps: raw ? r1(raw.mibps) : null,
  };
}
const cpu1 = threadCpu();
const threads: Record<string, number> = {};
for (const [k, v] of Object.entries(cpu1)) {
  const d = Math.round((v - (cpu0[k] ?? 0)) * 100) / 100;
  if (d > 0) threads[k] = d;
}
out.threadCpuS = threads;
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
