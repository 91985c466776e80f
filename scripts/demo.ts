/**
 * `npm run demo`: the whole product on one machine, in under a minute.
 *
 *   1. start a local Datum (`datumctl-connect dev cloud`) as a child process;
 *   2. start a sample web server (the "laptop" service) on 127.0.0.1:<free port>;
 *   3. run `tunnel listen --endpoint 127.0.0.1:<port>` against it, showing its live progress;
 *   4. fetch the public URL through the local edge and print what came back;
 *   5. Ctrl+C (SIGINT) the tunnel, stop the local Datum, remove the temp files, exit 0.
 *
 * Any failure prints `error: …`, stops everything this script started (by PID) and exits non-zero.
 * `npm run demo` runs it through scripts/netns.sh, so on Linux nothing here can reach past loopback.
 * The children run in their own process group: a Ctrl+C on the terminal reaches only this script,
 * which then stops them in order (one SIGINT to listen, so it disables the tunnel cleanly).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const REPO_ROOT = join(import.meta.dir, "..");
const CLI = join(REPO_ROOT, "src", "cli.ts");
const CLOUD_READY_MS = 20_000;
const LISTEN_READY_MS = 60_000;
const FETCH_MS = 10_000;
const STOP_MS = 15_000;
const GREETING = "Hello from your laptop, via Datum!";
const READY_RE = /^Tunnel ready after \d+ sec: (https?:\/\/\S+)$/;

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[22m` : s);
const dim = (s: string): string => (color ? `\x1b[2m${s}\x1b[22m` : s);
const out = (line = ""): void => void process.stdout.write(`${line}\n`);

class DemoError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)}s`;
let stepNo = 0;
function step(title: string, explain: string): void {
  stepNo++;
  out();
  out(bold(`[${stepNo}/5] ${title}`));
  for (const line of explain.split("\n")) out(dim(`      ${line}`));
}

/** Call `onLine` for each line of a child's output stream, as it arrives. */
async function eachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  buf += decoder.decode();
  if (buf !== "") onLine(buf);
}

/** A child we started, its stderr shown live with a name prefix and kept for the checks below. */
interface Child {
  readonly name: string;
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly stderrLines: string[];
  /** Both output streams read to the end (so nothing it printed is lost). */
  readonly drained: Promise<void>;
}

const children: Child[] = [];

function spawnChild(name: string, args: readonly string[], env: Record<string, string>, onStdout: (line: string) => void): Child {
  const proc = Bun.spawn([process.execPath, CLI, ...args], {
    cwd: REPO_ROOT,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true, // own process group: the terminal's Ctrl+C is ours to relay, once
  });
  const stderrLines: string[] = [];
  const prefix = dim(`  ${name.padEnd(6)}│ `);
  const drained = Promise.all([
    eachLine(proc.stderr, (line) => {
      stderrLines.push(line);
      process.stderr.write(`${prefix}${line}\n`);
    }),
    eachLine(proc.stdout, onStdout),
  ]).then(() => undefined, () => undefined);
  const child: Child = { name, proc, stderrLines, drained };
  children.push(child);
  return child;
}

/** The parent environment without any DATUM_* of the user's own (the local Datum supplies those). */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    const datum = k.startsWith("DATUM_") || k.startsWith("DATUMCTL_");
    if (v !== undefined && (!datum || k === "DATUM_CONNECT_IN_NETNS")) env[k] = v;
  }
  env.NO_COLOR = "1";
  return env;
}

/** Parse `export NAME='value'` lines as `dev cloud` writes them. */
function parseExports(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line.trim());
    if (m) env[m[1] as string] = (m[2] as string).replace(/'\\''/g, "'");
  }
  return env;
}

let interrupt: (err: DemoError) => void = () => undefined;
const interrupted = new Promise<never>((_, reject) => {
  interrupt = reject;
});
interrupted.catch(() => undefined);
const onSignal = (name: string) => () => interrupt(new DemoError(`interrupted (${name})`, 130));
process.once("SIGINT", onSignal("SIGINT"));
process.once("SIGTERM", onSignal("SIGTERM"));

