/**
 * Bun's sampling CPU profiler (`bun --cpu-prof-md`, main JS thread only) around a child script;
 * returns the hottest functions by self time. Attribution next to native calls is approximate
 * (a sample landing while a NAPI promise resolves is charged to whatever JS frame is on top), so
 * the report uses it only where a wall-clock split agrees (bench/iroh-stream.ts --json).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BenchError, runTimed } from "./procs.ts";
import { REPO_ROOT } from "./datum.ts";

export interface HotFunction {
  fn: string;
  location: string;
  selfPct: number;
  selfMs: number;
}

export interface Profile {
  command: string;
  durationMs: number;
  samples: number;
  hot: HotFunction[];
}

function ms(text: string): number {
  const m = /([\d.]+)\s*(s|ms|us|µs)/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "s" ? v * 1000 : m[2] === "ms" ? v : v / 1000;
}

export async function cpuProfile(args: string[], env: Record<string, string>, top = 12): Promise<Profile> {
  const dir = mkdtempSync(join(tmpdir(), "bench-prof-"));
  try {
    const r = await runTimed([process.execPath, "--cpu-prof-md", `--cpu-prof-dir=${dir}`, ...args], { env, cwd: REPO_ROOT, timeoutMs: 300_000 });
    if (r.code !== 0) throw new BenchError(`profiled ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(0, 500)}`);
    const file = readdirSync(dir).find((f) => f.endsWith(".md"));
    if (!file) throw new BenchError("bun --cpu-prof-md wrote no profile");
    const md = readFileSync(join(dir, file), "utf8");
    const head = /\|\s*([\d.]+\s*m?s)\s*\|\s*(\d+)\s*\|/.exec(md);
    const section = md.slice(md.indexOf("## Hot Functions"), md.indexOf("## Call Tree") === -1 ? undefined : md.indexOf("## Call Tree"));
    const hot: HotFunction[] = [];
    for (const line of section.split("\n")) {
      const cells = line.split("|").map((c) => c.trim());
      // | Self% | Self | Total% | Total | Function | Location |
      if (cells.length < 7 || !/^[\d.]+%$/.test(cells[1] as string)) continue;
      hot.push({ fn: (cells[5] as string).replace(/`/g, ""), location: (cells[6] as string).replace(/`/g, "").replace(`${REPO_ROOT}/`, ""), selfPct: Number((cells[1] as string).slice(0, -1)), selfMs: Math.round(ms(cells[2] as string) * 10) / 10 });
      if (hot.length >= top) break;
    }
    return { command: `bun --cpu-prof-md ${args.map((a) => a.replace(`${REPO_ROOT}/`, "")).join(" ")}`, durationMs: head ? ms(head[1] as string) : Number.NaN, samples: head ? Number(head[2]) : 0, hot };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
