#!/usr/bin/env bun
/**
 * `npm run build`: release executables, archives and the catalog entry (docs/architecture.md#distribution,
 * docs/wire-facts.md#plugin-manifest, #release-archives).
 *
 *   bun scripts/build.ts [--targets all|host|<id>[,<id>…]] [--out dist] [--base-url https://…]
 *                        [--no-archives] [--no-image] [--quiet]
 *
 * For each target, one `Bun.build` with `compile`, `bytecode` and `splitting`: the CLI and every `workers/*.ts` as entrypoints
 * (a worker must be an entrypoint to exist inside the executable), `define` for the version, the
 * commit and the workers' paths, `autoloadDotenv`/`autoloadBunfig` off (a user's `.env` or
 * `bunfig.toml` must never change the agent), and `@number0/iroh` resolved to the target's native
 * module where one is published (release/iroh-native.ts). Cross-compiling downloads the target's
 * Bun runtime from npm once (`@oven/bun-<target>`, cached by Bun).
 *
 * Then: `file` must name the right format and architecture; the machine's own executable is
 * smoke-run (`version`, and `--plugin-manifest` from a temp copy under a scrubbed environment);
 * archives named as datumctl expects; `checksums.txt` (goreleaser format); `plugins/connect.yaml`;
 * and `build-manifest.json`, which says which targets carry the data plane.
 *
 * Output (under --out, default dist/):
 *   build/<target>/datumctl-connect[.exe]        the executables
 *   datumctl-connect_<OS>_<arch>[_musl].<ext>     archives: the executable, LICENSE, README.md
 *   checksums.txt  plugins/connect.yaml  build-manifest.json
 *   datumctl-connect-oci.tar                      the container image (OCI archive) around linux-x64,
 *                                                 with archives unless --no-image (scripts/release/oci-image.ts)
 *   .cache/                                       iroh native modules fetched with `npm pack`
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pluginManifest, type PluginManifest } from "../src/manifest.ts";
import { checksumsText, createArchive, sha256File, sizeOf } from "./release/archive.ts";
import { irohPlugin, prepareIroh } from "./release/iroh-native.ts";
import { buildImage, IMAGE_ARCHIVE, imageHostProblem } from "./release/oci-image.ts";
import { pluginIndexYaml, type IndexPlatform } from "./release/plugin-index.ts";
import { archiveName, hostTarget, selectTargets, type ReleaseTarget } from "./release/targets.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const REPOSITORY = "datum-cloud/datumctl-connect";

export interface TargetResult {
  readonly id: string;
  readonly bunTarget: string;
  readonly platform: string;
  readonly arch: string;
  readonly libc: string | null;
  /** Relative to the output directory. */
  readonly executable: string;
  readonly executableSize: number;
  readonly executableSha256: string;
  readonly archive: string | null;
  readonly archiveSize: number | null;
  readonly archiveSha256: string | null;
  /** Whether `tunnel listen` works there: the target's iroh native module is embedded. */
  readonly dataPlane: boolean;
  readonly irohModule: string | null;
  readonly dataPlaneNote: string;
  /** The catalog selector, or null for an archive datumctl cannot select (musl). */
  readonly catalog: { os: string; arch: string } | null;
  /** `file -b` of the executable (null without `file`). */
  readonly file: string | null;
  readonly buildMs: number;
}

export interface BuildManifest {
  readonly name: "datumctl-connect";
  readonly version: string;
  readonly tag: string;
  readonly commit: string;
  readonly bun: string;
  readonly iroh: string;
  readonly builtAt: string;
  readonly baseUrl: string;
  readonly totalMs: number;
  readonly targets: readonly TargetResult[];
  /** The container image, relative to the output directory, when one was written. */
  readonly image?: { readonly archive: string; readonly size: number; readonly sha256: string; readonly manifestDigest: string } | null;
}

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

