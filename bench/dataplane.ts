/**
 * Data-plane throughput and latency, not a test:
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/dataplane.ts [MiB]
 *
 * Path measured: client (fetch) → edge → gateway (iroh, main thread) → ListenNode worker → origin.
 * The origin runs in its own process so the main thread carries only what the dev cloud carries
 * (client, edge, gateway). Compared against the same download straight from the origin.
 */
import { formatSocketAddr } from "../src/dataplane/iroh-endpoint.ts";
import { loadDataPlane } from "../src/dataplane/client.ts";
import { createEdge } from "../src/devcloud/gateway/edge.ts";
import { createGateway } from "../src/devcloud/gateway/gateway.ts";

const MiB = 1024 * 1024;

if (process.argv[2] === "--origin") {
  const block = new Uint8Array(MiB).fill(0x61);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/small") return new Response("ok");
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
        { headers: { "content-length": String(size * MiB) } },
      );
    },
  });
  console.log(server.port);
  await new Promise(() => undefined);
}

const size = Number(process.argv[2] ?? "64");
const originProc = Bun.spawn([process.execPath, import.meta.path, "--origin"], { stdout: "pipe", stderr: "inherit" });
const reader = originProc.stdout.getReader();
const first = await reader.read();
const originPort = Number(new TextDecoder().decode(first.value).trim());

async function download(url: string, host?: string): Promise<{ mibps: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url, { keepalive: false, ...(host ? { headers: { host } } : {}) });
  let bytes = 0;
  for await (const chunk of res.body!) bytes += chunk.length;
  const ms = performance.now() - t0;
  if (bytes !== size * MiB) throw new Error(`short body: ${bytes}`);
  return { mibps: size / (ms / 1000), ms };
}

async function latency(url: string, host?: string): Promise<{ median: number; p95: number; concurrentWall: number }> {
  const times: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { keepalive: false, ...(host ? { headers: { host } } : {}) });
    await res.text();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const t0 = performance.now();
  const all = await Promise.all(
    Array.from({ length: 100 }, () => fetch(url, { keepalive: false, ...(host ? { headers: { host } } : {}) }).then((r) => r.text())),
  );
  if (all.some((b) => b !== "ok")) throw new Error("concurrent request failed");
  return { median: times[50]!, p95: times[95]!, concurrentWall: performance.now() - t0 };
}

const dataPlane = await loadDataPlane({ log: () => undefined });
const endpoint = await dataPlane.start({
  secretKey: crypto.getRandomValues(new Uint8Array(32)),
  relayUrls: [],
  allowList: [{ id: "bench", host: "127.0.0.1", port: originPort, enabled: true }],
});
const gateway = await createGateway();
const edge = await createEdge({
  gateway,
  resolveRoute: () => ({
    endpointId: endpoint.endpointId,
    addresses: endpoint.addresses.map(formatSocketAddr),
    homeRelay: null,
    targetHost: "127.0.0.1",
    targetPort: originPort,
    online: true,
  }),
});

const fmt = (n: number): string => n.toFixed(1);
const direct = `http://127.0.0.1:${originPort}`;
// Warm up both paths (first connect, JIT).
await download(`${direct}/big?mib=${size}`);
await download(`${edge.url}/big?mib=${size}`, "bench.test");
for (let run = 1; run <= 3; run++) {
  const d = await download(`${direct}/big?mib=${size}`);
  const t = await download(`${edge.url}/big?mib=${size}`, "bench.test");
  console.log(`run ${run}: ${size} MiB download  direct ${fmt(d.mibps)} MiB/s  tunnel ${fmt(t.mibps)} MiB/s (${fmt(t.ms)} ms)`);
}
const ld = await latency(`${direct}/small`);
const lt = await latency(`${edge.url}/small`, "bench.test");
console.log(`100 sequential requests, new connection each: median direct ${fmt(ld.median)} ms, tunnel ${fmt(lt.median)} ms (p95 ${fmt(lt.p95)} ms)`);
console.log(`100 concurrent requests wall time: direct ${fmt(ld.concurrentWall)} ms, tunnel ${fmt(lt.concurrentWall)} ms`);

await edge.stop();
await gateway.stop();
await dataPlane.stop();
originProc.kill();
await originProc.exited;
process.exit(0);
