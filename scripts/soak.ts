/**
 * The soak (issue 8 item 6): a detached tunnel under continuous traffic for a long time, while the
 * credentials helper rotates the token and the control plane has one outage, against the local
 * Datum. Not a test; a measurement with a verdict:
 *
 *   npm run soak                                   # 30 min, a 60 s outage at 40 %
 *   npm run soak -- --minutes 3                    # short mode: the outage shrinks in proportion (6 s)
 *   sh scripts/netns.sh ./node_modules/.bin/bun scripts/soak.ts --minutes N [options]
 *
 * Options: --minutes N (30) · --outage-seconds N (60 × minutes/30, at most 60) · --outage-at F
 * (0.4 of the run) · --rotate-seconds N (30) · --lease-seconds N (see below) · --rps N (20) ·
 * --concurrency N (4) · --sample-seconds N (5) · --out FILE (bench/results/soak-<date>.json).
 *
 * What runs: `dev cloud` (control plane, controllers, edge, gateway) as a child; an origin in this
 * process; `tunnel listen --detach --name soak` (the daemon under test); `--concurrency` clients
 * sending `--rps` requests a second in all through the public URL (GETs, and POSTs whose 1 KiB body
 * the origin echoes), each checked for status and body. The datumctl double issues a new token
 * every `--rotate-seconds` (tokens live 3 × that, so the agent's refresh at `exp − 60 s` picks up
 * each one), and every token older than the newest two is revoked (401) as it is replaced. At
 * `--outage-at` the local Datum answers every API call with 503 for `--outage-seconds`.
 *
 * The lease: the platform's 30 s, or 5 × the outage when that is longer. A lease must outlast the
 * outage plus the heartbeat's backoff step after it (≤ 30 s), or the platform itself marks the
 * Connector offline and the edge answers 503 — no agent can renew a lease through an API that is
 * down. With a 60 s outage that needs > 225 s; 300 s is used.
 *
 * Recorded every `--sample-seconds`: the daemon's RSS (VmRSS) and open file descriptors
 * (`/proc/<pid>/fd`), the Connector's Ready condition, requests so far. Verdict (exit 0 when all
 * hold): zero failed requests; RSS growth after warm-up < 10 %; no file-descriptor growth after
 * warm-up (≤ 2, sockets in flight); the heartbeat renewed the lease again after the outage; the
 * Connector Ready at the end; the agent used more than one token when the run spans a rotation.
 * Writes the result JSON, prints a summary, stops everything it started by PID.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { readCallLog } from "../src/devcloud/datumctl-double/call-log.ts";
import { updateDoubleState } from "../src/devcloud/datumctl-double/install.ts";
import { readRuntime } from "../src/devcloud/datumctl-double/tokens.ts";
import { tokenFingerprint } from "../src/devcloud/request-log.ts";
import { startLocalDatum, type LocalDatum } from "../test/helpers/local-datum.ts";

const REPO_ROOT = join(import.meta.dir, "..");
const CLI = join(REPO_ROOT, "src", "cli.ts");
const PROJECT = "local-project";
const NAME = "soak";
const REQUEST_TIMEOUT_MS = 10_000;
const STEP_TIMEOUT_MS = 90_000;

// ---------- options ----------

const { values: opts } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    minutes: { type: "string", default: "30" },
    "outage-seconds": { type: "string" },
    "outage-at": { type: "string", default: "0.4" },
    "rotate-seconds": { type: "string", default: "30" },
    "lease-seconds": { type: "string" },
    rps: { type: "string", default: "20" },
    concurrency: { type: "string", default: "4" },
    "sample-seconds": { type: "string", default: "5" },
    out: { type: "string" },
  },
  strict: true,
});

function num(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`error: --${name} must be a number ≥ ${min}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}

const minutes = num("minutes", opts.minutes, 0.1);
const durationMs = Math.round(minutes * 60_000);
const outageSeconds = opts["outage-seconds"] !== undefined ? num("outage-seconds", opts["outage-seconds"], 0) : Math.max(1, Math.round(Math.min(60, (60 * minutes) / 30)));
const outageAt = num("outage-at", opts["outage-at"], 0);
const rotateSeconds = num("rotate-seconds", opts["rotate-seconds"], 1);
const leaseSeconds = opts["lease-seconds"] !== undefined ? num("lease-seconds", opts["lease-seconds"], 1) : Math.max(30, 5 * outageSeconds);
const rps = num("rps", opts.rps, 1);
const concurrency = Math.round(num("concurrency", opts.concurrency, 1));
const sampleMs = num("sample-seconds", opts["sample-seconds"], 1) * 1000;
const warmupMs = Math.min(Math.max(30_000, durationMs * 0.1), durationMs * 0.5);
const started = new Date();
const outPath = opts.out ?? join(REPO_ROOT, "bench", "results", `soak-${started.toISOString().slice(0, 10)}.json`);
const command = `scripts/soak.ts ${Bun.argv.slice(2).join(" ")}`.trim();

const log = (line: string): void => void process.stderr.write(`[soak ${((performance.now() - t0) / 1000).toFixed(1).padStart(7)}s] ${line}\n`);
const t0 = performance.now();

// ---------- process facts ----------

function procStatus(pid: number): { rssKb: number; threads: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    return { rssKb: Number(/^VmRSS:\s+(\d+)/m.exec(text)?.[1] ?? NaN), threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? NaN) };
  } catch {
    return undefined;
  }
}

function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

// ---------- the run ----------

interface Sample {
  t: number;
  rssKb: number | null;
  fds: number | null;
  threads: number | null;
  connectorReady: string | null;
  requests: number;
  failed: number;
  phase: "warm-up" | "steady" | "outage";
}

interface Failure {
  t: number;
  phase: string;
  what: string;
}

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, CLI, ...args], { env, cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: STEP_TIMEOUT_MS, killSignal: "SIGKILL" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

let datum: LocalDatum | undefined;
let origin: ReturnType<typeof Bun.serve> | undefined;
let daemonPid: number | undefined;
let home: string | undefined;

async function main(): Promise<number> {
  log(`${minutes} min, ${rps} req/s over ${concurrency} clients; token rotates every ${rotateSeconds} s; ${outageSeconds} s outage at ${Math.round(outageAt * 100)} %; lease ${leaseSeconds} s; warm-up ${Math.round(warmupMs / 1000)} s`);
  datum = await startLocalDatum();
  const admin = datum.admin.bind(datum);
  const check = async (res: Promise<Response>, what: string): Promise<Response> => {
    const r = await res;
    if (!r.ok) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
    return r;
  };
  await check(admin("config", { body: { leaseDurationSeconds: leaseSeconds } }), "configure the lease");
  const statePath = datum.env.DATUMCTL_DOUBLE_STATE as string;
  const callLogPath = datum.env.DATUMCTL_DOUBLE_LOG as string;
  updateDoubleState(statePath, (s) => {
    const session = s.sessions[datum?.env.DATUM_SESSION as string];
    if (!session) throw new Error("the datumctl double has no session for DATUM_SESSION");
    session.token = { ...session.token, mode: "sticky", lifetimeSec: Math.max(70, 3 * rotateSeconds), rotateEverySec: rotateSeconds };
  });

  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "POST") return new Response(await req.arrayBuffer(), { headers: { "x-path": path } });
      return new Response(`soak ${path}`);
    },
  });

  home = mkdtempSync(join(tmpdir(), "soak-home-"));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...datum.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_DATA_HOME: join(home, ".local/share"), NO_COLOR: "1" })) {
    if (v !== undefined) env[k] = v;
  }

  const up = await cli(["tunnel", "listen", "--detach", "--name", NAME, "--endpoint", `127.0.0.1:${origin.port}`, "--wait", "60s"], env);
  if (up.code !== 0) throw new Error(`listen --detach exited ${up.code}: ${up.stderr.trim()}`);
  const url = up.stdout.trim();
  const runPath = join(env.DATUM_CONNECT_DIR as string, "tunnels", NAME, "run.json");
  const run = JSON.parse(readFileSync(runPath, "utf8")) as { pid: number; tunnelId: string; heartbeat: { connector: string | null } };
  daemonPid = run.pid;
  log(`daemon PID ${daemonPid} ready at ${url}`);

  const connectorName = async (): Promise<string | undefined> => {
    const routes = (await (await admin("routes")).json()) as { items: { proxyName: string; connectorName: string }[] };
    return routes.items.find((r) => r.proxyName === run.tunnelId)?.connectorName;
  };
  const connector = await connectorName();
  const readyOf = async (): Promise<string | null> => {
    try {
      const state = (await (await admin("state")).json()) as { projects: Record<string, { connectors?: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[] }> };
      const c = state.projects[PROJECT]?.connectors?.find((x) => x.metadata.name === connector);
      return c?.status?.conditions?.find((x) => x.type === "Ready")?.status ?? null;
    } catch {
      return null;
    }
  };

  // ----- traffic -----
  const runStart = performance.now();
  const runEnd = runStart + durationMs;
  /** Nominal outage time; the outage itself starts just before the lease renewal that follows (below). */
  const outageDue = runStart + outageAt * durationMs;
  let outageStart = Number.POSITIVE_INFINITY;
  let outageEnd = Number.POSITIVE_INFINITY;
  let outageWall: { start: number; end: number } | undefined;
  const phaseAt = (t: number): Sample["phase"] => (t >= outageStart && t < outageEnd ? "outage" : t - runStart < warmupMs ? "warm-up" : "steady");
  const latencies: number[] = [];
  const failures: Failure[] = [];
  let requests = 0;
  let failed = 0;
  const failedByPhase: Record<string, number> = { "warm-up": 0, steady: 0, outage: 0 };
  const body = new Uint8Array(1024).map((_, i) => 97 + (i % 26));
  const bodyText = new TextDecoder().decode(body);
  const intervalMs = (1000 * concurrency) / rps;

  async function client(id: number): Promise<void> {
    let n = 0;
    let next = performance.now() + (id * intervalMs) / concurrency;
    while (performance.now() < runEnd) {
      const wait = next - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      next += intervalMs;
      if (performance.now() >= runEnd) break;
      const path = `/c${id}/r${n++}`;
      const post = n % 2 === 0;
      const t = performance.now();
      let problem: string | undefined;
      try {
        const res = await fetch(`${url}${path}`, {
          method: post ? "POST" : "GET",
          ...(post ? { body } : {}),
          keepalive: false,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        const want = post ? bodyText : `soak ${path}`;
        if (res.status !== 200) problem = `HTTP ${res.status}: ${text.slice(0, 80)}`;
        else if (text !== want) problem = `wrong body (${text.length} bytes)`;
      } catch (err) {
        problem = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      requests++;
      if (problem) {
        failed++;
        const phase = phaseAt(t);
        failedByPhase[phase] = (failedByPhase[phase] ?? 0) + 1;
        if (failures.length < 50) failures.push({ t: round((t - runStart) / 1000), phase, what: `${post ? "POST" : "GET"} ${path}: ${problem}` });
      } else latencies.push(performance.now() - t);
    }
  }

  // ----- token revocation and the outage -----
  const denied = new Set<string>();
  async function revokeOld(): Promise<void> {
    const issued = readRuntime(statePath).issued;
    for (const token of issued.slice(0, -2)) {
      if (denied.has(token)) continue;
      denied.add(token);
      await admin("deny-token", { body: { token } }).catch(() => undefined);
    }
  }

  let outageInjected = false;
  let requestSeq = 0;
  /** Lease renewals the local Datum saw: wall-clock time, status, token fingerprint. */
  const renewals: { at: number; status: number; auth: string }[] = [];
  let unauthorized = 0;
  async function readRequests(): Promise<void> {
    try {
      const res = await admin(`requests?since=${requestSeq}`);
      const items = ((await res.json()) as { items: { seq: number; time: string; method: string; path: string; status: number; headers: Record<string, string> }[] }).items;
      for (const r of items) {
        requestSeq = Math.max(requestSeq, r.seq);
        if (r.status === 401) unauthorized++;
        if (r.method === "PATCH" && /\/leases\/[^/]+$/.test(r.path)) renewals.push({ at: Date.parse(r.time), status: r.status, auth: r.headers.authorization ?? "" });
      }
    } catch {
      // Read again at the next sample.
    }
  }

  const samples: Sample[] = [];
  async function sample(): Promise<void> {
    const now = performance.now();
    const st = daemonPid !== undefined ? procStatus(daemonPid) : undefined;
    const fds = daemonPid !== undefined ? fdCount(daemonPid) : undefined;
    samples.push({
      t: round((now - runStart) / 1000),
      rssKb: st?.rssKb ?? null,
      fds: fds ?? null,
      threads: st?.threads ?? null,
      connectorReady: await readyOf(),
      requests,
      failed,
      phase: phaseAt(now),
    });
  }

  // The heartbeat renews every ⌊lease/2⌋ s + up to ⌊lease/10⌋ s: an outage shorter than that could
  // fall between two renewals and test nothing. So, once due, it starts 1 s before the earliest
  // next renewal (after the one seen last); a long outage covers several renewals anyway.
  const baseS = Math.max(1, Math.floor(leaseSeconds / 2));
  let alignFrom: number | undefined;
  let injectAt: number | undefined;
  async function maybeInjectOutage(): Promise<void> {
    if (outageInjected || outageSeconds === 0 || performance.now() < outageDue) return;
    if (injectAt === undefined) {
      const from = (alignFrom ??= Date.now());
      await readRequests();
      const seen = renewals.filter((r) => r.status < 300 && r.at >= from - 1_000).at(-1);
      if (!seen && Date.now() - from < (baseS + 5) * 1000) return;
      injectAt = seen ? seen.at + (baseS - 1) * 1000 : Date.now();
      // Never so late that the run ends before the outage does.
      const runEndWall = Date.now() + (runEnd - performance.now());
      if (injectAt + outageSeconds * 1000 > runEndWall - 5_000) injectAt = Date.now();
    }
    if (Date.now() < injectAt) return;
    outageInjected = true;
    await check(admin("faults", { body: { status: 503, forMs: outageSeconds * 1000, message: "soak: control plane outage" } }), "inject the outage");
    outageStart = performance.now();
    outageEnd = outageStart + outageSeconds * 1000;
    outageWall = { start: Date.now(), end: Date.now() + outageSeconds * 1000 };
    log(`control-plane outage: every API call answers 503 for ${outageSeconds} s`);
  }

  async function controller(): Promise<void> {
    let nextSample = performance.now();
    let lastReport = performance.now();
    while (performance.now() < runEnd) {
      await maybeInjectOutage();
      if (performance.now() >= nextSample) {
        nextSample += sampleMs;
        await revokeOld();
        await readRequests();
        await sample();
        if (!daemonPid || !alive(daemonPid)) throw new Error(`the daemon (PID ${daemonPid}) is gone`);
      }
      if (performance.now() - lastReport >= 60_000) {
        lastReport = performance.now();
        const s = samples.at(-1);
        log(`${requests} requests, ${failed} failed; RSS ${s?.rssKb} kB, ${s?.fds} fds, Connector Ready=${s?.connectorReady}`);
      }
      await Bun.sleep(Math.max(10, Math.min(250, nextSample - performance.now())));
    }
  }

  await sample();
  await Promise.all([controller(), ...Array.from({ length: concurrency }, (_, i) => client(i))]);
  await readRequests();
  // A short run may end before the renewal that follows the outage: wait for it (bounded by one
  // renewal interval plus the heartbeat's largest backoff step).
  const resumeDeadline = performance.now() + Math.min(90_000, (leaseSeconds * 0.6 + 35) * 1000);
  while (outageWall && !renewals.some((r) => r.at >= (outageWall as { end: number }).end && r.status < 300) && performance.now() < resumeDeadline) {
    await Bun.sleep(500);
    await readRequests();
  }
  await sample();
  const endReady = await readyOf();

  // ----- verdict -----
  const calls = readCallLog(callLogPath).calls.filter((c) => c.argv.includes("get-token"));
  const tokensUsed = new Set(renewals.filter((r) => r.status < 300).map((r) => r.auth));
  const issued = readRuntime(statePath).issued;
  const fingerprints = new Set(issued.map((t) => `Bearer ${tokenFingerprint(t)}`));
  const afterOutage = outageWall ? renewals.find((r) => r.at >= (outageWall as { end: number }).end && r.status < 300) : undefined;
  const duringOutage = outageWall ? renewals.filter((r) => r.at >= (outageWall as { start: number }).start && r.at < (outageWall as { end: number }).end) : [];
  const steady = samples.filter((s) => s.t * 1000 >= warmupMs && s.rssKb !== null && s.fds !== null);
  const window = Math.max(1, Math.min(6, Math.floor(steady.length / 3)));
  const first = steady.slice(0, window);
  const last = steady.slice(-window);
  const rssBase = median(first.map((s) => s.rssKb as number));
  const rssFinal = median(last.map((s) => s.rssKb as number));
  const fdBase = median(first.map((s) => s.fds as number));
  const fdFinal = median(last.map((s) => s.fds as number));
  const rssGrowthPct = ((rssFinal - rssBase) / rssBase) * 100;
  const enoughSamples = steady.length >= 6;
  const spansRotation = durationMs > 2 * rotateSeconds * 1000 + 30_000;
  const checks = {
    zeroFailedRequests: failed === 0,
    rssGrowthUnder10Pct: enoughSamples ? rssGrowthPct < 10 : null,
    noFdGrowth: enoughSamples ? fdFinal <= fdBase + 2 : null,
    outageHappened: outageSeconds === 0 ? null : outageWall !== undefined,
    heartbeatResumedAfterOutage: outageSeconds === 0 ? null : afterOutage !== undefined,
    connectorReadyAtEnd: endReady === "True",
    tokenRotated: spansRotation ? tokensUsed.size > 1 : null,
  };
  const pass = Object.values(checks).every((v) => v !== false);

  const model = /^model name\s*:\s*(.+)$/m.exec(existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "")?.[1]?.trim() ?? "unknown";
  const result = {
    kind: "soak",
    script: "scripts/soak.ts",
    command: `npm run soak${command === "scripts/soak.ts" ? "" : ` -- ${Bun.argv.slice(2).join(" ")}`}`,
    date: started.toISOString(),
    netns: process.env.DATUM_CONNECT_IN_NETNS === "1",
    machine: { nproc: availableParallelism(), cpuModel: model, kernel: release(), memGiB: round(totalmem() / 1024 ** 3), bun: Bun.version },
    loadavgAtEnd: loadavg().map((x) => round(x, 2)),
    config: {
      minutes,
      outageSeconds,
      outageDueAtSeconds: round((outageAt * durationMs) / 1000),
      rotateSeconds,
      tokenLifetimeSeconds: Math.max(70, 3 * rotateSeconds),
      leaseSeconds,
      rps,
      concurrency,
      sampleSeconds: sampleMs / 1000,
      warmupSeconds: round(warmupMs / 1000),
      note:
        minutes < 30
          ? `short mode: ${minutes} min instead of 30, the outage shortened in proportion (${outageSeconds} s instead of 60 s)`
          : "full mode",
    },
    pass,
    checks,
    requests: {
      total: requests,
      failed,
      failedByPhase,
      failures,
      latencyMs: { p50: round(pct(latencies, 50)), p90: round(pct(latencies, 90)), p99: round(pct(latencies, 99)), max: round(Math.max(...latencies)) },
    },
    memory: { unit: "kB VmRSS of the daemon", baseline: rssBase, final: rssFinal, growthPct: round(rssGrowthPct, 2), peak: Math.max(...samples.map((s) => s.rssKb ?? 0)) },
    fileDescriptors: { baseline: fdBase, final: fdFinal, growth: fdFinal - fdBase, max: Math.max(...samples.map((s) => s.fds ?? 0)) },
    credentials: {
      helperCalls: calls.length,
      tokensIssued: issued.length,
      tokensUsedForLeaseRenewals: tokensUsed.size,
      tokensUsedNotIssuedByHelper: [...tokensUsed].filter((a) => !fingerprints.has(a)).length,
      revoked: denied.size,
      unauthorizedResponses: unauthorized,
    },
    outage: {
      seconds: outageSeconds,
      startedAtSeconds: Number.isFinite(outageStart) ? round((outageStart - runStart) / 1000) : null,
      /** Renewals the outage answered with 503 (the heartbeat's backoff steps). */
      leaseRenewalAttemptsDuring: duringOutage.map((r) => ({ atSeconds: round(((r.at - (outageWall as { start: number }).start) / 1000)), status: r.status })),
      firstRenewalAfterSeconds: afterOutage && outageWall ? round((afterOutage.at - outageWall.end) / 1000) : null,
    },
    heartbeat: { renewals: renewals.filter((r) => r.status < 300).length, failedRenewals: renewals.filter((r) => r.status >= 300).length },
    samples,
  };
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, `${JSON.stringify(result, null, 2)}\n`);

  const stop = await cli(["tunnel", "stop", "--name", NAME], env);
  if (stop.code !== 0) log(`warning: tunnel stop exited ${stop.code}: ${stop.stderr.trim()}`);

  const line = (k: string, v: unknown) => process.stdout.write(`${k.padEnd(28)} ${typeof v === "string" ? v : JSON.stringify(v)}\n`);
  process.stdout.write(`\nsoak ${pass ? "PASS" : "FAIL"} (${result.config.note}) → ${outPath}\n`);
  line("requests", `${requests} total, ${failed} failed ${JSON.stringify(failedByPhase)}`);
  line("latency ms p50/p99/max", `${result.requests.latencyMs.p50} / ${result.requests.latencyMs.p99} / ${result.requests.latencyMs.max}`);
  line("RSS kB base → final", `${rssBase} → ${rssFinal} (${round(rssGrowthPct, 2)} %), peak ${result.memory.peak}`);
  line("fds base → final", `${fdBase} → ${fdFinal}, max ${result.fileDescriptors.max}`);
  line("tokens", `${issued.length} issued, ${tokensUsed.size} used for renewals, ${denied.size} revoked, ${unauthorized} 401s, ${calls.length} helper calls`);
  line("outage", `${outageSeconds} s at ${result.outage.startedAtSeconds} s: ${duringOutage.length} renewal attempts got 503; first renewal ${result.outage.firstRenewalAfterSeconds ?? "never"} s after it`);
  line("checks", checks);
  return pass ? 0 : 1;
}

async function cleanup(): Promise<void> {
  if (daemonPid !== undefined && alive(daemonPid)) {
    try {
      process.kill(daemonPid, "SIGTERM");
      for (let i = 0; i < 100 && alive(daemonPid); i++) await Bun.sleep(100);
      if (alive(daemonPid)) process.kill(daemonPid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  origin?.stop(true);
  await datum?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}

// Ctrl+C (or a test's timeout): stop the daemon and the local Datum before leaving, never orphan them.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping what this run started`);
    void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  });
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
