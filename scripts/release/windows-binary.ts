/**
 * The windows-x64 executable for the Wine smoke test (test/e2e/windows-wine.test.ts), built once per
 * source state like the host one (host-binary.ts): `scripts/build.ts --targets windows-x64
 * --no-archives` into `dist/test-windows/<key>/`, one build kept.
 *
 * Cross-compiling needs Bun's Windows runtime, which Bun downloads from npm once into its install
 * cache (`bun-windows-x64-v<version>`). The tests run in a namespace without a network, so
 * scripts/test.sh runs this file first, outside it (`bun scripts/release/windows-binary.ts`), which
 * fetches the runtime when it is missing and does nothing else. The tests' HOME is a temp dir, so
 * the build is pointed at the real user's cache (`BUN_INSTALL_CACHE_DIR`).
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { realHome } from "./real-home.ts";
import { runBuild, sourceKey } from "./host-binary.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const CACHE_ROOT = join(REPO_ROOT, "dist", "test-windows");

/** Bun's install cache: `$BUN_INSTALL_CACHE_DIR`, `$BUN_INSTALL/install/cache`, else the real user's `~/.bun/install/cache`. */
export function bunInstallCache(env: Record<string, string | undefined> = process.env): string {
  if (env.BUN_INSTALL_CACHE_DIR?.trim()) return env.BUN_INSTALL_CACHE_DIR.trim();
  if (env.BUN_INSTALL?.trim()) return join(env.BUN_INSTALL.trim(), "install", "cache");
  return join(realHome(), ".bun", "install", "cache");
}

/** Where Bun keeps the Windows runtime it cross-compiles with. */
export function windowsRuntimePath(): string {
  return join(bunInstallCache(), `bun-windows-x64-v${Bun.version}`);
}

export interface WindowsBinary {
  readonly path: string;
  readonly cached: boolean;
  readonly buildMs: number;
}

function build(out: string): Promise<{ code: number; output: string }> {
  return runBuild("windows-x64", out, { ...process.env, BUN_INSTALL_CACHE_DIR: bunInstallCache() });
}

let pending: Promise<WindowsBinary> | undefined;

async function buildOnce(): Promise<WindowsBinary> {
  const key = sourceKey();
  const dir = join(CACHE_ROOT, key);
  const exe = join(dir, "build", "windows-x64", "datumctl-connect.exe");
  if (existsSync(exe)) return { path: exe, cached: true, buildMs: 0 };
  mkdirSync(CACHE_ROOT, { recursive: true });
  const tmp = join(CACHE_ROOT, `.${key}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const started = performance.now();
  const { code, output } = await build(tmp);
  const buildMs = performance.now() - started;
  if (code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`windows-x64 build failed (exit ${code}):\n${output}`);
  }
  for (const name of readdirSync(CACHE_ROOT)) {
    if (name !== key && !name.startsWith(".")) rmSync(join(CACHE_ROOT, name), { recursive: true, force: true });
  }
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(exe)) throw new Error(`the windows-x64 build left no executable in ${dir}`);
  return { path: exe, cached: false, buildMs };
}

/** The windows-x64 executable for this source state, built on first use. */
export function ensureWindowsBinary(): Promise<WindowsBinary> {
  pending ??= buildOnce();
  return pending;
}

/** Fetch Bun's Windows runtime when it is missing (a throwaway build does it); needs the network. */
export async function fetchWindowsRuntime(): Promise<string> {
  if (existsSync(windowsRuntimePath())) return windowsRuntimePath();
  await ensureWindowsBinary();
  if (!existsSync(windowsRuntimePath())) throw new Error(`the build fetched no runtime at ${windowsRuntimePath()}`);
  return windowsRuntimePath();
}

if (import.meta.main) {
  try {
    const path = await fetchWindowsRuntime();
    console.log(path);
  } catch (err) {
    console.error(`windows runtime: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(69);
  }
}
