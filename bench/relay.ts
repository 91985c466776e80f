/**
 * Through the relay next to the direct path (BENCHMARKS.md "Through the relay"): the local Datum
 * with its real iroh relay (`dev cloud --relay-bin`, scripts/build-relay.sh), one origin, and for
 * each path `--runs` fresh `tunnel listen`s (time from spawn to the ready line, a new identity and
 * tunnel each time) and a download of `--mib` MiB `--runs` times (after a warm-up) through the edge.
 *
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/relay.ts [--runs 3] [--mib 64] [--order direct,relay] [--relay-bin PATH] [--out FILE]
 *
 * "relay" drops every UDP datagram on this namespace's loopback (an nftables table added to the
 * private namespace scripts/netns.sh made for this run, removed after), so iroh between the
 * gateway and the device can only go through the relay, whose traffic is TCP. Each path is
 * checked, not assumed: the device's run.json must count its gateway connection as that kind.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { cachedRelayBinary } from "../src/devcloud/relay-server.ts";
import { isolatedEnv, REPO_ROOT, SOURCE, startDevCloud, startListen, stopListen, type Listen } from "./lib/datum.ts";
import { freshRequest } from "./lib/http-client.ts";
import { transfer, type TransferResult } from "./lib/measure.ts";
import { BenchError, collect, endAll, track } from "./lib/procs.ts";
import { load, machine, machineTag, median, round } from "./lib/stats.ts";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const RUNS = Number(flag("--runs") ?? 3);
const MIB = Number(flag("--mib") ?? 64);
const ORDER = (flag("--order") ?? "direct,relay").split(",") as Kind[];
if (ORDER.length !== 2 || !ORDER.includes("direct") || !ORDER.includes("relay")) {
  console.error("--order is direct,relay or relay,direct");
  process.exit(2);
}
const relayBin = flag("--relay-bin") ?? cachedRelayBinary(process.env);
if (process.env.DATUM_CONNECT_IN_NETNS !== "1") {
  console.error("bench/relay.ts changes the namespace's firewall: run it through scripts/netns.sh");
  process.exit(2);
}
if (!Bun.which("nft")) {
  console.error("bench/relay.ts needs nftables ('nft') to block UDP for the relay-only path");
  process.exit(2);
}
if (!relayBin || !Bun.file(relayBin).size) {
  console.error(`no iroh-relay at ${relayBin ?? "(no cache dir)"}: build it with sh scripts/build-relay.sh`);
  process.exit(2);
}

function nft(script: string): void {
  const r = Bun.spawnSync(["nft", "-f", "-"], { stdin: new TextEncoder().encode(script), stdout: "pipe", stderr: "pipe" });
  if (!r.success) throw new BenchError(`nft: ${r.stderr.toString().trim()}`);
}
const blockUdp = () =>
  nft("table inet bench_relay_only {\n chain out { type filter hook output priority 0; policy accept; meta l4proto udp drop; }\n}\n");
const unblockUdp = () => nft("delete table inet bench_relay_only\n");

async function startOrigin(): Promise<{ pid: number; port: number }> {
  const proc = track(Bun.spawn([process.execPath, join(import.meta.dir, "lib", "origin.ts")], { stdin: "ignore", stdout: "pipe", stderr: "inherit" }));
  const out = { text: "" };
  void collect(proc.stdout, out);
  const deadline = performance.now() + 10_000;
  while (!out.text.includes("\n")) {
    if (proc.exitCode !== null || performance.now() > deadline) throw new BenchError("the origin did not start");
    await Bun.sleep(10);
  }
  return { pid: proc.pid, ...(JSON.parse(out.text.split("\n")[0] as string) as { port: number }) };
}

type Kind = "direct" | "relay";
interface PathResult {
  readyMs: number[];
  readyMedianMs: number;
  /** Per run, ms since spawn: endpoint bound, setup started (after the wait for a home relay), setup done. */
  milestones: Listen["milestones"][];
  download: TransferResult;
  /** What the device's run.json counted for its gateway connection. */
  paths: { direct: number; relay: number; none: number };
}

/** The project slot's run.json counts this listen's gateway connection as `kind` (folded in every 5 s). */
async function pathsOf(env: Record<string, string>, want: Kind): Promise<PathResult["paths"]> {
  const file = join(env.DATUM_CONNECT_DIR as string, "projects", env.DATUM_PROJECT as string, "run.json");
  const deadline = performance.now() + 20_000;
  for (;;) {
    try {
      const paths = (JSON.parse(readFileSync(file, "utf8")) as { counters: { paths?: PathResult["paths"] } }).counters.paths;
      if (paths && paths[want] >= 1) return paths;
      if (performance.now() > deadline) throw new BenchError(`the device never counted a ${want} connection: ${JSON.stringify(paths)}`);
    } catch (err) {
      if (err instanceof BenchError) throw err;
    }
    await Bun.sleep(250);
  }
}

