/**
 * Run the real CLI (from source) as a child process, the way a user or datumctl would, and
 * collect its exit code, stdout and stderr.
 */
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dir, "..", "..");
export const CLI = join(REPO_ROOT, "src", "cli.ts");
export const BUN = process.execPath;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliOptions {
  /** Extra variables on top of this process's environment (the test preload already isolated it). */
  readonly env?: Record<string, string | undefined>;
  /** Replace the environment entirely. */
  readonly exactEnv?: Record<string, string>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  readonly stdin?: string;
  /** A command prefix that execs the CLI elsewhere, e.g. on a test host (test/helpers/test-host.ts). */
  readonly wrap?: readonly string[];
}

export async function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const env = opts.exactEnv ?? { ...process.env, NO_COLOR: "1", ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const started = performance.now();
  const child = Bun.spawn([...(opts.wrap ?? []), BUN, CLI, ...args], {
    env: env as Record<string, string>,
    cwd: opts.cwd ?? REPO_ROOT,
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr, ms: performance.now() - started };
}