function gitOutput(args: string[]): string | undefined {
  try {
    const r = Bun.spawnSync(["git", ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString().trim();
    return r.exitCode === 0 && out ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Worker names: every `workers/*.ts` except the shared message schemas. */
export function workerNames(root = REPO_ROOT): string[] {
  return readdirSync(join(root, "workers"))
    .filter((f) => f.endsWith(".ts") && f !== "messages.ts")
    .map((f) => f.slice(0, -3))
    .sort();
}

/**
 * `define` for one build. Strings are JSON-encoded (a define value is source text). The worker
 * paths are relative to the executable's main module, next to which Bun puts the worker
 * entrypoints (`/$bunfs/root/workers/<name>.js`); `workerUrl` resolves them.
 */
export function buildDefines(version: string, commit: string, workers: readonly string[]): Record<string, string> {
  const paths = Object.fromEntries(workers.map((w) => [w, `./workers/${w}.js`]));
  return {
    DATUM_CONNECT_VERSION: JSON.stringify(version),
    DATUM_CONNECT_COMMIT: JSON.stringify(commit),
    DATUM_CONNECT_WORKER_PATHS: JSON.stringify(JSON.stringify(paths)),
  };
}

/** The manifest a build of `version` answers (the source tree's own `VERSION` is not defined). */
export function releaseManifest(version: string): PluginManifest {
  return { ...pluginManifest(), version: `v${version}` };
}

function fileLine(path: string): string | null {
  if (!Bun.which("file")) return null;
  const r = Bun.spawnSync(["file", "-b", path], { stdout: "pipe", stderr: "pipe" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}

/**
 * Run the machine's own executable the way datumctl's install probe does
 * (docs/wire-facts.md#plugin-manifest): a temp copy named `datumctl-plugin-verify-*`, only
 * PATH/HOME/TMPDIR, 5 s. Also `version`, which must name the defined version and commit. Throws on any
 * mismatch.
 */
function smokeRun(executable: string, version: string, commit: string): void {
  const dir = mkdtempSync(join(tmpdir(), "datumctl-connect-smoke-"));
  try {
    const copy = join(dir, `datumctl-plugin-verify-${Math.random().toString(36).slice(2, 10)}`);
    copyFileSync(executable, copy);
    chmodSync(copy, 0o755);
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, TMPDIR: tmpdir() };
    const started = performance.now();
    const probe = Bun.spawnSync([copy, "--plugin-manifest"], { cwd: dir, env, stdout: "pipe", stderr: "pipe", timeout: 5_000 });
    const ms = performance.now() - started;
    const out = probe.stdout.toString();
    if (probe.exitCode !== 0) throw new Error(`--plugin-manifest exited ${probe.exitCode}: ${probe.stderr.toString()}`);
    // The whole stdout must be the manifest: datumctl parses all of it as one JSON value.
    if (out !== `${JSON.stringify(releaseManifest(version), null, 2)}\n`) throw new Error(`--plugin-manifest printed something else:\n${out}`);
    if (ms > 5_000) throw new Error(`--plugin-manifest took ${Math.round(ms)} ms (datumctl allows 5 s)`);
    const v = Bun.spawnSync([copy, "version", "-o", "json"], { cwd: dir, env, stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    let info: { version?: string; commit?: string } = {};
    try {
      info = JSON.parse(v.stdout.toString()) as typeof info;
    } catch {
      // Reported below with what it printed.
    }
    if (v.exitCode !== 0 || info.version !== version || info.commit !== commit) {
      throw new Error(`version printed ${v.stdout.toString().trim()} (exit ${v.exitCode}), expected ${version} (${commit})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function human(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export interface BuildOptions {
  readonly targets: readonly ReleaseTarget[];
  readonly outDir: string;
  readonly baseUrl?: string;
  readonly archives: boolean;
  /** Also the container image around linux-x64 (only with archives); default true. */
  readonly image?: boolean;
  readonly log: (line: string) => void;
}

export async function build(options: BuildOptions): Promise<BuildManifest> {
  const started = performance.now();
  const pkg = readJson<{ version: string; description: string }>(join(REPO_ROOT, "package.json"));
  const version = pkg.version;
  const tag = `v${version}`;
  const commit = gitOutput(["rev-parse", "--short", "HEAD"]) ?? "unknown";
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? gitOutput(["show", "-s", "--format=%ct", "HEAD"]) ?? Math.floor(Date.now() / 1000));
  const irohVersion = readJson<{ version: string }>(join(REPO_ROOT, "node_modules", "@number0", "iroh", "package.json")).version;
  const baseUrl = (options.baseUrl ?? `https://github.com/${REPOSITORY}/releases/download/${tag}`).replace(/\/+$/, "");
  if (!baseUrl.startsWith("https://")) throw new Error(`--base-url must be https (datumctl rejects other catalog URIs): ${baseUrl}`);

  const outDir = options.outDir;
  const workDir = join(outDir, ".work");
  const cacheDir = join(outDir, ".cache");
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });

  const workers = workerNames();
  const entrypoints = [join(REPO_ROOT, "src", "cli.ts"), ...workers.map((w) => join(REPO_ROOT, "workers", `${w}.ts`))];
  const define = buildDefines(version, commit, workers);
  const host = await hostTarget();
  const results: TargetResult[] = [];

  for (const target of options.targets) {
    const t0 = performance.now();
    const iroh = prepareIroh(target, REPO_ROOT, cacheDir, workDir);
    const buildDir = join(outDir, "build", target.id);
    rmSync(buildDir, { recursive: true, force: true });
    mkdirSync(buildDir, { recursive: true });
    const executable = join(buildDir, target.executable);
    const result = await Bun.build({
      entrypoints,
      root: REPO_ROOT,
      define,
      plugins: [irohPlugin(iroh)],
      // Cold start (BENCHMARKS.md): bytecode skips parsing at start, and splitting keeps each
      // command's code in its own chunk, so \`version\` loads only what it runs. Bytecode needs
      // "esm" to be explicit here (the default for compile is CJS, which rejects top-level await).
      bytecode: true,
      format: "esm",
      splitting: true,
      throw: false,
      compile: {
        target: target.bun,
        outfile: executable,
        autoloadDotenv: false,
        autoloadBunfig: false,
        autoloadTsconfig: false,
        autoloadPackageJson: false,
      },
    });
    if (!result.success || !existsSync(executable)) {
      throw new Error(`${target.id}: Bun.build failed:\n${result.logs.map(String).join("\n")}`);
    }
    const buildMs = Math.round(performance.now() - t0);

    const file = fileLine(executable);
    if (file !== null && !target.fileMatch.test(file)) {
      throw new Error(`${target.id}: file(1) says "${file}", expected ${target.fileMatch}`);
    }
    if (host && host.id === target.id) smokeRun(executable, version, commit);

    let archive: string | null = null;
    let archiveSize: number | null = null;
    let archiveSha256: string | null = null;
    if (options.archives) {
      const stage = join(workDir, "stage", target.id);
      mkdirSync(stage, { recursive: true });
      copyFileSync(executable, join(stage, target.executable));
      copyFileSync(join(REPO_ROOT, "LICENSE"), join(stage, "LICENSE"));
      copyFileSync(join(REPO_ROOT, "README.md"), join(stage, "README.md"));
      archive = archiveName(target);
      const archivePath = join(outDir, archive);
      createArchive(archivePath, stage, [target.executable, "LICENSE", "README.md"], epoch);
      archiveSize = sizeOf(archivePath);
      archiveSha256 = await sha256File(archivePath);
    }

    const irohModule = target.iroh ? `@number0/iroh-${target.irohPackage}@${irohVersion}` : null;
    const entry: TargetResult = {
      id: target.id,
      bunTarget: target.bun,
      platform: target.platform,
      arch: target.arch,
      libc: target.libc ?? null,
      executable: relative(outDir, executable),
      executableSize: sizeOf(executable),
      executableSha256: await sha256File(executable),
      archive,
      archiveSize,
      archiveSha256,
      dataPlane: target.iroh,
      irohModule,
      dataPlaneNote: target.iroh
        ? `embeds ${irohModule} (${iroh.source}); extracted to $TMPDIR at first use`
        : `no @number0/iroh-${target.irohPackage}@${irohVersion} is published: tunnel listen exits 69, everything else works`,
      catalog: target.selector ? { ...target.selector } : null,
      file,
      buildMs,
    };
    results.push(entry);
    options.log(
      `  ${target.id.padEnd(15)} ${human(entry.executableSize).padStart(10)}` +
        `${archiveSize !== null ? `  ${human(archiveSize).padStart(9)} ${archive}` : ""}` +
        `  ${entry.dataPlane ? "data plane" : "no data plane"}  ${(buildMs / 1000).toFixed(1)} s`,
    );
  }

  if (options.archives) {
    const archived = results.filter((r) => r.archive !== null && r.archiveSha256 !== null);
    writeFileSync(
      join(outDir, "checksums.txt"),
      checksumsText(archived.map((r) => ({ file: r.archive as string, sha256: r.archiveSha256 as string }))),
    );
    const platforms: IndexPlatform[] = [];
    for (const r of archived) {
      const target = options.targets.find((t) => t.id === r.id) as ReleaseTarget;
      if (!target.selector) continue;
      platforms.push({
        os: target.selector.os,
        arch: target.selector.arch,
        uri: `${baseUrl}/${r.archive}`,
        sha256: r.archiveSha256 as string,
        from: target.executable,
      });
    }
    mkdirSync(join(outDir, "plugins"), { recursive: true });
    writeFileSync(
      join(outDir, "plugins", "connect.yaml"),
      pluginIndexYaml({
        manifest: releaseManifest(version),
        description: pkg.description,
        homepage: `https://github.com/${REPOSITORY}`,
        platforms,
      }),
    );
  }

  let image: BuildManifest["image"] = null;
  const linux = results.find((r) => r.id === "linux-x64");
  if (options.archives && options.image !== false && linux) {
    const problem = imageHostProblem();
    if (problem) options.log(`  image           skipped: ${problem}`);
    else {
      const t0 = performance.now();
      const out = join(outDir, IMAGE_ARCHIVE);
      const built = buildImage({ executable: join(outDir, linux.executable), out, version, commit, epoch });
      image = { archive: IMAGE_ARCHIVE, size: built.size, sha256: await sha256File(out), manifestDigest: built.manifestDigest };
      options.log(`  image           ${human(built.size).padStart(10)}  ${IMAGE_ARCHIVE}  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }

  const manifest: BuildManifest = {
    name: "datumctl-connect",
    version,
    tag,
    commit,
    bun: Bun.version,
    iroh: irohVersion,
    builtAt: new Date().toISOString(),
    baseUrl,
    totalMs: Math.round(performance.now() - started),
    targets: results,
    image,
  };
  writeFileSync(join(outDir, "build-manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(workDir, { recursive: true, force: true });
  return manifest;
}

async function cli(): Promise<void> {
  let values: { targets?: string; out?: string; "base-url"?: string; "no-archives"?: boolean; "no-image"?: boolean; quiet?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        targets: { type: "string" },
        out: { type: "string" },
        "base-url": { type: "string" },
        "no-archives": { type: "boolean" },
        "no-image": { type: "boolean" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)} (see --help)`);
  }
  if (values.help) {
    process.stdout.write(
      "Usage: bun scripts/build.ts [--targets all|host|<id>[,<id>…]] [--out dist] [--base-url https://…] [--no-archives] [--no-image] [--quiet]\n" +
        "Targets: linux-x64, linux-arm64, darwin-x64, darwin-arm64, windows-x64, windows-arm64, linux-x64-musl\n",
    );
    return;
  }
  let targets: ReleaseTarget[];
  try {
    targets = await selectTargets(values.targets ?? "all");
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  const outDir = resolve(values.out ?? join(REPO_ROOT, "dist"));
  const log = values.quiet ? () => undefined : (line: string) => process.stdout.write(`${line}\n`);
  log(`building ${targets.map((t) => t.id).join(", ")} into ${relative(process.cwd(), outDir) || "."}`);
  try {
    const manifest = await build({ targets, outDir, archives: !values["no-archives"], image: !values["no-image"], log, ...(values["base-url"] ? { baseUrl: values["base-url"] } : {}) });
    const carrying = manifest.targets.filter((t) => t.dataPlane).map((t) => t.id);
    log(`datumctl-connect ${manifest.version} (${manifest.commit}), bun ${manifest.bun}: ${manifest.targets.length} target(s) in ${(manifest.totalMs / 1000).toFixed(1)} s`);
    log(`data plane: ${carrying.length > 0 ? carrying.join(", ") : "none"}; manifest: ${relative(process.cwd(), join(outDir, "build-manifest.json"))}`);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

if (import.meta.main) await cli();
