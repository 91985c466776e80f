/**
 * Durable, private file writes (docs/architecture.md#local-state, docs/wire-facts.md#local-files
 * hardening): a reader sees either the old file or the new one, never a torn one, even across a crash or
 * power loss.
 *
 * Write `.<name>.<random>.tmp` beside the target, fsync it, rename it over the target, fsync the
 * directory so the rename itself is durable. Directories are 0700 and files 0600: the state holds
 * private keys and which local ports are exposed.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** `mkdir -p` with 0700 for every directory it creates; an existing leaf is tightened to 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  // mkdir's mode is filtered by the umask, and an existing directory keeps its mode.
  if (process.platform !== "win32") await chmod(dir, DIR_MODE);
}

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(8).readBigUInt64BE()}.tmp`);
}

export interface WriteOptions {
  /**
   * The directory is ours (the state root): create it 0700 and tighten it to 0700. False for a
   * file we put into someone else's directory (a unit file in /etc/systemd/system, an env file
   * the user named in /tmp): create what is missing, never change the mode of what exists.
   */
  readonly privateDir?: boolean;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number = FILE_MODE, options: WriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  if (options.privateDir === false) await mkdir(dir, { recursive: true, mode: 0o755 });
  else await ensurePrivateDir(dir);
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (process.platform !== "win32") await chmod(temp, mode); // the umask may have narrowed or widened it
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** fsync a directory so a rename or new entry in it survives a crash (a no-op where unsupported). */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return; // directories cannot be opened for fsync there
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems (certain FUSE and network mounts) refuse fsync on directories.
    if (!isCode(err, "EINVAL") && !isCode(err, "ENOTSUP") && !isCode(err, "EISDIR")) throw err;
  } finally {
    await handle.close();
  }
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}
