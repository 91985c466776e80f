/**
 * Start `datumctl-connect dev cloud` as a real child process, wait until it has written its env
 * file, and hand tests the environment that points the CLI at it, plus its admin API.
 * `stop()` ends exactly the process we started, by PID.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, CLI, REPO_ROOT } from "./cli.ts";

export interface LocalDatum {
  readonly env: Record<string, string>;
  readonly dir: string;
  /** `http://127.0.0.1:PORT` of the control plane (the admin API is under `/_dev/`). */
  readonly apiUrl: string;
  /** What `dev cloud` wrote to stderr so far (for a failing test's report). */
  stderr(): string;
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/** Parse `export NAME='value'` lines as `dev cloud` prints them. */
export function parseExports(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2] as string;
    if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1).replace(/'\\''/g, "'");
    env[m[1] as string] = value;
  }
  return env;
}

/**
 * `opts.dir`: run on this directory (its `cloud/` is the `--dir`) and leave it in place on `stop()`,
 * so a second start on it is a restart of the same local Datum.
 */
export async function startLocalDatum(args: readonly string[] = [], opts: { timeoutMs?: number; dir?: string } = {}): Promise<LocalDatum> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "local-datum-"));
  const envFile = join(dir, "env.sh");
  rmSync(envFile, { force: true }); // a restart's env file must be its own, not the last run's
  const child = Bun.spawn([BUN, CLI, "dev", "cloud", "--dir", join(dir, "cloud"), "--env-file", envFile, "--parent-pid", String(process.pid), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderr = "";
  void (async () => {
    for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  void new Response(child.stdout).text();
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  while (!existsSync(envFile)) {
    if (child.exitCode !== null) throw new Error(`dev cloud exited ${child.exitCode} before ready:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`dev cloud not ready in time:\n${stderr}`);
    }
    await Bun.sleep(25);
  }
  const env = parseExports(readFileSync(envFile, "utf8"));
  const apiUrl = env.DATUM_API_HOST as string;
  return {
    stderr: () => stderr,
    env,
    dir,
    apiUrl,
    admin(path, init = {}) {
      return fetch(`${apiUrl}/_dev/${path.replace(/^\//, "")}`, {
        method: init.method ?? (init.body === undefined ? "GET" : "POST"),
        headers: { "content-type": "application/json" },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await child.exited;
        clearTimeout(timer);
      }
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
