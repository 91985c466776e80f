/**
 * Every tunnel this machine knows about: named tunnels under `tunnels/<name>/` and running
 * unnamed listens under `projects/<project>/`, each with its config, its run state and whether its
 * process still runs. `ps`, `status` and `stop` read this; nothing here writes.
 *
 * A directory with a `group.yaml` is a group (docs/groups.md): its entry also holds its services
 * (group-entry.ts), from run.json, or from the group's file before it first ran.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { CliError } from "../errors.ts";
import { readGroupFile } from "../group/config.ts";
import { EXITED_UNEXPECTEDLY, observedReadiness, type Readiness } from "../listen/readiness.ts";
import { tunnelFiles } from "../state/paths.ts";
import { isRunning, liveStatus, readRunState, type RunState } from "../state/run-state.ts";
import { readTunnelConfig, type TunnelConfig } from "../state/tunnel-config.ts";
import { groupEntry, type DeclaredService, type EntryStatus, type GroupEntry } from "./group-entry.ts";

export interface TunnelEntry {
  readonly name: string | null;
  readonly project: string | null;
  readonly dir: string;
  readonly config: TunnelConfig | undefined;
  readonly run: RunState | undefined;
  /** Set when run.json exists but cannot be read. */
  readonly runError: CliError | undefined;
  readonly running: boolean;
  readonly status: EntryStatus;
  /** The recorded readiness verdict, or how the process ended once it is gone (readiness.ts). */
  readonly readiness: Readiness | undefined;
  /** The recorded last error; for a process that vanished without one, that it did. */
  readonly lastError: { readonly message: string; readonly hint?: string; readonly exit?: number; readonly at?: string } | null;
  /** Set for a group (a `group.yaml` in its directory, or a group's run.json). */
  readonly group: GroupEntry | undefined;
  /** Set when the group's file had to be read (no services in run.json yet) and cannot be. */
  readonly groupError: CliError | undefined;
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** What was read from one directory: the facts an entry is decided from. */
export interface EntryFacts extends Pick<TunnelEntry, "name" | "project" | "dir" | "config" | "run" | "runError" | "running"> {
  /** The directory holds a `group.yaml`. */
  readonly groupFile: string | null;
  /** The group file's services, read only when run.json has none. */
  readonly declared?: readonly DeclaredService[] | undefined;
  readonly groupError?: CliError | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The entry for what was read (pure). */
export function describeEntry(f: EntryFacts): TunnelEntry {
  const { run, runError, running } = f;
  const status = runError ? "unknown" : run ? liveStatus(run, running) : "never started";
  const readiness = run && !runError ? observedReadiness(run, running) : undefined;
  const lastError = runError ? { message: runError.message } : (run?.lastError ?? (status === "dead" ? { message: EXITED_UNEXPECTEDLY } : null));
  const isGroup = f.name !== null && (f.groupFile !== null || run?.group !== undefined);
  const group = isGroup
    ? groupEntry({ running, status, readiness, services: run?.services, group: run?.group, file: f.groupFile ?? tunnelFiles(f.dir).group, declared: f.declared, env: f.env })
    : undefined;
  return { name: f.name, project: f.config?.project ?? run?.project ?? f.project, dir: f.dir, config: f.config, run, runError, running, status, readiness, lastError, group, groupError: f.groupError };
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
  const groupFile = name !== null && existsSync(files.group) ? files.group : null;
  let declared: readonly DeclaredService[] | undefined;
  let groupError: CliError | undefined;
  if (groupFile && !run?.services) {
    try {
      declared = (await readGroupFile(groupFile)).group.services;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      groupError = err;
    }
  }
  return describeEntry({ name, project, dir, config, run, runError, running, groupFile, declared, groupError, env: process.env });
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
