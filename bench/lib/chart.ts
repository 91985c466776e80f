/**
 * PNG charts from a result document, with gnuplot (`apt-get install -y gnuplot-nox`): latency
 * percentiles per path, and throughput per path next to the iroh-js ceiling of the same run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ChartInput {
  title: string;
  /** path label → [fresh p50, p90, p99, keep-alive p50, p90, p99] in ms */
  latency: Record<string, number[]>;
  /** path label → [download MiB/s (median), upload MiB/s (median)] */
  throughput: Record<string, number[]>;
  /** iroh-js ceiling, median MiB/s: [down, up] */
  ceiling: number[] | null;
}

export function gnuplotAvailable(): boolean {
  return Bun.which("gnuplot") !== null;
}

function run(script: string, dir: string): void {
  const file = join(dir, "plot.gp");
  writeFileSync(file, script);
  const r = Bun.spawnSync(["gnuplot", file], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  if (r.exitCode !== 0) throw new Error(`gnuplot: ${r.stderr.toString()}`);
}

const q = (s: string): string => `"${s.replace(/"/g, "'")}"`;

/** Writes `<stem>-latency.png` and `<stem>-throughput.png`; returns their paths. */
export function renderCharts(input: ChartInput, stem: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "bench-chart-"));
  try {
    const latFile = join(dir, "latency.dat");
    writeFileSync(
      latFile,
      `# path fp50 fp90 fp99 kp50 kp90 kp99\n${Object.entries(input.latency)
        .map(([k, v]) => `${q(k)} ${v.map((x) => (Number.isFinite(x) ? x : 0)).join(" ")}`)
        .join("\n")}\n`,
    );
    const latencyPng = `${stem}-latency.png`;
    run(
      `set terminal pngcairo size 1100,520 font "sans,10"
set output ${q(latencyPng)}
set multiplot layout 1,2 title ${q(`${input.title}: sequential GET /small latency (ms, log scale)`)}
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.02:*]
set grid ytics
set key top left
set ylabel "ms"
set xrange [-0.6:${Object.keys(input.latency).length - 0.4}]
set title "fresh connection per request"
plot ${q(latFile)} using 2:xtic(1) title "p50", "" using 3 title "p90", "" using 4 title "p99"
set title "one kept-alive connection"
plot ${q(latFile)} using 5:xtic(1) title "p50", "" using 6 title "p90", "" using 7 title "p99"
unset multiplot
`,
      dir,
    );
    const tputFile = join(dir, "throughput.dat");
    const rows = Object.entries(input.throughput);
    if (input.ceiling) rows.push(["iroh-js ceiling (1 stream)", input.ceiling]);
    writeFileSync(tputFile, `# path down up\n${rows.map(([k, v]) => `${q(k)} ${v.map((x) => (Number.isFinite(x) ? x : 0)).join(" ")}`).join("\n")}\n`);
    const throughputPng = `${stem}-throughput.png`;
    run(
      `set terminal pngcairo size 900,520 font "sans,10"
set output ${q(throughputPng)}
set title ${q(`${input.title}: 64 MiB transfer, median MiB/s (log scale)`)}
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [10:*]
set grid ytics
set key top right
set ylabel "MiB/s"
set xrange [-0.6:${rows.length - 0.4}]
plot ${q(tputFile)} using 2:xtic(1) title "download", "" using 3 title "upload", \\
     "" using 0:2:(sprintf("%.0f",$2)) with labels offset -2.5,0.7 notitle, \\
     "" using 0:3:(sprintf("%.0f",$3)) with labels offset 2.5,0.7 notitle
`,
      dir,
    );
    return [latencyPng, throughputPng];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ResultDoc {
  mode: string;
  date: string;
  paths: Record<string, { latency: Record<"fresh" | "keepalive", { ms: { p50: number; p90: number; p99: number } }>; download: { median: number }; upload: { median: number } }>;
  ceiling: { paired: Record<"download" | "upload", { ceiling: number[] }> };
}

function mid(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The charts of one bench/peers.ts result document, written next to it (`<stem>-latency.png`, …). */
export function chartsFromResult(r: ResultDoc, stem: string): string[] {
  const label: Record<string, string> = { direct: "direct", tunnel: "datumctl-connect", ssh: "ssh -R" };
  const lat = (p: ResultDoc["paths"][string]): number[] => [
    p.latency.fresh.ms.p50,
    p.latency.fresh.ms.p90,
    p.latency.fresh.ms.p99,
    p.latency.keepalive.ms.p50,
    p.latency.keepalive.ms.p90,
    p.latency.keepalive.ms.p99,
  ];
  return renderCharts(
    {
      title: `${r.mode} run ${r.date.slice(0, 10)}`,
      latency: Object.fromEntries(Object.entries(r.paths).map(([k, p]) => [label[k] ?? k, lat(p)])),
      throughput: Object.fromEntries(Object.entries(r.paths).map(([k, p]) => [label[k] ?? k, [p.download.median, p.upload.median]])),
      ceiling: [mid(r.ceiling.paired.download.ceiling), mid(r.ceiling.paired.upload.ceiling)],
    },
    stem,
  );
}

// `bun bench/lib/chart.ts bench/results/<file>.json`: (re)render a result's charts.
if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: bun bench/lib/chart.ts <bench/results/….json>\n");
    process.exit(2);
  }
  const { readFileSync } = await import("node:fs");
  for (const png of chartsFromResult(JSON.parse(readFileSync(file, "utf8")) as ResultDoc, file.replace(/\.json$/, ""))) console.log(png);
}
