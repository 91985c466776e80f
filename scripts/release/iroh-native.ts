/**
 * The iroh native module for a target (docs/architecture.md#distribution). A plain cross-compile embeds
 * none (only the host's platform package is installed), and iroh's own `index.js` picks its file at
 * run time by probing the system, which a bundler cannot follow. So each build resolves
 * `@number0/iroh` to a generated per-target loader that embeds `./iroh.<suffix>.node` as a file and
 * loads it through src/dataplane/native-module.ts (cached once under the state root, then
 * `process.dlopen`ed from there), re-exporting iroh's names.
 *
 * The `.node` comes from the installed platform package when present, else from `npm pack
 * @number0/iroh-<suffix>@<version>` (npm pack ignores os/cpu), checked against package-lock.json's
 * integrity when the lock has the package, and cached under `<cacheDir>`.
 *
 * Targets without a published module get a loader that throws: the data plane's probe
 * (`loadDataPlane`) turns that into exit 69 naming the platform, and nothing else loads iroh eagerly.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BunPlugin } from "bun";
import type { ReleaseTarget } from "./targets.ts";

export interface IrohModule {
  /** The loader `@number0/iroh` resolves to for this target. */
  readonly loader: string;
  /** The embedded `.node`, or undefined when the target has none. */
  readonly nativePath: string | undefined;
  /** Where the `.node` came from: `node_modules`, `cache`, `npm pack`, or `none`. */
  readonly source: "node_modules" | "cache" | "npm pack" | "none";
}

function irohVersion(repoRoot: string): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "node_modules", "@number0", "iroh", "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/** package-lock.json's `sha512-…` integrity for a package, if the lock lists it at that version. */
function lockIntegrity(repoRoot: string, name: string, version: string): string | undefined {
  try {
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
      packages?: Record<string, { version?: string; integrity?: string }>;
    };
    const entry = lock.packages?.[`node_modules/${name}`];
    return entry?.version === version ? entry.integrity : undefined;
  } catch {
    return undefined;
  }
}

function run(cmd: string[], cwd: string): string {
  const result = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (result.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} failed (exit ${result.exitCode}):\n${result.stderr.toString().trim()}`);
  }
  return result.stdout.toString();
}

/** `iroh.<suffix>.node` for the target: installed, cached, or fetched with `npm pack`. */
function provideNative(repoRoot: string, cacheDir: string, suffix: string): { path: string; source: IrohModule["source"] } {
  const file = `iroh.${suffix}.node`;
  const installed = join(repoRoot, "node_modules", "@number0", `iroh-${suffix}`, file);
  if (existsSync(installed)) return { path: installed, source: "node_modules" };

  const version = irohVersion(repoRoot);
  const dir = join(cacheDir, `iroh-${version}`, suffix);
  const cached = join(dir, file);
  if (existsSync(cached)) return { path: cached, source: "cache" };

  const name = `@number0/iroh-${suffix}`;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, ".pack-"));
  try {
    const packed = JSON.parse(run(["npm", "pack", `${name}@${version}`, "--json", "--pack-destination", work], work)) as {
      filename: string;
    }[];
    const tarball = join(work, packed[0]?.filename ?? "");
    if (!packed[0] || !existsSync(tarball)) throw new Error(`npm pack ${name}@${version} wrote no tarball`);
    const expected = lockIntegrity(repoRoot, name, version);
    if (expected) {
      const actual = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
      if (actual !== expected) throw new Error(`${name}@${version}: tarball integrity ${actual} does not match package-lock.json's ${expected}`);
    }
    run(["tar", "-xzf", tarball, "-C", work, `package/${file}`], work);
    renameSync(join(work, "package", file), cached);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { path: cached, source: "npm pack" };
}

/**
 * The names `@number0/iroh` exports, read from its napi-rs `index.js` (`module.exports.X =
 * nativeBinding.X`): the loader re-exports them by name, which code splitting needs.
 */
export function irohExportNames(repoRoot: string): string[] {
  const index = readFileSync(join(repoRoot, "node_modules", "@number0", "iroh", "index.js"), "utf8");
  const names = [...index.matchAll(/^module\.exports\.(\w+) = nativeBinding\.\1$/gm)].map((m) => m[1] as string);
  if (!names.includes("Endpoint")) throw new Error("@number0/iroh's index.js names no Endpoint export: has its layout changed?");
  return names;
}

/**
 * The generated loader: the `.node` is embedded as a file (not `require`d, which would make Bun
 * read all of it on every start) and loaded through src/dataplane/native-module.ts.
 */
export function loaderSource(o: {
  targetId: string;
  file: string;
  sha256: string;
  size: number;
  exportNames: readonly string[];
  nativeModuleTs: string;
}): string {
  return [
    `// Generated by scripts/build.ts for ${o.targetId}.`,
    `import path from ${JSON.stringify(`./${o.file}`)} with { type: "file" };`,
    `import { loadEmbeddedNative } from ${JSON.stringify(o.nativeModuleTs)};`,
    `const native = await loadEmbeddedNative({ path, name: "iroh", sha256: ${JSON.stringify(o.sha256)}, size: ${o.size} });`,
    `export const { ${o.exportNames.join(", ")} } = native;`,
    `export default native;`,
    ``,
  ].join("\n");
}

/** Write the target's loader (and its `.node` next to it) under `<workDir>/<target id>/`. */
export function prepareIroh(target: ReleaseTarget, repoRoot: string, cacheDir: string, workDir: string): IrohModule {
  const dir = join(workDir, target.id);
  mkdirSync(dir, { recursive: true });
  const loader = join(dir, "iroh-loader.mjs");
  if (!target.iroh) {
    const message = `@number0/iroh publishes no native module for ${target.id} (no @number0/iroh-${target.irohPackage} package)`;
    // Throws on import; the names are still exported, as code splitting needs them to exist.
    writeFileSync(
      loader,
      [
        `// Generated by scripts/build.ts for ${target.id}.`,
        `const native = (() => { throw new Error(${JSON.stringify(message)}); })();`,
        `export const { ${irohExportNames(repoRoot).join(", ")} } = native;`,
        `export default native;`,
        ``,
      ].join("\n"),
    );
    return { loader, nativePath: undefined, source: "none" };
  }
  const native = provideNative(repoRoot, cacheDir, target.irohPackage);
  const file = `iroh.${target.irohPackage}.node`;
  copyFileSync(native.path, join(dir, file));
  const bytes = readFileSync(join(dir, file));
  writeFileSync(
    loader,
    loaderSource({
      targetId: target.id,
      file,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      size: bytes.byteLength,
      exportNames: irohExportNames(repoRoot),
      nativeModuleTs: join(repoRoot, "src", "dataplane", "native-module.ts"),
    }),
  );
  return { loader, nativePath: join(dir, file), source: native.source };
}

/** Resolve `@number0/iroh` (the bare package, not its `-<platform>` siblings) to the loader. */
export function irohPlugin(module: IrohModule): BunPlugin {
  return {
    name: "datumctl-connect-iroh",
    setup(build) {
      build.onResolve({ filter: /^@number0\/iroh$/ }, () => ({ path: module.loader }));
    },
  };
}