/** `promise`, unless `ms` pass first (then `what` timed out) or the user interrupts. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DemoError(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout, interrupted]).finally(() => clearTimeout(timer));
}

/** Signal a child and wait for it; SIGKILL if it is still there after `ms`. Returns its exit code. */
async function stopChild(child: Child, signal: NodeJS.Signals, ms: number): Promise<{ code: number | null; killed: boolean }> {
  const { proc } = child;
  if (proc.exitCode !== null || proc.signalCode !== null) return { code: proc.exitCode, killed: false };
  proc.kill(signal);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, ms);
  await proc.exited;
  clearTimeout(timer);
  await child.drained;
  return { code: proc.exitCode, killed };
}

const tmp = mkdtempSync(join(tmpdir(), "datum-connect-demo-"));
let origin: ReturnType<typeof Bun.serve> | undefined;
let listen: Child | undefined;
let cloud: Child | undefined;

async function main(): Promise<void> {
  out(bold("datumctl-connect demo: expose a service on this machine at a public URL, through a local Datum"));
  out(
    dim(
      process.env.DATUM_CONNECT_IN_NETNS === "1"
        ? "Everything runs on loopback inside a private network namespace: nothing leaves this machine."
        : "Everything binds loopback only (no network namespace here; see the note above, if any).",
    ),
  );

  step(
    "Start a local Datum",
    "`datumctl-connect dev cloud`: the control plane and its controllers, the edge that serves public\n" +
      "URLs, and the gateway that reaches devices over iroh, all on 127.0.0.1.",
  );
  const envFile = join(tmp, "env.sh");
  cloud = spawnChild("cloud", ["dev", "cloud", "--dir", join(tmp, "cloud"), "--env-file", envFile], baseEnv(), () => undefined);
  const cloudProc = cloud.proc;
  await within(
    (async () => {
      while (!existsSync(envFile)) {
        if (cloudProc.exitCode !== null) throw new DemoError(`dev cloud exited with code ${cloudProc.exitCode} before it was ready (its messages are above)`);
        await Bun.sleep(25);
      }
    })(),
    CLOUD_READY_MS,
    "dev cloud did not become ready",
  );
  const datumEnv = parseExports(readFileSync(envFile, "utf8"));
  if (!datumEnv.DATUM_API_HOST) throw new DemoError(`dev cloud wrote no DATUM_API_HOST to ${envFile}`);
  if (!datumEnv.DATUM_DEV_CLOUD_EDGE) {
    throw new DemoError("the local Datum started without its edge and gateway (iroh's native module did not load on this platform; see the warning above)");
  }
  out(`      control plane ${datumEnv.DATUM_API_HOST}   edge ${datumEnv.DATUM_DEV_CLOUD_EDGE}   project ${datumEnv.DATUM_PROJECT ?? "?"}`);

  step("Start a sample web server", "The service you want to share: it answers every request with a greeting, the path and the time.");
  let served = 0;
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      served++;
      const url = new URL(req.url);
      const body = `${GREETING}\n  you asked for: ${req.method} ${url.pathname}${url.search}\n  at:            ${new Date().toISOString()}\n`;
      return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8", "x-served-by": "demo-origin" } });
    },
  });
  const endpoint = `127.0.0.1:${origin.port}`;
  out(`      listening on http://${endpoint}`);

  step(
    `Run \`datumctl connect tunnel listen --endpoint ${endpoint}\``,
    "It creates a tunnel, starts its iroh endpoint in a worker thread, waits for the local Datum's\n" +
      "controllers, and checks the public URL really answers before it says ready. Its progress:",
  );
  let resolveUrl: (url: string) => void = () => undefined;
  const ready = new Promise<string>((resolve) => {
    resolveUrl = resolve;
  });
  listen = spawnChild("listen", ["tunnel", "listen", "--endpoint", endpoint], { ...baseEnv(), ...datumEnv }, (line) => {
    const m = READY_RE.exec(line.trim());
    if (m) {
      out(`      stdout: ${line.trim()}`);
      resolveUrl(m[1] as string);
    } else if (line.trim() !== "") {
      out(`      stdout: ${line}`);
    }
  });
  const listenProc = listen.proc;
  const publicUrl = await within(
    Promise.race([
      ready,
      listenProc.exited.then((code) => {
        throw new DemoError(`tunnel listen exited with code ${code} before it was ready (its messages are above)`);
      }),
    ]),
    LISTEN_READY_MS,
    "tunnel listen did not print its ready line",
  );
  // Its "Press Ctrl+C to stop..." follows on stderr; let it land before the next step's lines.
  for (let i = 0; i < 40 && !listen.stderrLines.some((l) => l.startsWith("Press Ctrl+C")); i++) await Bun.sleep(25);
  out(`      ready at ${elapsed()} since the demo started (the demo presses Ctrl+C for you in step 5)`);

  const target = `${publicUrl}/hello?from=demo`;
  step(
    "Fetch the public URL",
    `GET ${target}\n` +
      `client → edge (${datumEnv.DATUM_DEV_CLOUD_EDGE}, by Host) → gateway → iroh → tunnel listen → ${endpoint}`,
  );
  const servedBefore = served;
  const res = await within(fetch(target, { signal: AbortSignal.timeout(FETCH_MS) }), FETCH_MS, `GET ${target}`).catch((err: unknown) => {
    if (err instanceof DemoError) throw err;
    throw new DemoError(`GET ${target} failed: ${err instanceof Error ? err.message : String(err)}`);
  });
  const body = await res.text();
  out(`      HTTP ${res.status} ${res.statusText}`);
  for (const name of ["content-type", "content-length", "x-served-by"]) {
    const value = res.headers.get(name);
    if (value !== null) out(`      ${name}: ${value}`);
  }
  out("      body:");
  for (const line of body.trimEnd().split("\n")) out(`      │ ${line}`);
  if (res.status !== 200 || !body.startsWith(GREETING)) {
    throw new DemoError(`the public URL answered ${res.status} without the sample server's greeting`);
  }
  if (served === servedBefore) throw new DemoError("the answer did not come from the sample server");

  step("Tear down", "Ctrl+C (SIGINT) to tunnel listen: it disables the tunnel and exits 0. Then stop the local Datum.");
  const stopped = await stopChild(listen, "SIGINT", STOP_MS);
  if (stopped.killed) throw new DemoError(`tunnel listen did not exit within ${STOP_MS / 1000} s of SIGINT (killed)`);
  if (!listen.stderrLines.some((l) => l.trim() === "Tunnel disabled.")) {
    throw new DemoError(`tunnel listen exited with code ${stopped.code} without saying "Tunnel disabled."`);
  }
  if (stopped.code !== 0) throw new DemoError(`tunnel listen exited with code ${stopped.code} after SIGINT (expected 0)`);
  out(`      tunnel listen: "Tunnel disabled.", exit 0`);
  const cloudStopped = await stopChild(cloud, "SIGTERM", STOP_MS);
  if (cloudStopped.killed || cloudStopped.code !== 0) {
    throw new DemoError(`dev cloud ${cloudStopped.killed ? "had to be killed" : `exited with code ${cloudStopped.code}`} on SIGTERM`);
  }
  out("      local Datum stopped, exit 0");
}

