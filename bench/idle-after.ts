/**
 * What a tunnel gives back once traffic stops: `tunnel listen` RSS idle, right after traffic
 * (1,000 fresh-connection requests, then 64 MiB down, up, down, every connection closed), and again
 * 35 s later, past the data plane's idle heap trim (src/supervise/heap-trim.ts, 30 s).
 *
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/idle-after.ts [--exe path/to/datumctl-connect]
 *
 * Without --exe it runs from source. Prints one JSON line; ~60 s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isolatedEnv, SOURCE, startDevCloud, startListen, stopListen } from "./lib/datum.ts";
import { latencySeries, transfer } from "./lib/measure.ts";
import { endAll, memSplit, track } from "./lib/procs.ts";

const { values } = parseArgs({ options: { exe: { type: "string" } } });
const exe = values.exe ? [values.exe] : SOURCE;

const origin = track(Bun.spawn([process.execPath, join(import.meta.dir, "lib", "origin.ts"), "--extra", "0"], { stdout: "pipe", stderr: "inherit" }));
const { value } = await origin.stdout.getReader().read();
const originPort = (JSON.parse(new TextDecoder().decode(value).split("\n")[0] ?? "") as { port: number }).port;
const root = mkdtempSync(join(tmpdir(), "bench-idle-after-"));
const dc = await startDevCloud(isolatedEnv(root));
try {
  // A compiled executable's first start writes the native-module cache (and pages in what it
  // copies); what is measured is a later start, as every start after the first is.
  await stopListen(await startListen(exe, dc.env, `127.0.0.1:${originPort}`));
  const listen = await startListen(exe, dc.env, `127.0.0.1:${originPort}`);
  const target = { port: dc.edgePort, hostHeader: new URL(listen.url).host };
  await Bun.sleep(3_000); // past the post-start trims (1 s)
  const idle = memSplit(listen.pid);
  await latencySeries(target, "fresh", 1_000, 0);
  for (const direction of ["download", "upload", "download"] as const) await transfer(target, direction, 64, 1, {}, null);
  await Bun.sleep(1_000);
  const afterTraffic = memSplit(listen.pid);
  await Bun.sleep(35_000);
  const after35s = memSplit(listen.pid);
  await stopListen(listen);
  process.stdout.write(`${JSON.stringify({ exe: values.exe ? "compiled" : "source", idle, afterTraffic, after35s })}\n`);
} finally {
  await dc.stop();
  await endAll();
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
