/**
 * The compiled agent: build this machine's executable with scripts/build.ts (into a temp dir, so
 * `dist/` is left alone), and time cold starts (spawn → exit) of a few commands from source and
 * compiled, next to the floors under them (`/bin/true`, Bun starting an empty script).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BenchError, runTimed } from "./procs.ts";
import { REPO_ROOT, type Exe } from "./datum.ts";
import { round, summarize, type Summary } from "./stats.ts";

export interface Build {
  executable: string;
  executableMiB: number;
  archive: string | null;
  archiveMiB: number | null;
  buildS: number;
  command: string;
}

export async function buildHost(outDir: string, archives: boolean, env: Record<string, string>): Promise<Build> {
  const argv = [process.execPath, join(REPO_ROOT, "scripts", "build.ts"), "--targets", "host", "--out", outDir, "--quiet", ...(archives ? [] : ["--no-archives"])];
  const r = await runTimed(argv, { cwd: REPO_ROOT, env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new BenchError(`scripts/build.ts exited ${r.code}:\n${r.stderr}${r.stdout}`);
  const manifest = JSON.parse(readFileSync(join(outDir, "build-manifest.json"), "utf8")) as {
    targets: { executable: string; executableSize: number; archive: string | null; archiveSize: number | null }[];
  };
  const t = manifest.targets[0];
  if (!t) throw new BenchError("scripts/build.ts built no target");
  const mib = (n: number): number => round(n / 1024 / 1024, 1);
  return {
    executable: join(outDir, t.executable),
    executableMiB: mib(t.executableSize),
    archive: t.archive,
    archiveMiB: t.archiveSize === null ? null : mib(t.archiveSize),
    buildS: round(r.ms / 1000, 1),
    command: `bun scripts/build.ts --targets host --out <tmp> --quiet${archives ? "" : " --no-archives"}`,
  };
}

/** Sizes of every target in `dist/` (from its build-manifest.json), when someone built it. */
export function distSizes(): { builtAt: string; commit: string; targets: { id: string; executableMiB: number; archive: string | null; archiveMiB: number | null }[] } | null {
  const path = join(REPO_ROOT, "dist", "build-manifest.json");
  if (!existsSync(path)) return null;
  try {
    const m = JSON.parse(readFileSync(path, "utf8")) as {
      builtAt: string;
      commit: string;
      targets: { id: string; executable: string; executableSize: number; archive: string | null; archiveSize: number | null }[];
    };
    const mib = (n: number): number => round(n / 1024 / 1024, 1);
    return {
      builtAt: m.builtAt,
      commit: m.commit,
      targets: m.targets
        .filter((t) => existsSync(join(REPO_ROOT, "dist", t.executable)) && statSync(join(REPO_ROOT, "dist", t.executable)).size === t.executableSize)
        .map((t) => ({ id: t.id, executableMiB: mib(t.executableSize), archive: t.archive, archiveMiB: t.archiveSize === null ? null : mib(t.archiveSize) })),
    };
  } catch {
    return null;
  }
}

export interface ColdStart {
  argv: string;
  runs: number[];
  ms: Summary;
}

/** `runs` spawns of `argv` after one warm-up (page cache), each must exit 0; ms spawn → exit. */
export async function coldStart(argv: readonly string[], runs: number, env: Record<string, string>, label?: string): Promise<ColdStart> {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const r = await runTimed([...argv], { env, cwd: REPO_ROOT, timeoutMs: 30_000 });
    if (r.code !== 0) throw new BenchError(`${argv.join(" ")} exited ${r.code}: ${r.stderr.slice(0, 500)}`);
    if (i > 0) times.push(round(r.ms, 1));
  }
  return { argv: label ?? argv.join(" "), runs: times, ms: summarize(times) };
}

export function exeLabel(exe: Exe): string {
  return exe.length > 1 ? "bun src/cli.ts" : "datumctl-connect (compiled)";
}
