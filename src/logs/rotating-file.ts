/**
 * A size-rotated, append-only log file (docs/architecture.md#local-state: `logs/tunnel.log`, JSON lines,
 * rotated at 10 MB, 5 kept).
 *
 * Numbering: `tunnel.log` is always the file being written; `tunnel.log.1` is the most recently
 * rotated file and `tunnel.log.<keep-1>` the oldest. So at most `keep` files exist (the live one
 * plus `keep - 1` rotated ones), and reading `tunnel.log.<keep-1>` … `tunnel.log.1`, `tunnel.log`
 * in that order gives every kept line oldest first. With `keep = 1` rotation just starts a fresh
 * `tunnel.log` and the old lines are gone.
 *
 * Rotation is rename-based: the live file is closed, `.i` is renamed to `.i+1` from the oldest
 * down (the oldest is removed), `tunnel.log` is renamed to `tunnel.log.1`, and a new `tunnel.log`
 * is created. A follower therefore sees a new inode at `tunnel.log` and still finds the complete
 * old file, unchanged, at `tunnel.log.1` (`follow.ts`). The old file is closed before it is renamed,
 * so once the path shows a new inode the rotated file is final.
 *
 * Writes are synchronous appends of whole lines: before a line is written, the file rotates if the
 * line would take it past `maxBytes`, so a line never straddles two files (a single line longer
 * than `maxBytes` gets a file of its own).
 *
 * Logging must never take the tunnel down: a full disk (ENOSPC), a read-only or vanished directory,
 * or any other write error is swallowed. The line is counted in `droppedLines`, the file is closed,
 * and the next write tries again from scratch (mkdir, open, rotate if due). A torn write (some
 * bytes landed, then an error) is terminated with a newline before the next line, so it reads back
 * as one garbage line rather than corrupting its neighbour.
 *
 * Directories are 0700 and files 0600 (docs/architecture.md#local-state), tightened even when the umask
 * or an older file says otherwise.
 */
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

export const DEFAULT_MAX_BYTES = 10_000_000;
export const DEFAULT_KEEP = 5;
export const LOG_DIR_MODE = 0o700;
export const LOG_FILE_MODE = 0o600;

/** Environment overrides, for tests and for anyone who wants smaller or more files. */
export const MAX_BYTES_ENV = "DATUM_CONNECT_LOG_MAX_BYTES";
export const KEEP_ENV = "DATUM_CONNECT_LOG_KEEP";

export interface LogLimits {
  readonly maxBytes: number;
  readonly keep: number;
}

