/**
 * Where the tunnel's time goes, component by component, in one process (no CLI, no control
 * plane): the same client, edge, gateway and ListenNode worker as the local Datum, plus
 *   - a plain TCP relay (node:net, one JS hop) — what any user-space proxy hop costs;
 *   - `gateway.dialConnect` alone — a new iroh stream, `CONNECT`, the worker's TCP connect to the
 *     origin and its `200` back: the per-connection setup of the tunnel;
 *   - a pure iroh echo (a worker thread answering each byte) — stream open + one round trip, and
 *     one round trip on an already open stream: iroh-js's own floor, with no HTTP and no TCP;
 *   - the `number[]` conversions for a small request (µs);
 *   - with --full, 64 MiB each way through the in-process data plane, with CPU seconds per thread.
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/breakdown.ts [--json] [--full]
 * bench/peers.ts runs it and keeps its JSON; by hand it prints a table.
 */
import net from "node:net";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { EndpointAddr, EndpointId } from "@number0/iroh";
import { IrohByteStream } from "../src/dataplane/byte-stream.ts";
import { asciiBytes, fromIrohBytes, toIrohBytes } from "../src/dataplane/bytes.ts";
import { parseRequestHead, parseResponseHead, REQUEST_HEAD_LIMITS } from "../src/dataplane/http-head.ts";
import { readHead } from "../src/dataplane/read-head.ts";
import { CONNECTION_ESTABLISHED } from "../src/dataplane/response.ts";
import { connectTcp } from "../src/dataplane/socket-io.ts";
import { ALPN, bindEndpoint, formatSocketAddr } from "../src/dataplane/iroh-endpoint.ts";
import { loadDataPlane } from "../src/dataplane/client.ts";
import { createEdge } from "../src/devcloud/gateway/edge.ts";
import { createGateway } from "../src/devcloud/gateway/gateway.ts";
import { latencySeries, transfer } from "./lib/measure.ts";
import { collect, endAll, track } from "./lib/procs.ts";
import { round, summarize, type Summary } from "./lib/stats.ts";

// ---------------------------------------------------------------------------------------------
// The worker: `echo` answers every stream with what it reads until FIN; `device` handles a
// CONNECT the way the ListenNode does (read the head, connect to the origin, write 200), timing
// each step, then echoes nothing and closes.
if (!isMainThread) {
  const { mode, originPort } = workerData as { mode: "echo" | "device"; originPort: number };
  const { endpoint } = await bindEndpoint({ alpns: [ALPN], relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  parentPort!.postMessage({ id: endpoint.id().toString(), addrs: endpoint.addr().directAddresses() });
  const steps = { n: 0, readHeadMs: 0, originConnectMs: 0, write200Ms: 0 };
  parentPort!.on("message", async () => {
    parentPort!.postMessage(steps);
    await endpoint.close();
    setTimeout(() => process.exit(0), 200);
  });
  for (;;) {
    const inc = await endpoint.acceptNext();
    if (!inc) break;
    void (async () => {
      const conn = await (await inc.accept()).connect();
      conn.setMaxConcurrentBiStreams(4096n);
      for (;;) {
        const bi = await conn.acceptBi().catch(() => null);
        if (!bi) return;
        if (mode === "echo") {
          void (async () => {
            for (;;) {
              const b = await bi.recv.read(65536);
              if (b.length === 0) break;
              await bi.send.writeAll(b);
            }
            await bi.send.finish();
          })().catch(() => undefined);
          continue;
        }
        void (async () => {
          const stream = new IrohByteStream(bi.send, bi.recv);
          const t0 = performance.now();
          await readHead(stream, parseRequestHead, REQUEST_HEAD_LIMITS);
          const t1 = performance.now();
          const socket = await connectTcp("127.0.0.1", originPort);
          const t2 = performance.now();
          await stream.write(CONNECTION_ESTABLISHED);
          const t3 = performance.now();
          steps.n++;
          steps.readHeadMs += t1 - t0;
          steps.originConnectMs += t2 - t1;
          steps.write200Ms += t3 - t2;
          await stream.finish();
          while ((await stream.read()) !== null);
          socket.destroy();
        })().catch(() => undefined);
      }
    })().catch(() => undefined);
  }
  await new Promise(() => undefined);
}

const FULL = process.argv.includes("--full");
const JSON_OUT = process.argv.includes("--json");
const N = FULL ? 1000 : 200;
const WARM = 30;

function threadCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const text = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = tid === String(process.pid) ? "main" : text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // ended
    }
  }
  return out;
}
function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = round(v - (a[k] ?? 0), 2);
    if (d > 0) out[k] = d;
  }
  return out;
}

