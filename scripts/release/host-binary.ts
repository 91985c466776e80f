/**
 * The machine's own compiled executable for tests (`test/e2e/compiled*.test.ts`,
 * `test/e2e/dispatcher*.test.ts`), built once per source state: `scripts/build.ts --targets host
 * --no-archives` into `dist/test-host/<key>/`, where the key hashes everything that goes into the
 * executable (src/, workers/, the build scripts, package.json, package-lock.json, the Bun version).
 * A second test file, or a second run on unchanged sources, reuses it; a new key replaces the old
 * directory, so at most one ~125 MB build is kept.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const CACHE_ROOT = join(REPO_ROOT, "dist", "test-host");
const INPUTS = ["src", "workers", "scripts/build.ts", "scripts/release", "package.json", "package-lock.json"];

export interface HostBinary {
  /** Absolute path of the executable. */
  readonly path: string;
  readonly key: string;
  /** Whether this call reused an earlier build. */
  readonly cached: boolean;
  /** Wall time of the build (0 when cached). */
  readonly buildMs: number;
}

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .flatMap((entry) => files(join(path, entry.name)))
    .sort();
}

/** Hash of the sources and tools the executable is built from. */
/** Run `scripts/build.ts` for one target into `out` (no archives), as the test helpers need it. */
export async function runBuild(target: string, out: string, env: Record<string, string | undefined> = process.env): Promise<{ code: number; output: string }> {
  const child = Bun.spawn([process.execPath, join(REPO_ROOT, "scripts", "build.ts"), "--targets", target, "--no-archives", "--quiet", "--out", out], {
    cwd: REPO_ROOT,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 300_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, output: `${stdout}\n${stderr}` };
}

export function sourceKey(): string {
  const hash = createHash("sha256");
  hash.update(`bun ${Bun.version}\n`);
  for (const file of INPUTS.flatMap((input) => files(join(REPO_ROOT, input)))) {
    hash.update(`${relative(REPO_ROOT, file)}\n`);
    hash.update(readFileSync(file));
  }
  return hash.digest("hex").slice(0, 16);
}

let pending: Promise<HostBinary> | undefined;

async function buildOnce(): Promise<HostBinary> {
  const key = sourceKey();
  const dir = join(CACHE_ROOT, key);
  const manifestPath = join(dir, "build-manifest.json");
  const pathIn = (root: string): string | undefined => {
    const p = join(root, "build-manifest.json");
    if (!existsSync(p)) return undefined;
    const manifest = JSON.parse(readFileSync(p, "utf8")) as { targets: { executable: string }[] };
    const exe = manifest.targets[0] && join(root, manifest.targets[0].executable);
    return exe && existsSync(exe) ? exe : undefined;
  };
  const existing = existsSync(manifestPath) ? pathIn(dir) : undefined;
  if (existing) return { path: existing, key, cached: true, buildMs: 0 };

  mkdirSync(CACHE_ROOT, { recursive: true });
  const tmp = join(CACHE_ROOT, `.${key}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const started = performance.now();
  const { code, output } = await runBuild("host", tmp);
  const buildMs = performance.now() - started;
  if (code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`host build failed (exit ${code}):\n${output}`);
  }
  // Keep one build: drop older keys, then move ours into place (another process may have won).
  for (const name of readdirSync(CACHE_ROOT)) {
    if (name !== key && !name.startsWith(".")) rmSync(join(CACHE_ROOT, name), { recursive: true, force: true });
  }
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  const path = pathIn(dir);
  if (!path) throw new Error(`host build left no executable in ${dir}`);
  return { path, key, cached: false, buildMs };
}

/** The host executable for this source state, built on first use. */
export function ensureHostBinary(): Promise<HostBinary> {
  pending ??= buildOnce();
  return pending;
}
