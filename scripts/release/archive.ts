/**
 * Release archives and checksums in the shapes datumctl reads (docs/wire-facts.md#release-archives): a flat
 * `.tar.gz` (GNU tar + gzip) or `.zip` (`zip`, else Python's `zipfile`) holding the executable,
 * LICENSE and README.md; `checksums.txt` in goreleaser's format, `<sha256>  <file>` per line.
 * Entries are sorted, owned by 0:0 and stamped with one fixed time, so the same inputs give the
 * same tar stream.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, rmSync, statSync, utimesSync } from "node:fs";
import { basename, join } from "node:path";

function run(cmd: string[], cwd: string): void {
  const result = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} failed (exit ${result.exitCode}):\n${result.stderr.toString().trim()}`);
  }
}

function have(command: string): boolean {
  return Bun.which(command) !== null;
}

/**
 * Pack `files` (names inside `dir`) into `archive` (`.tar.gz` or `.zip`), flat, in the given order
 * for zip and sorted for tar. `mtime` is seconds since the epoch.
 */
export function createArchive(archive: string, dir: string, files: readonly string[], mtime: number): void {
  rmSync(archive, { force: true });
  for (const file of files) utimesSync(join(dir, file), mtime, mtime);
  if (archive.endsWith(".tar.gz")) {
    // gzip -n: no name or time in the gzip header either.
    run(
      [
        "tar",
        "--create",
        "--file",
        archive,
        "--use-compress-program",
        "gzip -n",
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        `--mtime=@${mtime}`,
        "--format=gnu",
        "-C",
        dir,
        ...files,
      ],
      dir,
    );
  } else if (archive.endsWith(".zip")) {
    if (have("zip")) run(["zip", "-q", "-X", "-9", archive, ...files], dir);
    else if (have("python3")) run(["python3", "-m", "zipfile", "-c", archive, ...files], dir);
    else throw new Error("neither zip nor python3 is installed: cannot write .zip archives");
  } else {
    throw new Error(`unknown archive type: ${archive}`);
  }
  if (!existsSync(archive)) throw new Error(`${archive} was not written`);
}

/** Lowercase hex SHA-256 of a file, streamed (executables are ~100 MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** goreleaser's `checksums.txt`: `<sha256>  <file name>` per line, sorted by name. */
export function checksumsText(entries: readonly { file: string; sha256: string }[]): string {
  return [...entries]
    .sort((a, b) => (basename(a.file) < basename(b.file) ? -1 : 1))
    .map((e) => `${e.sha256}  ${basename(e.file)}\n`)
    .join("");
}

export function sizeOf(path: string): number {
  return statSync(path).size;
}
