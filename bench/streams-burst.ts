/**
 * A burst of new streams after earlier traffic, through the in-process data plane (edge →
 * gateway → iroh → ListenNode worker → origin): `--prior N` sequential requests on fresh
 * connections (each one stream, closed), then `--burst M` connections opened and held 2 s, then one
 * request on each at once. Counts the requests with no complete answer within 30 s.
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/streams-burst.ts [--prior 100] [--burst 1000] [--limit N] [--read-size N]
 * `--limit N` overrides the stream window the worker grants per connection (default: the
 * product's MAX_STREAMS_PER_CONNECTION). iroh returns the credit of closed streams in batches of
 * ~1/8 of the window, so with a 1024 window 100 closed streams leave ~924 for the burst.
 * `--read-size N` makes every iroh read on both ends ask for at least N bytes (262144 = how the
 * data plane read before `IROH_READ_MIN`); the RSS with the burst's streams open and idle shows
 * what a pending read costs.
 */
import { parseArgs } from "node:util";
import { formatSocketAddr, MAX_STREAMS_PER_CONNECTION } from "../src/dataplane/iroh-endpoint.ts";
import { loadDataPlane } from "../src/dataplane/client.ts";
import { createEdge } from "../src/devcloud/gateway/edge.ts";
import { createGateway } from "../src/devcloud/gateway/gateway.ts";
import { held, latencySeries } from "./lib/measure.ts";
import { forceReadSize } from "./lib/listen-node-limit.ts";
import { collect, endAll, memSplit, track } from "./lib/procs.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { prior: { type: "string" }, burst: { type: "string" }, limit: { type: "string" }, "read-size": { type: "string" }, json: { type: "boolean" } },
});
const prior = Number(values.prior ?? "100");
const burst = Number(values.burst ?? "1000");
const limit = values.limit;
const readSize = values["read-size"];
if (readSize) forceReadSize(Number(readSize)); // this thread: the gateway's reads

const originProc = track(Bun.spawn([process.execPath, new URL("./lib/origin.ts", import.meta.url).pathname], { stdin: "ignore", stdout: "pipe", stderr: "inherit" }));
const out = { text: "" };
void collect(originProc.stdout, out);
while (!out.text.includes("\n")) await Bun.sleep(10);
const originPort = (JSON.parse(out.text.split("\n")[0] as string) as { port: number }).port;

const dataPlane = await loadDataPlane({
  log: () => undefined,
  workerUrl: new URL("./lib/listen-node-limit.ts", import.meta.url).href,
  env: { ...(limit ? { BENCH_STREAM_LIMIT: limit } : {}), ...(readSize ? { BENCH_READ_SIZE: readSize } : {}) },
});
const ep = await dataPlane.start({ secretKey: crypto.getRandomValues(new Uint8Array(32)), relayUrls: [], allowList: [{ id: "bench", host: "127.0.0.1", port: originPort, enabled: true }] });
const gateway = await createGateway();
const addresses = ep.addresses.map(formatSocketAddr);
const edge = await createEdge({ gateway, resolveRoute: () => ({ endpointId: ep.endpointId, addresses, homeRelay: null, targetHost: "127.0.0.1", targetPort: originPort, online: true }) });
const target = { port: edge.port, hostHeader: "bench.test" };

if (prior > 0) await latencySeries(target, "fresh", prior, 0);
await Bun.sleep(500);
const rssBefore = memSplit(process.pid);
let rssOpen: ReturnType<typeof memSplit> = null;
const r = await held(target, burst, 2, 100, () => {
  rssOpen = memSplit(process.pid);
});
const result = {
  window: limit ? Number(limit) : Number(MAX_STREAMS_PER_CONNECTION),
  readSize: readSize ? Number(readSize) : "adaptive (IrohByteStream)",
  prior,
  burst,
  failures: r.failures,
  failureSamples: r.failureSamples,
  burstWallMs: r.burstWallMs,
  burstMs: r.burstMs,
  /** This process holds both ends (gateway and ListenNode worker): RSS before the burst, and with every stream open and idle after it. */
  rssMiB: { before: rssBefore, withStreamsOpen: rssOpen },
};
await edge.stop();
await gateway.stop();
await dataPlane.stop();
await endAll();
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  const open = result.rssMiB.withStreamsOpen as { rssMiB: number } | null;
  console.log(
    `window ${result.window}, read size ${result.readSize}: ${prior} closed streams, then ${burst} at once: ${result.failures} failures, burst ${result.burstWallMs} ms (p50 ${r.burstMs.p50} ms); RSS ${rssBefore?.rssMiB} → ${open?.rssMiB} MiB with them open`,
  );
}
process.exit(0);
