/**
 * The iroh-js ceiling for one bi-stream, with the data plane's own conversion code
 * (`IrohByteStream`): a worker thread sends N MiB from memory, the main thread receives. Run it
 * next to bench/dataplane.ts to see how much of the tunnel's cost is iroh-js marshaling.
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/iroh-stream.ts [MiB]
 */
import { isMainThread, parentPort, workerData, Worker } from "node:worker_threads";
import { EndpointAddr, EndpointId } from "@number0/iroh";
import { IrohByteStream } from "../src/dataplane/byte-stream.ts";
import { IROH_CHUNK } from "../src/dataplane/bytes.ts";
import { ALPN, bindEndpoint } from "../src/dataplane/iroh-endpoint.ts";

const MiB = 1024 * 1024;

if (!isMainThread) {
  const { endpoint } = await bindEndpoint({ alpns: [ALPN], relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  parentPort!.postMessage({ id: endpoint.id().toString(), addrs: endpoint.addr().directAddresses() });
  const conn = await (await (await endpoint.acceptNext())!.accept()).connect();
  const bi = await conn.acceptBi();
  const stream = new IrohByteStream(bi.send, bi.recv);
  await stream.read(); // the go signal
  const chunk = new Uint8Array(IROH_CHUNK).fill(0x61);
  const t0 = performance.now();
  for (let sent = 0; sent < (workerData as number) * MiB; sent += IROH_CHUNK) await stream.write(chunk);
  await stream.finish();
  parentPort!.postMessage({ senderMs: performance.now() - t0 });
  await stream.read().catch(() => null); // until the receiver is done
  await endpoint.close();
  await new Promise((resolve) => setTimeout(resolve, 200)); // let iroh calls settle before exit
  process.exit(0);
}

const size = Number(process.argv[2] ?? "64");
for (let run = 1; run <= 3; run++) {
  const worker = new Worker(new URL(import.meta.url), { workerData: size });
  const messages: Array<Record<string, unknown>> = [];
  const next = (): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const take = (): void => {
        const m = messages.shift();
        if (m) resolve(m);
        else setTimeout(take, 1);
      };
      take();
    });
  worker.on("message", (m: Record<string, unknown>) => messages.push(m));
  const info = (await next()) as { id: string; addrs: string[] };
  const { endpoint } = await bindEndpoint({ relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  const conn = await endpoint.connect(new EndpointAddr(EndpointId.fromString(info.id), null, info.addrs), ALPN);
  const bi = await conn.openBi();
  const stream = new IrohByteStream(bi.send, bi.recv);
  await stream.write(Uint8Array.of(1));
  const t0 = performance.now();
  let got = 0;
  for (let c = await stream.read(); c !== null; c = await stream.read()) got += c.length;
  const ms = performance.now() - t0;
  await stream.finish();
  const { senderMs } = (await next()) as { senderMs: number };
  console.log(`run ${run}: ${size} MiB over one bi-stream, worker → main: ${(got / MiB / (ms / 1000)).toFixed(1)} MiB/s (sender ${senderMs.toFixed(0)} ms)`);
  await new Promise((resolve) => worker.on("exit", resolve));
  await endpoint.close();
}
process.exit(0);
