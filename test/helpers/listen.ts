/**
 * Run `tunnel listen` (from source) as a real child process against a local Datum: collect its
 * stdout and stderr as they arrive, wait for the ready line (or the `tunnel_ready` JSON event with
 * `-o json`), and stop it with a signal. Every child started here is remembered, so a test file's
 * `afterAll(killAllListens)` ends exactly the processes it started, by PID, even after a failure.
 */
import type { Subprocess } from "bun";
import { BUN, CLI, REPO_ROOT } from "./cli.ts";

export interface ListenExit {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface ListenProcess {
  readonly child: Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** The public URL from the ready line; "" when started with `waitForReady: false`. */
  readonly url: string;
  /** Milliseconds from spawn to the ready line (0 when not waited for). */
  readonly readyMs: number;
  stdout(): string;
  stderr(): string;
  /** Exit code once the process ended, else null. */
  exitCode(): number | null;
  /** Resolves with the exit code and the complete output. */
  readonly done: Promise<ListenExit>;
  /** Wait until `check()` holds (polled every 25 ms), or throw with the output so far. */
  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void>;
  /** Send `signal` and wait for the exit (SIGKILL after `timeoutMs`). */
  stop(signal?: "SIGINT" | "SIGTERM", timeoutMs?: number): Promise<ListenExit>;
  /** SIGKILL if still running (cleanup only). */
  kill(): void;
}

export interface ListenOptions {
  /** The local Datum's variables (and any overrides); added to this process's environment. */
  readonly env: Record<string, string | undefined>;
  /** Wait for the ready line before returning (default true). */
  readonly waitForReady?: boolean;
  /** Bound on the wait for ready (default 30 s, the listen SLO). */
  readonly readyTimeoutMs?: number;
  /** A command prefix that execs the CLI elsewhere, e.g. on a test host (test/helpers/test-host.ts). */
  readonly wrap?: readonly string[];
  /** The CLI's command (default `tunnel listen`), e.g. `tunnel up` for a group. */
  readonly command?: readonly string[];
  readonly cwd?: string;
}

const running = new Set<ListenProcess>();

/** The public URL from a ready line or a `tunnel_ready` event, if `stdout` has one. */
export function readyUrl(stdout: string): string | undefined {
  for (const line of stdout.split("\n")) {
    const plain = /^Tunnel ready after \d+ sec: (\S+)$/.exec(line.trim());
    if (plain?.[1]) return plain[1];
    if (line.startsWith("{")) {
      try {
        const event = JSON.parse(line) as { type?: string; urls?: string[] };
        if (event.type === "tunnel_ready" && event.urls?.[0]) return event.urls[0];
      } catch {
        // A partial line: the rest has not arrived yet.
      }
    }
  }
  return undefined;
}

async function collect(stream: ReadableStream<Uint8Array>, append: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) append(decoder.decode(chunk, { stream: true }));
  append(decoder.decode());
}

/** Spawn `datumctl-connect tunnel listen <args>`; by default, return once it printed its public URL. */
export async function startListen(args: readonly string[], opts: ListenOptions): Promise<ListenProcess> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const started = performance.now();
  const child = Bun.spawn([...(opts.wrap ?? []), BUN, CLI, ...(opts.command ?? ["tunnel", "listen"]), ...args], {
    env: env as Record<string, string>,
    cwd: opts.cwd ?? REPO_ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const streams = Promise.all([collect(child.stdout, (t) => (out += t)), collect(child.stderr, (t) => (err += t))]);
  const done: Promise<ListenExit> = (async () => {
    const code = await child.exited;
    await streams.catch(() => undefined);
    return { code, stdout: out, stderr: err, ms: performance.now() - started };
  })();

  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };

  const waitFor = async (check: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      if (performance.now() > deadline) {
        throw new Error(`listen (pid ${child.pid}): ${what} not reached within ${timeoutMs} ms\n--- stdout\n${out}\n--- stderr\n${err}`);
      }
      await Bun.sleep(25);
    }
  };

  const proc: ListenProcess = {
    child,
    pid: child.pid,
    url: "",
    readyMs: 0,
    stdout: () => out,
    stderr: () => err,
    exitCode: () => child.exitCode,
    done,
    waitFor,
    async stop(signal = "SIGINT", timeoutMs = 15_000) {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(kill, timeoutMs);
      try {
        return await done;
      } finally {
        clearTimeout(timer);
        running.delete(proc);
      }
    },
    kill,
  };
  running.add(proc);
  void done.then(() => running.delete(proc));
  if (opts.waitForReady === false) return proc;

  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  try {
    await waitFor(() => readyUrl(out) !== undefined || child.exitCode !== null, timeoutMs, "the ready line");
  } catch (e) {
    kill();
    throw e;
  }
  const url = readyUrl(out);
  if (!url) {
    const exit = await done;
    throw new Error(`listen exited ${exit.code} before ready\n--- stdout\n${exit.stdout}\n--- stderr\n${exit.stderr}`);
  }
  return { ...proc, url, readyMs: performance.now() - started };
}

/** SIGKILL every listen this process started that is still running, and wait for them. */
export async function killAllListens(): Promise<void> {
  const procs = [...running];
  running.clear();
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.done.catch(() => undefined)));
}
