#!/usr/bin/env bun
/**
 * `npm run build:image`: the container image as an OCI archive, `dist/datumctl-connect-oci.tar`
 * (scripts/release/oci-image.ts; README "Run in a container"). `npm run build` writes it too
 * whenever it builds linux-x64 with archives; this builds only that target first when
 * `dist/build/linux-x64/datumctl-connect` is missing (or with --rebuild).
 *
 *   bun scripts/build-image.ts [--executable PATH] [--out dist/datumctl-connect-oci.tar] [--rebuild]
 *
 * Load it with `podman load -i dist/datumctl-connect-oci.tar` (or `skopeo copy
 * oci-archive:dist/datumctl-connect-oci.tar docker://REGISTRY/datumctl-connect:TAG`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildImage, IMAGE_ARCHIVE } from "./release/oci-image.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");

function git(args: string[]): string | undefined {
  const r = Bun.spawnSync(["git", ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString().trim();
  return r.exitCode === 0 && out ? out : undefined;
}

let values: { executable?: string; out?: string; rebuild?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: { executable: { type: "string" }, out: { type: "string" }, rebuild: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
  }));
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)} (see --help)\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write("Usage: bun scripts/build-image.ts [--executable PATH] [--out dist/datumctl-connect-oci.tar] [--rebuild]\n");
  process.exit(0);
}
const executable = resolve(values.executable ?? join(REPO_ROOT, "dist", "build", "linux-x64", "datumctl-connect"));
if (values.executable === undefined && (values.rebuild || !existsSync(executable))) {
  // scripts/build.ts writes the image itself after building linux-x64 with archives.
  const r = Bun.spawnSync([process.execPath, join(REPO_ROOT, "scripts", "build.ts"), "--targets", "linux-x64"], { cwd: REPO_ROOT, stdout: "inherit", stderr: "inherit" });
  process.exit(r.exitCode ?? 1);
}
if (!existsSync(executable)) {
  process.stderr.write(`error: ${executable} does not exist\n`);
  process.exit(2);
}
// The image is labelled with what the executable says it is (it may be older than HEAD).
const said = Bun.spawnSync([executable, "version", "-o", "json"], { env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe", timeout: 10_000 });
let info: { version?: string; commit?: string } = {};
try {
  info = JSON.parse(said.stdout.toString()) as typeof info;
} catch {
  // Labelled from the tree below.
}
const version = info.version ?? (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const commit = info.commit ?? git(["rev-parse", "--short", "HEAD"]) ?? "unknown";
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? git(["show", "-s", "--format=%ct", "HEAD"]) ?? Math.floor(Date.now() / 1000));
const out = resolve(values.out ?? join(REPO_ROOT, "dist", IMAGE_ARCHIVE));
try {
  const image = buildImage({ executable, out, version, commit, epoch });
  process.stdout.write(`${relative(process.cwd(), out)}: ${(image.size / 1024 / 1024).toFixed(1)} MiB (layer ${(image.uncompressedSize / 1024 / 1024).toFixed(1)} MiB uncompressed), manifest ${image.manifestDigest}\n`);
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
