/**
 * Networks that change (issue 15 item 2; BENCHMARKS.md "When the network changes"): how long the
 * public URL fails after the device moves to a new address, after the local Datum's gateway
 * restarts with a new identity, and after the whole local Datum restarts on the same `--dir`, with
 * a steady client stream through the public URL counting every failed request.
 *
 *   sh scripts/netns.sh ./node_modules/.bin/bun bench/network-change.ts [--moves 10] [--restarts 3] [--rate-ms 100] [--out FILE]
 *
 * Two machines, as in the e2e tests: the device is a test host (test/helpers/test-host.ts: its own
 * network and UTS namespaces, joined to ours by a veth pair in 198.18.0.0/15, no route anywhere
 * else) running `tunnel listen -o json` and its origin; the local Datum runs here with its gateway
 * bound to 0.0.0.0 so it reaches the device over the veth pair. The client sends a GET on a fresh
 * connection every `--rate-ms` (open loop: a stalled request never delays the next one), each with
 * a 15 s budget, and checks the answer's body.
 *
 * Per event (t0 = the moment the change is complete: the old address removed, the new gateway
 * answering, the restarted local Datum's env file written), "serving again" is the completion of
 * the first successful request started after t0; failures are the requests that failed whose start
 * lies between this event's t0 minus one request budget and the next event's; "after recovery" are
 * the failed requests that started after serving again (must be 0). The agent must not restart:
 * the listen keeps its PID, and its run.json's worker restarts are reported.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { BUN } from "../test/helpers/cli.ts";
import { runJsonUnder } from "../test/helpers/faults.ts";
import { killAllListens, startListen, type ListenProcess } from "../test/helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../test/helpers/local-datum.ts";
import { startTestHost, testHostUnavailable, type TestHost } from "../test/helpers/test-host.ts";
import { REPO_ROOT } from "./lib/datum.ts";
import { machine, machineTag, median, round } from "./lib/stats.ts";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const MOVES = Number(flag("--moves") ?? 10);
const RESTARTS = Number(flag("--restarts") ?? 3);
const RATE_MS = Number(flag("--rate-ms") ?? 100);
const REQUEST_BUDGET_MS = 15_000;
/** How long one event may take to serve again before the benchmark calls it broken. */
const EVENT_BUDGET_MS = Number(flag("--event-budget-ms") ?? 60_000);
/** Quiet time after serving again, so late failures of this event are seen before the next. */
const SETTLE_MS = 3_000;

if (process.env.DATUM_CONNECT_IN_NETNS !== "1") {
  console.error("bench/network-change.ts makes network namespaces: run it through scripts/netns.sh");
  process.exit(2);
}
const unavailable = testHostUnavailable();
if (unavailable) {
  console.error(`bench/network-change.ts needs a test host: ${unavailable}`);
  process.exit(2);
}

interface Sample {
  start: number;
  end: number;
  ok: boolean;
  status: number | null;
  error?: string;
}

/** The steady client: one GET every RATE_MS on a fresh connection, open loop. */
class Stream {
  readonly samples: Sample[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #inFlight = new Set<Promise<void>>();
  constructor(
    readonly url: string,
    readonly expected: string,
  ) {}
  start(): void {
    this.#timer = setInterval(() => {
      const p = this.#one();
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
    }, RATE_MS);
  }
  async #one(): Promise<void> {
    const start = performance.now();
    try {
      const res = await fetch(`${this.url}/bench`, { keepalive: false, signal: AbortSignal.timeout(REQUEST_BUDGET_MS) });
      const body = await res.text();
      this.samples.push({ start, end: performance.now(), ok: res.status === 200 && body === this.expected, status: res.status, ...(res.status === 200 ? {} : { error: body.slice(0, 120) }) });
    } catch (err) {
      this.samples.push({ start, end: performance.now(), ok: false, status: null, error: err instanceof Error ? err.message : String(err) });
    }
  }
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all([...this.#inFlight]);
  }
  /** Completion of the first successful request started at or after `t0`. */
  async servingAgain(t0: number, budgetMs: number): Promise<number> {
    const deadline = t0 + budgetMs;
    for (;;) {
      const first = this.samples.filter((s) => s.ok && s.start >= t0).sort((a, b) => a.end - b.end)[0];
      if (first) return first.end;
      if (performance.now() > deadline) {
        const last = this.samples.slice(0, 5).map((x) => `${Math.round(x.start - t0)}+${Math.round(x.end - x.start)}ms ${x.status ?? "no answer"}${x.error ? ` (${x.error})` : ""}`);
        throw new Error(`not serving again within ${budgetMs} ms; last answers: ${last.join("; ")}`);
      }
      await Bun.sleep(20);
    }
  }
}

