/**
 * Wine for the Windows smoke test (test/e2e/windows-wine.test.ts): Debian's `wine64` (8.0) and a
 * prefix it can run Bun's Windows runtime in.
 *
 * Wine 8.0 has no `bcryptprimitives.dll` (its `ProcessPrng` came in Wine 8.13), which Bun's runtime
 * imports, so the prefix gets a stand-in: test/fixtures/wine/bcryptprimitives.c, compiled with
 * mingw-w64, whose `ProcessPrng` asks `advapi32.SystemFunction036` (RtlGenRandom) for the bytes.
 * The DLL and the prefix are built once into the real user's cache
 * (`~/.cache/datumctl-connect/wine/`, or `$DATUM_CONNECT_WINE_CACHE`), never into the clone, each
 * keyed by what it is made from; `wineboot -i` is bounded in time.
 *
 * Wine runs with `WINEDEBUG=-all,err+module`: with `-all` alone a DLL the loader cannot find is a
 * silent exit 53.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { realHome } from "../../scripts/release/real-home.ts";

export const WINEDEBUG = "-all,err+module";
const FIXTURES = join(import.meta.dir, "..", "fixtures", "wine");

export function cacheDir(): string {
  return process.env.DATUM_CONNECT_WINE_CACHE?.trim() || join(realHome(), ".cache", "datumctl-connect", "wine");
}

/** Debian installs the 64-bit loader as /usr/lib/wine/wine64 (the `wine` package adds /usr/bin/wine64). */
export function wineBinary(): string | undefined {
  return Bun.which("wine64") ?? (existsSync("/usr/lib/wine/wine64") ? "/usr/lib/wine/wine64" : undefined);
}

function wineserverBinary(): string | undefined {
  return Bun.which("wineserver") ?? (existsSync("/usr/lib/wine/wineserver") ? "/usr/lib/wine/wineserver" : undefined);
}

function mingw(): string | undefined {
  return Bun.which("x86_64-w64-mingw32-gcc") ?? undefined;
}

/** Why the smoke test cannot run here, or undefined. */
export function wineUnavailable(): string | undefined {
  if (process.platform !== "linux" || process.arch !== "x64") return "Wine smoke test runs on linux-x64 only";
  if (!wineBinary()) return "wine64 is not installed (apt-get install wine64)";
  if (!wineserverBinary()) return "wineserver is not installed (apt-get install wine64)";
  if (!mingw()) return "mingw-w64 is not installed to build the bcryptprimitives.dll stand-in (apt-get install gcc-mingw-w64-x86-64)";
  return undefined;
}

function run(argv: string[], env: Record<string, string>, timeoutMs: number): { code: number | null; output: string } {
  const r = Bun.spawnSync(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  return { code: r.exitCode, output: `${r.stdout.toString()}${r.stderr.toString()}` };
}

function hash(...parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex").slice(0, 12);
}

/** The stand-in `bcryptprimitives.dll`, compiled on first use. */
export function standInDll(): string {
  const gcc = mingw() as string;
  const source = join(FIXTURES, "bcryptprimitives.c");
  const def = join(FIXTURES, "bcryptprimitives.def");
  const version = run([gcc, "--version"], { PATH: process.env.PATH ?? "/usr/bin:/bin" }, 10_000).output.split("\n")[0] ?? "";
  const dll = join(cacheDir(), `bcryptprimitives-${hash(readFileSync(source), readFileSync(def), version)}.dll`);
  if (existsSync(dll)) return dll;
  mkdirSync(cacheDir(), { recursive: true });
  const tmp = `${dll}.${process.pid}.tmp`;
  const r = run(
    [gcc, "-shared", "-O2", "-s", "-nostartfiles", "-Wl,--entry,DllMain", "-Wl,--no-insert-timestamp", "-Wl,--dynamicbase", "-o", tmp, source, def, "-ladvapi32"],
    { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    60_000,
  );
  if (r.code !== 0) throw new Error(`mingw could not build the bcryptprimitives.dll stand-in (exit ${r.code}):\n${r.output}`);
  renameSync(tmp, dll);
  return dll;
}

/** The environment Wine runs with: a prefix, the loader's errors, nothing of the caller's. */
export function wineEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    WINEPREFIX: prefix,
    WINEDEBUG,
    // No Gecko/Mono installer dialogs, no display: wineboot runs headless.
    WINEDLLOVERRIDES: "mscoree,mshtml=",
    DISPLAY: "",
    ...extra,
  };
}

export interface Prefix {
  readonly path: string;
  readonly cached: boolean;
  readonly bootMs: number;
}

/**
 * A booted prefix with the stand-in in `system32`, made once: `wineboot -i` (at most 180 s) in a
 * temp directory beside the cache entry, then renamed into place.
 */
export function winePrefix(): Prefix {
  const wine = wineBinary() as string;
  const dll = standInDll();
  const version = run([wine, "--version"], wineEnv("/nonexistent"), 10_000).output.trim();
  const path = join(cacheDir(), `prefix-${hash(version, readFileSync(dll))}`);
  if (existsSync(join(path, "system.reg"))) return { path, cached: true, bootMs: 0 };
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const started = performance.now();
  const boot = run([wine, "wineboot", "-i"], wineEnv(tmp), 180_000);
  if (boot.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`wineboot -i failed (exit ${boot.code}):\n${boot.output}`);
  }
  // Let the prefix's wineserver write the registry and exit before the prefix is moved.
  run([wineserverBinary() as string, "-w"], wineEnv(tmp), 60_000);
  copyFileSync(dll, join(tmp, "drive_c", "windows", "system32", "bcryptprimitives.dll"));
  try {
    renameSync(tmp, path);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run made it first
  }
  return { path, cached: false, bootMs: performance.now() - started };
}

/** Wait (bounded) for the prefix's wineserver to exit by itself once our Windows processes are gone. */
export function waitWineserver(prefix: string): void {
  const server = wineserverBinary();
  if (server) run([server, "-w"], wineEnv(prefix), 30_000);
}

/** A Linux path as the Windows process sees it: drive Z: is `/`. */
export function windowsPath(path: string): string {
  return `Z:${path.replace(/\//g, "\\")}`;
}

/** A Windows path under Z: back to the Linux path. */
export function linuxPath(path: string): string {
  const m = /^Z:(\\.*)$/i.exec(path);
  if (!m) throw new Error(`not a path on drive Z: ${path}`);
  return (m[1] as string).replace(/\\/g, "/");
}
