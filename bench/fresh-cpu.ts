/**
 * CPU per fresh-connection request on the device side, and where the JS thread spends it.
 *
 * The device here is the ListenNode's own stream handling (`serveProxyStream` on an iroh endpoint,
 * as workers/listen-node.ts runs it) but on the main thread of a child process, so that
 * `bun --cpu-prof-md` (main thread only) can see it. This process is the rest of the path: the
 * origin (bench/lib/origin.ts, its own process), the dev cloud's gateway and edge, and the client
 * doing sequential fresh-connection GETs.
 *
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/fresh-cpu.ts [--requests N (3000)] [--profile DIR]
 *
 * Prints one JSON line: p50 ms, the device's CPU µs per request (all threads, and per thread), and
 * with --profile the path of the profile's Markdown.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

if (process.argv[2] === "--device") {
  const originPort = Number(process.argv[3]);
  const { bindEndpoint, ALPN, MAX_STREAMS_PER_CONNECTION } = await import("../src/dataplane/iroh-endpoint.ts");
  const { IrohByteStream } = await import("../src/dataplane/byte-stream.ts");
  const { serveProxyStream } = await import("../src/dataplane/upstream.ts");
  const { Counters } = await import("../src/dataplane/counters.ts");
  const { endpoint } = await bindEndpoint({ alpns: [ALPN], relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  const allow = [{ id: "bench", host: "127.0.0.1", port: originPort, enabled: true }];
  const ctx = { allowList: () => allow, counters: new Counters(), log: () => undefined };
  process.stdout.write(`${JSON.stringify({ id: endpoint.id().toString(), addrs: endpoint.addr().directAddresses() })}\n`);
  void (async () => {
    for (;;) {
      const incoming = await endpoint.acceptNext();
      if (!incoming) return;
      void (async () => {
        const conn = await (await incoming.accept()).connect();
        conn.setMaxConcurrentBiStreams(MAX_STREAMS_PER_CONNECTION);
        for (;;) {
          const bi = await conn.acceptBi().catch(() => null);
          if (!bi) return;
          void serveProxyStream(new IrohByteStream(bi.send, bi.recv), ctx).catch(() => undefined);
        }
      })().catch(() => undefined);
    }
  })();
  for await (const _ of Bun.stdin.stream()) {
    // runs until the driver closes stdin
  }
  await endpoint.close();
  process.exit(0);
}

const { values } = parseArgs({ options: { requests: { type: "string", default: "3000" }, profile: { type: "string" } } });
const N = Number(values.requests);
if (!Number.isInteger(N) || N < 100 || N > 100_000) {
  process.stderr.write("error: --requests must be an integer from 100 to 100000\n");
  process.exit(2);
}
const { createGateway } = await import("../src/devcloud/gateway/gateway.ts");
const { createEdge } = await import("../src/devcloud/gateway/edge.ts");
const { latencySeries } = await import("./lib/measure.ts");
const { cpuSeconds, diffThreads, endAll, threadCpu, track } = await import("./lib/procs.ts");

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const { value } = await stream.getReader().read();
  return new TextDecoder().decode(value).split("\n")[0] ?? "";
}

const origin = track(Bun.spawn([process.execPath, join(import.meta.dir, "lib", "origin.ts"), "--extra", "0"], { stdout: "pipe", stderr: "inherit" }));
const originPort = (JSON.parse(await firstLine(origin.stdout)) as { port: number }).port;
const profile = values.profile ? ["--cpu-prof-md", "--cpu-prof-dir", values.profile] : [];
const device = track(Bun.spawn([process.execPath, ...profile, import.meta.path, "--device", String(originPort)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }));
const info = JSON.parse(await firstLine(device.stdout)) as { id: string; addrs: string[] };
const gateway = await createGateway({});
const edge = await createEdge({
  gateway,
  resolveRoute: () => ({ endpointId: info.id, addresses: info.addrs, homeRelay: null, targetHost: "127.0.0.1", targetPort: originPort, online: true }),
});
try {
  const target = { port: edge.port, hostHeader: "bench.local" };
  await latencySeries(target, "fresh", 300, 0); // warm-up
  const cpu0 = cpuSeconds(device.pid) ?? 0;
  const threads0 = threadCpu(device.pid);
  const run = await latencySeries(target, "fresh", N, 0);
  const cpu1 = cpuSeconds(device.pid) ?? 0;
  const perThread = Object.fromEntries(
    Object.entries(diffThreads(threads0, threadCpu(device.pid)))
      .map(([name, s]) => [name, Math.round((s / N) * 1e6)] as const)
      .filter(([, us]) => us >= 10),
  );
  device.stdin.end();
  await device.exited;
  const md = values.profile ? readdirSync(values.profile).filter((f) => f.endsWith(".md")).map((f) => join(values.profile as string, f)) : [];
  process.stdout.write(
    `${JSON.stringify({ requests: N, p50Ms: run.ms.p50, deviceCpuUsPerRequest: Math.round(((cpu1 - cpu0) / N) * 1e6), deviceThreadsUsPerRequest: perThread, profile: md[0] ?? null })}\n`,
  );
} finally {
  await edge.stop();
  await gateway.stop();
  await endAll();
}
process.exit(0);