const started = performance.now();
const loadBefore = load();
const root = mkdtempSync(join(tmpdir(), "bench-relay-"));
const results: Partial<Record<Kind, PathResult>> = {};
try {
  const origin = await startOrigin();
  const endpoint = `127.0.0.1:${origin.port}`;
  const dc = await startDevCloud(isolatedEnv(join(root, "cloud")), ["--relay-bin", relayBin]);
  if (!dc.env.DATUM_DEV_CLOUD_RELAY) throw new BenchError("dev cloud runs no relay");
  const relayPid = ((await (await fetch(`${dc.apiUrl}/_dev/relay-server`)).json()) as { pid: number }).pid;
  for (const kind of ORDER) {
    if (kind === "relay") blockUdp();
    try {
      const readyMs: number[] = [];
      const milestones: Listen["milestones"][] = [];
      let last: { listen: Listen; env: Record<string, string> } | undefined;
      for (let i = 0; i < RUNS; i++) {
        if (last) await stopListen(last.listen);
        const env = isolatedEnv(join(root, `${kind}-${i}`), { ...dc.env, DATUM_CONNECT_DIR: join(root, `${kind}-${i}`, "connect") });
        const listen = await startListen(SOURCE, env, endpoint, 90_000);
        readyMs.push(round(listen.readyMs, 0));
        milestones.push(listen.milestones);
        last = { listen, env };
        console.error(`${kind}: ready in ${Math.round(listen.readyMs)} ms`);
      }
      const { listen, env } = last as { listen: Listen; env: Record<string, string> };
      const target = { port: dc.edgePort, hostHeader: new URL(listen.url).host };
      const small = await freshRequest(target, "/small");
      if (small.status !== 200) throw new BenchError(`${kind}: GET /small answered ${small.status}`);
      const paths = await pathsOf(env, kind);
      const download = await transfer(target, "download", MIB, RUNS, { agent: [listen.pid], server: [dc.pid], relay: [relayPid] }, listen.pid);
      console.error(`${kind}: ${MIB} MiB downloads at ${download.runs.map((r) => r.mibps).join(", ")} MiB/s`);
      await stopListen(listen);
      results[kind] = { readyMs, readyMedianMs: median(readyMs), milestones, download, paths };
    } finally {
      if (kind === "relay") unblockUdp();
    }
  }
  await dc.stop();
} finally {
  await endAll();
  rmSync(root, { recursive: true, force: true });
}

const m = machine();
const report = {
  bench: "relay",
  date: new Date().toISOString(),
  command: `sh scripts/netns.sh ./node_modules/.bin/bun bench/relay.ts --runs ${RUNS} --mib ${MIB} --order ${ORDER.join(",")}`,
  machine: m,
  relay: { version: relayBin.match(/iroh-relay-([0-9.]+)/)?.[1] ?? null },
  loadavg: { before: loadBefore, after: load() },
  durationS: round((performance.now() - started) / 1000, 1),
  results,
};
const out =
  flag("--out") ?? join(REPO_ROOT, "bench", "results", `${new Date().toISOString().slice(0, 10)}-${machineTag(m.cpuModel, m.nproc)}-relay-${ORDER[0]}-first.json`);
mkdirSync(join(out, ".."), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

const row = (k: Kind) => {
  const r = results[k] as PathResult;
  const cpu = (name: string) => r.download.cpuSPerMiB[name] ?? Number.NaN;
  const ms = (m: keyof Listen["milestones"]) => median(r.milestones.map((x) => x[m] ?? Number.NaN));
  return `| ${k} | ${r.readyMedianMs} (${r.readyMs.join(", ")}) | ${ms("endpoint")} / ${ms("settingUp")} / ${ms("verifying")} | ${r.download.median} (best ${r.download.best}) | ${cpu("agent")} / ${cpu("server")} / ${cpu("relay")} | ${JSON.stringify(r.paths)} |`;
};
console.log(
  [
    `| path | ready, ms: median (runs) | endpoint bound / setup started / setup done, ms (medians) | ${MIB} MiB download, MiB/s: median | CPU s/MiB: agent / dev cloud / iroh-relay | device's count of its gateway connection |`,
    "|---|---|---|---|---|---|",
    ...ORDER.map(row),
    "",
    `Machine: ${m.cpuModel}, nproc ${m.nproc}, Linux ${m.kernel}, bun ${m.bun}; load ${report.loadavg.before[0]} → ${report.loadavg.after[0]}; ${report.durationS} s.`,
    `Result: ${relative(REPO_ROOT, out)}`,
  ].join("\n"),
);