/** Stop whatever is still running (listen first, so it can still disable its tunnel), remove temp files. */
async function cleanup(): Promise<void> {
  if (listen) await stopChild(listen, "SIGINT", STOP_MS).catch(() => undefined);
  if (cloud) await stopChild(cloud, "SIGTERM", STOP_MS).catch(() => undefined);
  await origin?.stop(true);
  rmSync(tmp, { recursive: true, force: true });
}

// Last resort if this process dies some other way: leave nothing running.
process.on("exit", () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
});

let code = 0;
let failure: string | undefined;
try {
  await main();
} catch (err) {
  code = err instanceof DemoError ? err.exitCode : 1;
  failure = err instanceof Error ? err.message : String(err);
  out();
  out("Stopping everything the demo started...");
}
await cleanup();
if (failure !== undefined) process.stderr.write(`error: ${failure}\n`);
if (code === 0) {
  out();
  out(bold(`Done in ${elapsed()}: everything started by the demo is stopped and its temp files are gone.`));
  out(dim("By hand, in one shell (`sh scripts/netns.sh sh` keeps it on loopback):"));
  // The checkout's launcher: every flag reaches the CLI (npx without `--` would hand `--env-file` to npm).
  out(dim("  bin/datumctl-connect dev cloud --env-file /tmp/datum.env &   # then: . /tmp/datum.env"));
  out(dim("  bin/datumctl-connect tunnel listen --endpoint 127.0.0.1:3000"));
  out(dim("  (or `npm link` once, then `datumctl-connect …`; or `npx -- datumctl-connect …`)"));
}
process.exit(code);
