/**
 * Every tunnel this machine knows about: named tunnels under `tunnels/<name>/` and running
 * unnamed listens under `projects/<project>/`, each with its config, its run state and whether its
 * process still runs. `ps`, `status` and `stop` read this; nothing here writes.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { CliError } from "../errors.ts";
import { EXITED_UNEXPECTEDLY, observedReadiness, type Readiness } from "../listen/readiness.ts";
import { tunnelFiles } from "../state/paths.ts";
import { isRunning, liveStatus, readRunState, type LiveStatus, type RunState } from "../state/run-state.ts";
import { readTunnelConfig, type TunnelConfig } from "../state/tunnel-config.ts";

export interface TunnelEntry {
  readonly name: string | null;
  readonly project: string | null;
  readonly dir: string;
  readonly config: TunnelConfig | undefined;
  readonly run: RunState | undefined;
  /** Set when run.json exists but cannot be read. */
  readonly runError: CliError | undefined;
  readonly running: boolean;
  readonly status: LiveStatus | "never started" | "unknown";
  /** The recorded readiness verdict, or how the process ended once it is gone (readiness.ts). */
  readonly readiness: Readiness | undefined;
  /** The recorded last error; for a process that vanished without one, that it did. */
  readonly lastError: { readonly message: string; readonly hint?: string; readonly exit?: number; readonly at?: string } | null;
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

async function readEntry(dir: string, name: string | null, project: string | null): Promise<TunnelEntry> {
  const files = tunnelFiles(dir);
  let run: RunState | undefined;
  let runError: CliError | undefined;
  try {
    run = await readRunState(files.run);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    runError = err;
  }
  const config = name !== null ? await readTunnelConfig(files.config) : undefined;
  const running = run !== undefined && isRunning(run);
  const status = runError ? "unknown" : run ? liveStatus(run, running) : "never started";
  const readiness = run && !runError ? observedReadiness(run, running) : undefined;
  const lastError = runError ? { message: runError.message } : (run?.lastError ?? (status === "dead" ? { message: EXITED_UNEXPECTEDLY } : null));
  return { name, project: config?.project ?? run?.project ?? project, dir, config, run, runError, running, status, readiness, lastError };
}

export async function namedTunnel(root: string, name: string): Promise<TunnelEntry | undefined> {
  const dirs = await subdirs(join(root, "tunnels"));
  return dirs.includes(name) ? readEntry(join(root, "tunnels", name), name, null) : undefined;
}

/** Named tunnels (all), then unnamed listens that are running now. */
export async function inventory(root: string): Promise<TunnelEntry[]> {
  const named = await Promise.all((await subdirs(join(root, "tunnels"))).map((n) => readEntry(join(root, "tunnels", n), n, null)));
  const slots = await Promise.all((await subdirs(join(root, "projects"))).map((p) => readEntry(join(root, "projects", p), null, p)));
  return [...named, ...slots.filter((s) => s.running)];
}