function positiveInt(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  const n = Number.parseInt(text, 10);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/**
 * The effective limits: an explicit option wins, then the environment, then the defaults.
 * Anything that is not a positive integer is ignored.
 */
export function resolveLogLimits(
  options: { maxBytes?: number | undefined; keep?: number | undefined } = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): LogLimits {
  const explicit = (n: number | undefined) => (n !== undefined && Number.isSafeInteger(n) && n >= 1 ? n : undefined);
  return {
    maxBytes: explicit(options.maxBytes) ?? positiveInt(env[MAX_BYTES_ENV]) ?? DEFAULT_MAX_BYTES,
    keep: explicit(options.keep) ?? positiveInt(env[KEEP_ENV]) ?? DEFAULT_KEEP,
  };
}

/** `tunnel.log` for 0, `tunnel.log.<n>` for n ≥ 1. */
export function rotatedPath(path: string, n: number): string {
  return n === 0 ? path : `${path}.${n}`;
}

/** Every path a writer with this `keep` may leave behind, oldest first (`.<keep-1>` … `.1`, live). */
export function logPathsOldestFirst(path: string, keep: number): string[] {
  const paths: string[] = [];
  for (let n = keep - 1; n >= 0; n--) paths.push(rotatedPath(path, n));
  return paths;
}

export interface RotatingFileOptions {
  /** The live file, e.g. `tunnelFiles(dir).log`. Its directory is created (0700) on demand. */
  readonly path: string;
  /** Rotate before a write would take the file past this many bytes (default 10 MB or `$DATUM_CONNECT_LOG_MAX_BYTES`). */
  readonly maxBytes?: number;
  /** Files kept in all, the live one included (default 5 or `$DATUM_CONNECT_LOG_KEEP`). */
  readonly keep?: number;
  /** Where the overrides are read from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

function errorText(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (typeof code === "string") return code;
    if (typeof message === "string") return message;
  }
  return String(err);
}

export class RotatingFileWriter {
  readonly path: string;
  readonly maxBytes: number;
  readonly keep: number;
  #fd: number | undefined;
  #size = 0;
  #dropped = 0;
  #written = 0;
  #rotations = 0;
  #lastError: string | undefined;
  /** Bytes of an unterminated line may sit at the end of the file. */
  #torn = false;
  #closed = false;

  constructor(options: RotatingFileOptions) {
    this.path = options.path;
    const limits = resolveLogLimits(options, options.env);
    this.maxBytes = limits.maxBytes;
    this.keep = limits.keep;
  }

  /** Lines that could not be written (full disk, permissions, …) since this writer was created. */
  get droppedLines(): number {
    return this.#dropped;
  }

  /** Lines written since this writer was created. */
  get writtenLines(): number {
    return this.#written;
  }

  get rotations(): number {
    return this.#rotations;
  }

  /** The last write error (an errno code such as `ENOSPC` when there is one), cleared by nothing. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Append one line (a trailing newline is added). Never throws: returns false and counts a
   * dropped line when the line could not be written.
   */
  writeLine(line: string): boolean {
    if (this.#closed) {
      this.#dropped++;
      return false;
    }
    const body = line.endsWith("\n") ? line : `${line}\n`;
    let fragmentWritten = false;
    try {
      if (this.#fd === undefined) this.#open();
      const prefix = this.#torn ? "\n" : "";
      const data = Buffer.from(prefix + body, "utf8");
      if (this.#size > 0 && this.#size + data.length > this.maxBytes) {
        this.#rotate();
        // A fresh file needs no terminator for a fragment left in the old one.
        return this.#append(Buffer.from(body, "utf8"), () => (fragmentWritten = true));
      }
      return this.#append(data, () => (fragmentWritten = true));
    } catch (err) {
      this.#lastError = errorText(err);
      this.#dropped++;
      if (fragmentWritten) this.#torn = true;
      this.#closeFd();
      return false;
    }
  }

  /** Close the file; later writes are dropped. Idempotent, never throws. */
  close(): void {
    this.#closed = true;
    this.#closeFd();
  }

  #append(data: Buffer, onPartial: () => void): boolean {
    const fd = this.#fd as number;
    let offset = 0;
    while (offset < data.length) {
      const n = writeSync(fd, data, offset, data.length - offset);
      if (n > 0) onPartial();
      offset += n;
      this.#size += n;
      if (n === 0) throw Object.assign(new Error("write returned 0 bytes"), { code: "EIO" });
    }
    this.#torn = false;
    this.#written++;
    return true;
  }

  #open(): void {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true, mode: LOG_DIR_MODE });
    if (process.platform !== "win32") chmodSync(dir, LOG_DIR_MODE);
    const fd = openSync(this.path, "a", LOG_FILE_MODE);
    try {
      const st = fstatSync(fd);
      // Only a regular file is ours to tighten: never chmod a device someone linked here.
      if (st.isFile() && process.platform !== "win32") fchmodSync(fd, LOG_FILE_MODE);
      this.#size = st.isFile() ? st.size : 0;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.#fd = fd;
  }

  #rotate(): void {
    this.#closeFd();
    if (this.keep <= 1) {
      rmSync(this.path, { force: true });
    } else {
      rmSync(rotatedPath(this.path, this.keep - 1), { force: true });
      for (let n = this.keep - 2; n >= 1; n--) {
        try {
          renameSync(rotatedPath(this.path, n), rotatedPath(this.path, n + 1));
        } catch (err) {
          if ((err as { code?: unknown }).code !== "ENOENT") throw err;
        }
      }
      renameSync(this.path, rotatedPath(this.path, 1));
    }
    this.#rotations++;
    this.#torn = false;
    this.#open();
  }

  #closeFd(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Nothing useful to do: the descriptor is gone either way.
    }
    this.#fd = undefined;
  }
}
