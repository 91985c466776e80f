/**
 * Loading the iroh native module embedded in a compiled executable (scripts/release/iroh-native.ts
 * generates the loader that calls this; running from source never does).
 *
 * Left to itself, Bun's `require` of an embedded `.node` reads all 20 MiB of it out of the
 * executable on every start to extract it to `$TMPDIR`, and those pages stay resident: a compiled
 * `tunnel listen` idled at 102 MiB RSS against 80 from source (BENCHMARKS.md, "Footprint"). So the
 * module is written once to `<state root>/native/iroh-<sha256 prefix>.node` and loaded from there
 * with `process.dlopen`; later starts never touch the embedded bytes.
 *
 * A cache entry is trusted like the state next to it, not re-hashed on each start: a regular file
 * owned by us, writable by nobody else, of the embedded size, in a directory owned by us that no one
 * else can write. Anything else is rewritten from the embedded bytes after checking their SHA-256,
 * atomically (temp file, fsync, rename). If the directory cannot be used at all (read-only, foreign
 * owner, a `noexec` mount), Bun's own extraction loads the module as before.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync, type Stats } from "node:fs";
import { join } from "node:path";
import { nativeCacheDir } from "../state/paths.ts";

export interface EmbeddedNative {
  /** The module's path inside the executable (`/$bunfs/…`). */
  readonly path: string;
  /** Its file name stem in the cache, e.g. `iroh`. */
  readonly name: string;
  /** Hex SHA-256 and size of the embedded bytes, fixed at build time. */
  readonly sha256: string;
  readonly size: number;
}

export type NativeExports = Record<string, unknown>;

export function cachedNativePath(dir: string, native: Pick<EmbeddedNative, "name" | "sha256">): string {
  return join(dir, `${native.name}-${native.sha256.slice(0, 16)}.node`);
}

type StatLike = Pick<Stats, "uid" | "mode" | "size"> & { isFile(): boolean; isDirectory(): boolean };

/** Why a cache directory may not be used, or undefined when it may. */
export function untrustedDir(stat: StatLike, uid: number): string | undefined {
  if (!stat.isDirectory()) return "not a directory";
  if (stat.uid !== uid) return `owned by uid ${stat.uid}`;
  if ((stat.mode & 0o022) !== 0) return "writable by others";
  return undefined;
}

/** Why a cache entry must be rewritten, or undefined when it may be loaded. */
export function untrustedEntry(stat: StatLike, uid: number, size: number): string | undefined {
  if (!stat.isFile()) return "not a regular file";
  if (stat.uid !== uid) return `owned by uid ${stat.uid}`;
  if ((stat.mode & 0o022) !== 0) return "writable by others";
  if (stat.size !== size) return `${stat.size} bytes, expected ${size}`;
  return undefined;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return null;
    throw err;
  }
}

/** The embedded bytes, checked against the build's hash (a damaged executable must not be cached). */
async function embeddedBytes(native: EmbeddedNative): Promise<Uint8Array> {
  const bytes = await Bun.file(native.path).bytes();
  const actual = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  if (bytes.byteLength !== native.size || actual !== native.sha256) {
    throw new Error(`embedded ${native.name} module: sha256 ${actual} (${bytes.byteLength} bytes), expected ${native.sha256} (${native.size})`);
  }
  return bytes;
}

/**
 * The cached module's path, written first when missing or not trusted. `uid` is ours (tests pass
 * another to see an entry refused). Throws when the directory cannot be used.
 */
export async function ensureCachedNative(native: EmbeddedNative, dir: string, uid = process.getuid?.() ?? 0): Promise<{ path: string; written: boolean }> {
  // Windows has no POSIX owner or mode bits to trust an entry by (and no iroh module yet).
  if (process.platform === "win32") throw new Error("no native-module cache on Windows");
  const path = cachedNativePath(dir, native);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dirProblem = untrustedDir(lstatSync(dir), uid);
  if (dirProblem) throw new Error(`${dir}: ${dirProblem}`);
  const entry = lstatOrNull(path);
  if (entry && untrustedEntry(entry, uid, native.size) === undefined) return { path, written: false };

  const bytes = await embeddedBytes(native);
  const temp = join(dir, `.${native.name}.${randomBytes(8).toString("hex")}.tmp`);
  try {
    const fd = openSync(temp, "wx", 0o600);
    try {
      for (let off = 0; off < bytes.byteLength; ) off += writeSync(fd, bytes, off, bytes.byteLength - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, 0o500); // read and map executable; nobody writes a loaded library
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  pruneOtherVersions(dir, native.name, path);
  return { path, written: true };
}

/**
 * Other versions' copies of the module go when a new one is written (an upgrade), so the cache
 * holds one. A process still running the old version keeps its mapping; unlinking does not touch it.
 */
function pruneOtherVersions(dir: string, name: string, keep: string): void {
  for (const file of readdirSync(dir)) {
    const path = join(dir, file);
    if (path !== keep && file.startsWith(`${name}-`) && file.endsWith(".node")) rmSync(path, { force: true });
  }
}

function dlopen(path: string): NativeExports {
  const module = { exports: {} as NativeExports };
  process.dlopen(module, path);
  return module.exports;
}

/** How the last `loadEmbeddedNative` in this thread loaded its module (for tests and debugging). */
export let lastNativeLoad: { via: "cache" | "bun"; path: string; reason?: string } | undefined;

/** The embedded module's exports: from the cache when possible, else through Bun's own extraction. */
export async function loadEmbeddedNative(native: EmbeddedNative, env: Readonly<Record<string, string | undefined>> = process.env): Promise<NativeExports> {
  let reason: string;
  try {
    const { path } = await ensureCachedNative(native, nativeCacheDir(env));
    const exports = dlopen(path);
    lastNativeLoad = { via: "cache", path };
    return exports;
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  lastNativeLoad = { via: "bun", path: native.path, reason };
  return require(native.path) as NativeExports;
}