interface EventResult {
  kind: "address" | "gateway" | "local-datum";
  detail: string;
  /** t0 → serving again (ms). */
  recoveryMs: number;
  /** For a local-Datum restart: from the stop signal to serving again (ms). */
  outageMs?: number;
  failed: number;
  failedAfterRecovery: number;
  failures: { atMs: number; status: number | null; error?: string }[];
}

function windowOf(stream: Stream, from: number, to: number): Sample[] {
  return stream.samples.filter((s) => s.start >= from && s.start < to);
}

function runJsonOf(stateDir: string): Record<string, unknown> | undefined {
  return runJsonUnder(stateDir);
}

function port(url: string): number {
  return Number(new URL(url).port);
}

const root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "bench-netchange-"));
// No relay: the gateway reaches the device only over its published addresses, the path this measures.
const datumArgs = ["--gateway-bind", "0.0.0.0:0", "--no-relay"];
let datum: LocalDatum = await startLocalDatum(datumArgs, { dir: join(root, "datum") });
const zeroDelays = async (d: LocalDatum) => {
  const res = await d.admin("config", { body: { delays: { connector: 0, accepted: 0, certificatesReady: 0, programmed: 0, connectorMetadataProgrammed: 0, advertisement: 0 } } });
  if (!res.ok) throw new Error(`could not set zero controller delays: ${res.status}`);
};
await zeroDelays(datum);
const edgeUrl = datum.env.DATUM_DEV_CLOUD_EDGE;
if (!edgeUrl) throw new Error("the local Datum has no edge (iroh's native module did not load)");

