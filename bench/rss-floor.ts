/**
 * What a tunnel process's idle RSS is made of: the same Bun build, idle, with a growing part of
 * what `tunnel listen` loads. One mode per process (RSS is per process):
 *   bare          Bun, an empty event loop
 *   iroh          + @number0/iroh's native module loaded (dlopen)
 *   worker        + one idle worker thread (its own JS heap)
 *   endpoint      + an iroh endpoint bound in that worker (tokio runtime, sockets)
 *   cli           + the CLI's modules imported (src/main.ts graph), no command run
 * Prints `{"mode":…,"rssMiB":…,"anonMiB":…,"fileMiB":…}` after 1.5 s idle.
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/rss-floor.ts <mode>
 * bench/peers.ts runs every mode and keeps the results next to the listen process's own figures.
 */
import { readFileSync } from "node:fs";
import { isMainThread, parentPort, Worker } from "node:worker_threads";

const MODES = ["bare", "iroh", "worker", "endpoint", "cli"] as const;
type Mode = (typeof MODES)[number];

if (!isMainThread) {
  const mode = process.env.RSS_FLOOR_MODE as Mode;
  if (mode === "endpoint" || mode === "cli") {
    const { bindEndpoint, ALPN } = await import("../src/dataplane/iroh-endpoint.ts");
    await bindEndpoint({ alpns: [ALPN], relayUrls: [], bindAttempts: [["127.0.0.1:0"]] });
  }
  parentPort!.postMessage("up");
  setInterval(() => undefined, 1000);
} else {
  const mode = (process.argv[2] ?? "bare") as Mode;
  if (!MODES.includes(mode)) {
    process.stderr.write(`error: mode must be one of ${MODES.join(", ")}\n`);
    process.exit(2);
  }
  const at = MODES.indexOf(mode);
  if (at >= MODES.indexOf("iroh")) await import("@number0/iroh");
  if (at >= MODES.indexOf("worker")) {
    const w = new Worker(new URL(import.meta.url), { env: { ...process.env, RSS_FLOOR_MODE: mode } });
    await new Promise((resolve) => w.once("message", resolve));
  }
  if (mode === "cli") await import("../src/main.ts").catch(() => undefined);
  await Bun.sleep(1_500);
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? "0");
  const mib = (n: number): number => Math.round((n / 1024) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ mode, rssMiB: mib(kb("VmRSS")), anonMiB: mib(kb("RssAnon")), fileMiB: mib(kb("RssFile")) })}\n`);
  process.exit(0);
}