async function timed(n: number, fn: () => Promise<void>): Promise<Summary> {
  for (let i = 0; i < WARM; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return summarize(t);
}

// ---------------------------------------------------------------------------------------------

const originProc = track(Bun.spawn([process.execPath, join(import.meta.dir, "lib", "origin.ts")], { stdin: "ignore", stdout: "pipe", stderr: "inherit" }));
const originOut = { text: "" };
void collect(originProc.stdout, originOut);
while (!originOut.text.includes("\n")) await Bun.sleep(10);
const originPort = (JSON.parse(originOut.text.split("\n")[0] as string) as { port: number }).port;

// A plain TCP relay: one user-space hop, as an edge without a gateway behind it would be.
const relay = net.createServer({ allowHalfOpen: true }, (client) => {
  client.setNoDelay(true);
  const up = net.connect({ host: "127.0.0.1", port: originPort, noDelay: true, allowHalfOpen: true });
  client.pipe(up);
  up.pipe(client);
  const kill = (): void => {
    client.destroy();
    up.destroy();
  };
  client.on("error", kill);
  up.on("error", kill);
});
await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", () => resolve()));
const relayPort = (relay.address() as net.AddressInfo).port;

const dataPlane = await loadDataPlane({ log: () => undefined });
const ep = await dataPlane.start({
  secretKey: crypto.getRandomValues(new Uint8Array(32)),
  relayUrls: [],
  allowList: [{ id: "bench", host: "127.0.0.1", port: originPort, enabled: true }],
});
const gateway = await createGateway();
const addresses = ep.addresses.map(formatSocketAddr);
const edge = await createEdge({
  gateway,
  resolveRoute: () => ({ endpointId: ep.endpointId, addresses, homeRelay: null, targetHost: "127.0.0.1", targetPort: originPort, online: true }),
});

const direct = { port: originPort, hostHeader: `127.0.0.1:${originPort}` };
const viaRelay = { port: relayPort, hostHeader: `127.0.0.1:${originPort}` };
const viaTunnel = { port: edge.port, hostHeader: "bench.test" };

const out: Record<string, unknown> = { requests: N, warmup: WARM };
type Pair = { fresh: Summary; keepalive: Summary };
const lat: Record<string, Pair> = {};
for (const [name, target] of [["direct", direct], ["tcpRelay", viaRelay], ["dataPlane", viaTunnel]] as const) {
  lat[name] = {
    fresh: (await latencySeries(target, "fresh", N, WARM)).ms,
    keepalive: (await latencySeries(target, "keepalive", N, WARM)).ms,
  };
}
out.latency = lat;

// The tunnel's per-connection setup: stream + CONNECT + origin connect + 200.
const target = `127.0.0.1:${originPort}`;
out.dialConnect = await timed(N, async () => {
  const r = await gateway.dialConnect(ep.endpointId, addresses, null, target);
  if (r.kind !== "response" || r.status !== 200) throw new Error("dialConnect failed");
  await r.stream.finish();
  while ((await r.stream.read()) !== null);
});
// The same, plus one small request and its response through it (no client TCP, no edge).
const GET = asciiBytes(`GET /small HTTP/1.1\r\nhost: ${target}\r\nconnection: close\r\n\r\n`);
out.dialConnectGet = await timed(N, async () => {
  const r = await gateway.dialConnect(ep.endpointId, addresses, null, target);
  if (r.kind !== "response" || r.status !== 200) throw new Error("dialConnect failed");
  await r.stream.write(GET);
  await r.stream.finish();
  while ((await r.stream.read()) !== null);
});

// One CONNECT exchange, step by step on both sides (the device side in a worker, as the ListenNode).
{
  const device = new Worker(new URL(import.meta.url), { workerData: { mode: "device", originPort } });
  const dinfo = await new Promise<{ id: string; addrs: string[] }>((resolve) => device.once("message", resolve));
  const dclient = (await bindEndpoint({ relayUrls: [], bindAttempts: [["127.0.0.1:0"]] })).endpoint;
  const dconn = await dclient.connect(new EndpointAddr(EndpointId.fromString(dinfo.id), null, dinfo.addrs), ALPN);
  const CONNECT = asciiBytes(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const g = { openBiMs: 0, writeConnectMs: 0, waitFor200Ms: 0 };
  const totals: number[] = [];
  for (let i = 0; i < WARM + N; i++) {
    const t0 = performance.now();
    const bi = await dconn.openBi();
    const stream = new IrohByteStream(bi.send, bi.recv);
    const t1 = performance.now();
    await stream.write(CONNECT);
    const t2 = performance.now();
    await readHead(stream, parseResponseHead, REQUEST_HEAD_LIMITS);
    const t3 = performance.now();
    if (i >= WARM) {
      g.openBiMs += t1 - t0;
      g.writeConnectMs += t2 - t1;
      g.waitFor200Ms += t3 - t2;
      totals.push(t3 - t0);
    }
    await stream.finish();
    while ((await stream.read()) !== null);
  }
  device.postMessage("report");
  const dsteps = await new Promise<{ n: number; readHeadMs: number; originConnectMs: number; write200Ms: number }>((resolve) => device.once("message", resolve));
  await new Promise((resolve) => device.once("exit", resolve));
  await dclient.close();
  const us = (ms: number, n: number): number => round((ms / n) * 1000, 0);
  out.connectSteps = {
    note: "means, µs; gateway side in this thread, device side in a worker thread, as in the tunnel",
    total: summarize(totals),
    gateway: { openBi: us(g.openBiMs, N), writeConnect: us(g.writeConnectMs, N), waitFor200: us(g.waitFor200Ms, N) },
    device: { readConnectHead: us(dsteps.readHeadMs, dsteps.n), originTcpConnect: us(dsteps.originConnectMs, dsteps.n), write200: us(dsteps.write200Ms, dsteps.n) },
  };
}

// Pure iroh: echo worker.
const worker = new Worker(new URL(import.meta.url), { workerData: { mode: "echo", originPort } });
const info = await new Promise<{ id: string; addrs: string[] }>((resolve) => worker.once("message", resolve));
const client = (await bindEndpoint({ relayUrls: [], bindAttempts: [["127.0.0.1:0"]] })).endpoint;
const echoAddr = new EndpointAddr(EndpointId.fromString(info.id), null, info.addrs);
const t0 = performance.now();
const conn = await client.connect(echoAddr, ALPN);
const firstConnectMs = performance.now() - t0;
out.iroh = {
  firstConnectMs: round(firstConnectMs, 2),
  streamOpenEcho: await timed(N, async () => {
    const bi = await conn.openBi();
    await bi.send.writeAll([1]);
    await bi.recv.read(1);
    await bi.send.finish();
    await bi.recv.read(1);
  }),
  rttOpenStream: await (async () => {
    const bi = await conn.openBi();
    const s = await timed(N, async () => {
      await bi.send.writeAll([1]);
      await bi.recv.read(1);
    });
    await bi.send.finish();
    return s;
  })(),
};
worker.postMessage("stop");
await new Promise((resolve) => worker.once("exit", resolve));
await client.close();

// number[] conversions for a 100-byte request head, µs each.
const small = new Uint8Array(100).fill(0x41);
const m0 = performance.now();
for (let i = 0; i < 100_000; i++) fromIrohBytes(toIrohBytes(small));
out.smallConversionUs = round(((performance.now() - m0) * 1000) / 100_000, 3);

// Bulk through the in-process data plane, with CPU per thread of this process (--full only).
const bulk: Record<string, unknown> = {};
for (const direction of FULL ? (["download", "upload"] as const) : []) {
  const c0 = threadCpu();
  const r = await transfer(viaTunnel, direction, 64, 3, {}, null);
  bulk[direction] = { mibps: r.runs.map((x) => x.mibps), median: r.median, threadCpuS: diff(c0, threadCpu()) };
}
out.bulk = bulk;

// Derived: what each layer adds at p50.
const d = lat.direct as Pair;
const rl = lat.tcpRelay as Pair;
const dp = lat.dataPlane as Pair;
const iroh = out.iroh as { streamOpenEcho: Summary; rttOpenStream: Summary };
out.derived = {
  freshAddedMs: round(dp.fresh.p50 - d.fresh.p50),
  freshOneTcpHopMs: round(rl.fresh.p50 - d.fresh.p50),
  keepaliveAddedMs: round(dp.keepalive.p50 - d.keepalive.p50),
  keepaliveOneTcpHopMs: round(rl.keepalive.p50 - d.keepalive.p50),
  dialConnectMs: (out.dialConnect as Summary).p50,
  irohStreamOpenEchoMs: iroh.streamOpenEcho.p50,
  irohRttMs: iroh.rttOpenStream.p50,
};

await edge.stop();
await gateway.stop();
await dataPlane.stop();
relay.close();
await endAll();
if (JSON_OUT) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  const row = (k: string, s: Summary): string => `| ${k} | ${s.p50} | ${s.p90} | ${s.p99} |`;
  const lines = ["| component | p50 ms | p90 ms | p99 ms |", "|---|---:|---:|---:|"];
  for (const [name, v] of Object.entries(lat)) for (const [mode, s] of Object.entries(v)) lines.push(row(`${name} ${mode}`, s));
  lines.push(row("gateway.dialConnect (stream + CONNECT + origin connect + 200)", out.dialConnect as Summary));
  lines.push(row("… + one GET through it", out.dialConnectGet as Summary));
  lines.push(row("iroh: open stream + 1-byte echo + FIN", iroh.streamOpenEcho));
  lines.push(row("iroh: 1-byte round trip on an open stream", iroh.rttOpenStream));
  console.log(lines.join("\n"));
  console.log(JSON.stringify({ connectSteps: out.connectSteps, smallConversionUs: out.smallConversionUs, bulk: out.bulk, derived: out.derived }, null, 2));
}
process.exit(0);