let host: TestHost | undefined;
let listen: ListenProcess | undefined;
let stream: Stream | undefined;
const results: EventResult[] = [];
try {
  host = await startTestHost(`bench-device-${process.pid}`, [port(datum.apiUrl), port(edgeUrl)]);
  const originPort = 20_000 + (process.pid % 20_000);
  await host.spawnReady([BUN, join(REPO_ROOT, "test", "helpers", "fixtures", "origin.ts"), String(originPort), "device"]);
  const stateDir = join(root, "device-state");
  const env = { ...datum.env, DATUM_CONNECT_DIR: stateDir, HOME: join(root, "device-home") };
  listen = await startListen(["--endpoint", `127.0.0.1:${originPort}`, "-o", "json"], { env, wrap: host.wrap, readyTimeoutMs: 60_000 });
  const listenPid = listen.pid;
  console.log(`device ${host.hostname} at ${host.address}, listen pid ${listenPid}, public URL ${listen.url}`);
  const first = await fetch(`${listen.url}/bench`, { keepalive: false, signal: AbortSignal.timeout(REQUEST_BUDGET_MS) }).then(
    async (r) => `${r.status} ${await r.text()}`,
    (err: unknown) => String(err),
  );
  console.log(`first request: ${first}`);
  stream = new Stream(listen.url, "device /bench");
  stream.start();
  await stream.servingAgain(performance.now(), EVENT_BUDGET_MS);
  await Bun.sleep(SETTLE_MS);

  const measure = async (kind: EventResult["kind"], detail: string, change: () => Promise<{ t0: number; stopAt?: number }>) => {
    const s = stream as Stream;
    const { t0, stopAt } = await change();
    const back = await s.servingAgain(t0, EVENT_BUDGET_MS);
    await Bun.sleep(SETTLE_MS);
    const from = (stopAt ?? t0) - REQUEST_BUDGET_MS;
    const window = windowOf(s, from, performance.now()).filter((x) => x.end >= (stopAt ?? t0));
    const failed = window.filter((x) => !x.ok);
    const r: EventResult = {
      kind,
      detail,
      recoveryMs: round(back - t0, 0),
      ...(stopAt !== undefined ? { outageMs: round(back - stopAt, 0) } : {}),
      failed: failed.length,
      failedAfterRecovery: failed.filter((x) => x.start >= back).length,
      failures: failed.slice(0, 20).map((x) => ({ atMs: round(x.start - (stopAt ?? t0), 0), status: x.status, ...(x.error ? { error: x.error } : {}) })),
    };
    results.push(r);
    console.log(`${kind} ${detail}: serving again after ${r.recoveryMs} ms${r.outageMs !== undefined ? ` (${r.outageMs} ms since the stop)` : ""}, ${r.failed} failed, ${r.failedAfterRecovery} after recovery`);
  };

  for (let i = 0; i < MOVES; i++) {
    const h = host;
    const from = h.address;
    const to = 3 + ((i + 1) % 250);
    await measure("address", `${from} → 198.18.x.${to}`, async () => {
      h.moveTo(to);
      return { t0: performance.now() };
    });
  }
  for (let i = 0; i < RESTARTS; i++) {
    await measure("gateway", `restart ${i + 1}`, async () => {
      const res = await datum.admin("gateway", { body: { action: "restart" } });
      if (!res.ok) throw new Error(`gateway restart: ${res.status} ${await res.text()}`);
      return { t0: performance.now() };
    });
  }
  for (let i = 0; i < RESTARTS; i++) {
    await measure("local-datum", `restart ${i + 1}`, async () => {
      const stopAt = performance.now();
      await datum.stop();
      datum = await startLocalDatum(datumArgs, { dir: join(root, "datum") });
      await zeroDelays(datum);
      return { t0: performance.now(), stopAt };
    });
  }

  await stream.stop();
  const run = runJsonOf(stateDir) as { workers?: { name: string; restarts: number }[] } | undefined;
  const agentRestarts = listen.exitCode() === null && listen.pid === listenPid ? 0 : 1;
  const events = listen
    .stdout()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string; reason?: string })
    .filter((e) => e.type === "tunnel_degraded" || e.type === "tunnel_recovered");
  const byKind = (k: EventResult["kind"]) => results.filter((r) => r.kind === k);
  const summary = (k: EventResult["kind"]) => {
    const rs = byKind(k);
    const ms = rs.map((r) => r.recoveryMs).sort((a, b) => a - b);
    return { n: rs.length, medianMs: median(ms), maxMs: ms[ms.length - 1] ?? null, failed: rs.reduce((a, r) => a + r.failed, 0), failedAfterRecovery: rs.reduce((a, r) => a + r.failedAfterRecovery, 0) };
  };
  const report = {
    bench: "network-change",
    at: new Date().toISOString(),
    command: `sh scripts/netns.sh ./node_modules/.bin/bun bench/network-change.ts ${process.argv.slice(2).join(" ")}`.trim(),
    machine: machine(),
    config: { moves: MOVES, restarts: RESTARTS, rateMs: RATE_MS, requestBudgetMs: REQUEST_BUDGET_MS, requests: stream.samples.length },
    summary: { address: summary("address"), gateway: summary("gateway"), localDatum: summary("local-datum") },
    agent: { pid: listenPid, restarts: agentRestarts, workers: run?.workers?.map((w) => ({ name: w.name, restarts: w.restarts })) ?? null, readinessEvents: events },
    events: results,
  };
  console.log(JSON.stringify(report.summary, null, 2));
  console.log(`agent restarts: ${agentRestarts}; workers: ${JSON.stringify(report.agent.workers)}; readiness events: ${events.length}`);
  const out = flag("--out") ?? join(REPO_ROOT, "bench", "results", `${new Date().toISOString().slice(0, 10)}-${machineTag(report.machine.cpuModel, report.machine.nproc)}-network-change.json`);
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${relative(REPO_ROOT, out)}`);
} finally {
  await stream?.stop();
  if (listen) await listen.stop("SIGINT").catch(() => undefined);
  await killAllListens();
  await host?.stop();
  await datum.stop();
}
