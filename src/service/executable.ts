/**
 * The two paths a service unit depends on, recorded in `tunnel.yaml` at install (docs/architecture.md#services
 * "Install records both paths"), and whether they still resolve (`tunnel status`).
 *
 * - The executable: `datumctl-connect` as found on PATH, not symlink-resolved, so a package upgrade
 *   that swaps the file behind `/usr/local/bin/datumctl-connect` keeps the unit working. A compiled
 *   binary that is not on PATH (e.g. run from datumctl's plugin directory) records its own path.
 *   **From source** (`bun src/cli.ts`), there is no single executable to point a unit at, so
 *   install writes a launcher, `tunnels/<name>/bin/datumctl-connect`, a two-line shell script that
 *   `exec`s this checkout's Bun on this checkout's `src/cli.ts` by absolute paths (so it keeps the
 *   PID systemd watches, and needs no `bun` on the service's PATH). It lives and dies with the
 *   tunnel's directory.
 * - The credentials helper: `datumctl` as found on PATH when it is the same program as
 *   `DATUM_CREDENTIALS_HELPER` (datumctl sets that to its own, symlink-resolved, path), else
 *   `DATUM_CREDENTIALS_HELPER` itself (a different datumctl than the one on PATH, or none on PATH:
 *   record the helper install validated with), else PATH's `datumctl` alone.
 */
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import { isCompiled, selfCommand } from "../daemon/self-command.ts";
import { writeFileAtomic } from "../state/atomic-write.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export interface ExecutablePlan {
  /** The path to record. */
  readonly path: string;
  /** From source: the launcher's text, to be written at `path` (mode 0700). */
  readonly launcher?: string;
  /** How it was chosen, for the install message. */
  readonly how: "path" | "self" | "launcher";
}

function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function cmdQuote(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** The launcher for running this checkout from source. */
export function launcherScript(bun: string, cli: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === "win32") {
    return ["@echo off", "rem datumctl-connect launcher for a checkout run from source (written by `tunnel install`).", `${cmdQuote(bun)} --no-env-file ${cmdQuote(cli)} %*`, ""].join("\r\n");
  }
  return [
    "#!/bin/sh",
    "# datumctl-connect launcher for a checkout run from source (written by `tunnel install`).",
    `exec ${shQuote(bun)} --no-env-file ${shQuote(cli)} "$@"`,
    "",
  ].join("\n");
}

export function launcherPath(tunnelDir: string, platform: NodeJS.Platform = process.platform): string {
  return join(tunnelDir, "bin", platform === "win32" ? "datumctl-connect.cmd" : "datumctl-connect");
}

export interface PlanOptions {
  readonly tunnelDir: string;
  readonly compiled?: boolean;
  readonly which?: (name: string) => string | null;
  readonly self?: readonly string[];
  readonly platform?: NodeJS.Platform;
}

export function planExecutable(o: PlanOptions): ExecutablePlan {
  const compiled = o.compiled ?? isCompiled();
  const which = o.which ?? ((name: string) => Bun.which(name) ?? null);
  const self = o.self ?? selfCommand();
  if (compiled) {
    const onPath = which("datumctl-connect");
    if (onPath) return { path: onPath, how: "path" };
    return { path: self[0] as string, how: "self" };
  }
  const [bun, cli] = self;
  const path = launcherPath(o.tunnelDir, o.platform);
  return { path, how: "launcher", launcher: launcherScript(bun as string, cli as string, o.platform) };
}

export async function writeLauncher(plan: ExecutablePlan): Promise<void> {
  if (!plan.launcher) return;
  await mkdir(dirname(plan.path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(plan.path, plan.launcher, 0o700);
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** The helper path to record (see the file comment); `undefined` when there is none at all. */
export function recordedHelper(env: Env, which: (name: string) => string | null = (n) => Bun.which(n) ?? null): string | undefined {
  const fromEnv = env.DATUM_CREDENTIALS_HELPER?.trim() || undefined;
  const onPath = which("datumctl") ?? undefined;
  if (fromEnv && onPath) return sameFile(onPath, fromEnv) ? onPath : fromEnv;
  return fromEnv ?? onPath;
}

export interface PathCheck {
  readonly path: string | null;
  readonly resolves: boolean;
  /** Why not, in words for `tunnel status`. */
  readonly problem: string | null;
}

/** Does a recorded path still lead to a program? Bare names are looked up on PATH. */
export function checkPath(path: string | null | undefined, platform: NodeJS.Platform = process.platform): PathCheck {
  if (!path) return { path: null, resolves: false, problem: "none recorded" };
  if (!isAbsolute(path) && !path.includes("/") && !path.includes("\\")) {
    const found = Bun.which(path);
    return found ? { path, resolves: true, problem: null } : { path, resolves: false, problem: "not found on PATH" };
  }
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return { path, resolves: false, problem: "no such file (moved or uninstalled?)" };
  }
  if (!stat.isFile()) return { path, resolves: false, problem: "not a file" };
  if (platform !== "win32") {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return { path, resolves: false, problem: "not executable" };
    }
  }
  return { path, resolves: true, problem: null };
}

/** The first executable named `name` on PATH, as found (not symlink-resolved: docs/architecture.md#services). */
export function onPath(name: string): string | null {
  return Bun.which(name) ?? null;
}
