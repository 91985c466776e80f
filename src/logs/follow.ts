/**
 * Reading a rotated log (`rotating-file.ts`): the last N lines across the kept files, and following
 * the live file across rotations without losing or repeating a line.
 *
 * Files are read oldest first: `tunnel.log.<k>` … `tunnel.log.1`, `tunnel.log`. The rotated files are
 * found by walking `.1`, `.2`, … until the first one that does not exist, so the reader does not
 * need to know the writer's `keep`.
 *
 * Following polls (every 200 ms when idle, every 10 ms while lines keep arriving; a directory watch
 * only cuts idle waits short) instead of relying on `fs.watch`, which misses events on network
 * and container filesystems and differs between platforms. The follower keeps the file it is
 * reading open, so when the writer renames it away (rotation: the path now names a new inode) it
 * can still read that file's remainder through its descriptor, then every file rotated after it,
 * then the new `tunnel.log` from offset 0. The writer closes a file before renaming it, so a file
 * that has been rotated away is final. A same-inode file that shrank below the read offset was
 * truncated in place (copytruncate-style tools): reading restarts at 0.
 *
 * Lines are split on `\n`; an unterminated last line is held until its newline arrives, except at
 * the end of a rotated file, where the writer never leaves half a line, so a fragment there is a
 * line of its own (a torn write). Empty lines are skipped.
 *
 * Rotations can happen while we look (another process writes). Every multi-file read takes a
 * snapshot (paths and inodes), opens what it needs, and checks the snapshot still holds; if not it
 * tries again. Descriptors pin inodes, so an inode number we hold cannot be reused meanwhile.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, watch, type BigIntStats, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { rotatedPath } from "./rotating-file.ts";

/**
 * Where a reader stopped: a file (by device and inode), a byte offset in it, and the hex of the
 * bytes just before that offset. Inode numbers are reused once a file is deleted, so a cursor is
 * only trusted when those bytes still match; otherwise its file counts as rotated out.
 */
export interface LogCursor {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly offset: number;
  readonly before: string;
}

const FINGERPRINT_BYTES = 32;

function fingerprint(fd: number, offset: number): string {
  const len = Math.min(FINGERPRINT_BYTES, offset);
  return len === 0 ? "" : readAt(fd, len, offset - len).toString("hex");
}

export interface TailResult {
  /** The last lines, oldest first (fewer when the files hold fewer). */
  readonly lines: string[];
  /**
   * Where `follow` continues: just after the last complete line of `tunnel.log` as it was read
   * (or the end of `tunnel.log.1` when there was no live file). Undefined when there was no log
   * file at all: follow then reads every file from its start once they appear.
   */
  readonly cursor: LogCursor | undefined;
}

/** Stop walking rotated files after this many, whatever is on disk. */
const MAX_ROTATED = 1000;
const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;
const SNAPSHOT_ATTEMPTS = 5;

interface FileId {
  readonly dev: bigint;
  readonly ino: bigint;
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function statOf(path: string): BigIntStats | undefined {
  try {
    return statSync(path, { bigint: true });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

function openOf(path: string): number | undefined {
  try {
    return openSync(path, "r");
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

function sameFile(a: FileId | undefined, b: FileId | undefined): boolean {
  return a !== undefined && b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

function idOf(fd: number): FileId & { size: number } {
  const st = fstatSync(fd, { bigint: true });
  return { dev: st.dev, ino: st.ino, size: Number(st.size) };
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed or gone: nothing to do
  }
}

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

function splitLines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

/** The offset just after the last `\n` before `size` (0 when there is none). */
function completeEnd(fd: number, size: number): number {
  let pos = size;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    const buf = readAt(fd, len, pos - len);
    const at = buf.lastIndexOf(NEWLINE);
    if (at !== -1) return pos - len + at + 1;
    pos -= len;
  }
  return 0;
}

/** The last `n` non-empty lines of bytes [0, end) of a file, reading backwards in chunks. */
function lastLinesOf(fd: number, end: number, n: number): string[] {
  if (n <= 0 || end <= 0) return [];
  const chunks: Buffer[] = [];
  let pos = end;
  let separators = 0;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const buf = readAt(fd, len, pos);
    chunks.unshift(buf);
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === NEWLINE && pos + i !== end - 1) separators++;
    }
    if (separators >= n) break;
  }
  const lines = Buffer.concat(chunks).toString("utf8").split("\n");
  if (pos > 0) lines.shift(); // started mid-line
  return lines.filter((line) => line !== "").slice(-n);
}

interface Observed {
  readonly path: string;
  readonly id: FileId | undefined;
}

function stillHolds(observed: readonly Observed[]): boolean {
  const seen = new Set<string>();
  for (const { path, id } of observed) {
    const now = statOf(path);
    if (id === undefined ? now !== undefined : !sameFile(now, id)) return false;
    if (id !== undefined) {
      const key = `${id.dev}:${id.ino}`;
      if (seen.has(key)) return false; // the same file under two names: a rotation was under way
      seen.add(key);
    }
  }
  return true;
}

function tailOnce(path: string, n: number): { result: TailResult; stable: boolean } {
  const observed: Observed[] = [];
  let lines: string[] = [];
  let cursor: LogCursor | undefined;
  const live = openOf(path);
  if (live === undefined) {
    observed.push({ path, id: undefined });
  } else {
    try {
      const id = idOf(live);
      const end = completeEnd(live, id.size);
      lines = lastLinesOf(live, end, n);
      cursor = { dev: id.dev, ino: id.ino, offset: end, before: fingerprint(live, end) };
      observed.push({ path, id });
    } finally {
      closeQuietly(live);
    }
  }
  // Without a live file (none yet, or mid-rotation) the cursor is the end of the newest rotated one.
  for (let k = 1; (lines.length < n || cursor === undefined) && k <= MAX_ROTATED; k++) {
    const file = rotatedPath(path, k);
    const fd = openOf(file);
    if (fd === undefined) {
      observed.push({ path: file, id: undefined });
      // A gap with files beyond it: a rotation is shifting names right now.
      if (statOf(rotatedPath(path, k + 1)) !== undefined) return { result: { lines, cursor }, stable: false };
      break;
    }
    try {
      const id = idOf(fd);
      lines = [...lastLinesOf(fd, id.size, n - lines.length), ...lines];
      observed.push({ path: file, id });
      if (cursor === undefined) cursor = { dev: id.dev, ino: id.ino, offset: id.size, before: fingerprint(fd, id.size) };
    } finally {
      closeQuietly(fd);
    }
  }
  return { result: { lines, cursor }, stable: stillHolds(observed) };
}

/**
 * The last `n` lines across `tunnel.log` and its rotated files, oldest first, and the cursor to
 * follow from. A rotation during the read is detected and the read is repeated.
 */
export function tailLines(path: string, n: number): TailResult {
  const want = Math.max(0, Math.floor(n));
  let last = tailOnce(path, want);
  for (let attempt = 1; !last.stable && attempt < SNAPSHOT_ATTEMPTS; attempt++) last = tailOnce(path, want);
  return last.result;
}

interface Current {
  readonly fd: number;
  readonly id: FileId;
  offset: number;
}

interface Opened {
  readonly fd: number;
  readonly id: FileId;
}

/**
 * A poll-driven reader of one log. `poll()` returns the complete lines that appeared since the
 * last poll; `follow` calls it on a timer. Usable directly in tests to interleave writes and reads.
 */
export class LogFollower {
  readonly path: string;
  #start: LogCursor | undefined;
  #started = false;
  #cur: Current | undefined;
  #pending: Buffer = Buffer.alloc(0);
  #closed = false;

  /** `from`: a cursor from `tailLines` (undefined: no log existed, so read every file from its start). */
  constructor(path: string, from?: LogCursor) {
    this.path = path;
    this.#start = from;
  }

  poll(): string[] {
    const out: string[] = [];
    if (this.#closed) return out;
    if (!this.#started && !this.#begin(out)) return out;
    const cur = this.#cur;
    if (cur === undefined) return out;
    this.#drain(cur, out);
    const now = statOf(this.path);
    if (now === undefined) return out; // between the writer's rename and its new file
    if (sameFile(now, cur.id)) {
      if (Number(now.size) < cur.offset) {
        // Truncated in place: what was there is gone; start over.
        cur.offset = 0;
        this.#pending = Buffer.alloc(0);
        this.#drain(cur, out);
      }
      return out;
    }
    this.#advance(cur.id, out);
    return out;
  }

  close(): void {
    this.#closed = true;
    if (this.#cur) closeQuietly(this.#cur.fd);
    this.#cur = undefined;
  }

  /** Locate the starting cursor. False while there is nothing to read yet. */
  #begin(out: string[]): boolean {
    const start = this.#start;
    if (start === undefined) {
      // No file existed when we began: everything that exists now is new. Read it all, oldest first.
      if (this.#advance(undefined, out)) this.#started = true;
      return false;
    }
    // The cursor's file may be live, or rotated since the cursor was taken, or rotated out entirely.
    for (let k = 0; k <= MAX_ROTATED; k++) {
      const file = rotatedPath(this.path, k);
      const st = statOf(file);
      if (st === undefined) {
        if (k === 0) continue; // mid-rotation: the rotated files are still worth looking at
        // A gap with files beyond it: a rotation is shifting names; look again on the next poll.
        if (statOf(rotatedPath(this.path, k + 1)) !== undefined) return false;
        break;
      }
      if (!sameFile(st, start)) continue;
      const fd = openOf(file);
      if (fd === undefined) return false; // moved while we looked: try on the next poll
      const id = idOf(fd);
      if (!sameFile(id, start)) {
        closeQuietly(fd);
        return false;
      }
      if (fingerprint(fd, start.offset) !== start.before) {
        closeQuietly(fd); // the inode number was reused by a newer file: the cursor's file is gone
        break;
      }
      this.#cur = { fd, id, offset: start.offset };
      this.#started = true;
      return true;
    }
    // Gone: every file still on disk is newer than the cursor's. Read them all.
    if (this.#advance(undefined, out)) this.#started = true;
    return false;
  }

  /** Read from the current offset to the end of the file, emitting complete lines. */
  #drain(cur: Current, out: string[]): void {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(cur.fd, buf, 0, buf.length, cur.offset);
      if (n === 0) return;
      cur.offset += n;
      this.#consume(buf.subarray(0, n), out);
    }
  }

  #consume(chunk: Buffer, out: string[]): void {
    const data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    const last = data.lastIndexOf(NEWLINE);
    if (last === -1) {
      this.#pending = Buffer.from(data);
      return;
    }
    out.push(...splitLines(data.subarray(0, last).toString("utf8")));
    this.#pending = Buffer.from(data.subarray(last + 1));
  }

  /** The end of a finished file: a fragment without a newline is a line of its own. */
  #flush(out: string[]): void {
    if (this.#pending.length > 0) out.push(...splitLines(this.#pending.toString("utf8")));
    this.#pending = Buffer.alloc(0);
  }

  /**
   * The file we were reading (`from`, undefined if it is gone) is no longer `tunnel.log`: finish it,
   * read every file rotated after it, oldest first, and continue with the live file from 0.
   * All or nothing: if the files keep moving, nothing changes and the next poll tries again.
   */
  #advance(from: FileId | undefined, out: string[]): boolean {
    const snapshot = this.#snapshot(from);
    if (snapshot === undefined) return false;
    const old = this.#cur;
    if (old) {
      this.#drain(old, out);
      this.#flush(out);
      closeQuietly(old.fd);
    }
    for (const file of snapshot.rotated) {
      const cur: Current = { fd: file.fd, id: file.id, offset: 0 };
      this.#drain(cur, out);
      this.#flush(out);
      closeQuietly(file.fd);
    }
    this.#cur = { fd: snapshot.live.fd, id: snapshot.live.id, offset: 0 };
    this.#drain(this.#cur, out);
    return true;
  }

  /** Open the files newer than `from` (oldest first) and the live file, consistently. */
  #snapshot(from: FileId | undefined): { rotated: Opened[]; live: Opened } | undefined {
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      const observed: Observed[] = [];
      const liveStat = statOf(this.path);
      if (liveStat === undefined) return undefined;
      observed.push({ path: this.path, id: liveStat });
      const listed: { path: string; id: FileId }[] = [];
      let ok = true;
      for (let k = 1; k <= MAX_ROTATED; k++) {
        const file = rotatedPath(this.path, k);
        const st = statOf(file);
        observed.push({ path: file, id: st });
        if (st === undefined) {
          if (statOf(rotatedPath(this.path, k + 1)) !== undefined) ok = false; // a rotation is shifting names
          break;
        }
        if (sameFile(st, from)) break; // everything before it is newer
        listed.push({ path: file, id: st });
      }
      const opened: Opened[] = [];
      for (const entry of ok ? [...listed.reverse(), { path: this.path, id: liveStat as FileId }] : []) {
        const fd = openOf(entry.path);
        if (fd === undefined) {
          ok = false;
          break;
        }
        const id = idOf(fd);
        opened.push({ fd, id });
        if (!sameFile(id, entry.id)) {
          ok = false;
          break;
        }
      }
      if (ok && stillHolds(observed)) {
        const live = opened.pop() as Opened;
        return { rotated: opened, live };
      }
      for (const file of opened) closeQuietly(file.fd);
    }
    return undefined;
  }
}

export interface FollowOptions {
  /** Where to start (from `tailLines`); undefined: no log existed, so read every file from its start. */
  readonly cursor?: LogCursor | undefined;
  readonly onLine: (line: string) => void;
  /** Stops following; `follow` then resolves. */
  readonly signal?: AbortSignal;
  /** Poll interval when idle (default 200 ms; 10 ms while lines keep arriving). */
  readonly intervalMs?: number;
}

export const FOLLOW_INTERVAL_MS = 200;
/** The interval while the previous poll found lines. */
export const BUSY_INTERVAL_MS = 10;

/**
 * A wake-up hint from `fs.watch` on the log directory. Polling stays the source of truth (watch
 * events are lost on network and container filesystems, and differ by platform); the hint only
 * cuts an idle wait short, so a burst right after a quiet spell is read at once instead of up to
 * 200 ms later, which is what keeps a burst from outrunning `keep - 1` rotations.
 */
class WakeHint {
  #watcher: FSWatcher | undefined;
  #wake: (() => void) | undefined;
  #failed = false;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Start watching if the directory exists now (it may appear later); never throws. */
  arm(): void {
    if (this.#watcher || this.#failed) return;
    try {
      this.#watcher = watch(this.#dir, { persistent: false }, () => this.#wake?.());
      this.#watcher.on("error", () => this.close());
    } catch (err) {
      if (!isMissing(err)) this.#failed = true; // unsupported here: polling alone
    }
  }

  /** Wait `ms`, or less if the directory changes or `signal` aborts. */
  sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  close(): void {
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    this.#watcher = undefined;
    this.#failed = true;
  }
}

/**
 * Follow `path` from `cursor`, calling `onLine` for every new complete line, until `signal`
 * aborts. Read errors other than files moving underneath (e.g. EACCES) reject.
 */
export async function follow(path: string, options: FollowOptions): Promise<void> {
  const { signal, onLine } = options;
  const interval = options.intervalMs ?? FOLLOW_INTERVAL_MS;
  const follower = new LogFollower(path, options.cursor);
  const hint = new WakeHint(dirname(path));
  try {
    while (!signal?.aborted) {
      hint.arm();
      const lines = follower.poll();
      for (const line of lines) {
        if (signal?.aborted) break;
        onLine(line);
      }
      // While lines are flowing, look again soon: a burst must not outrun `keep - 1` rotations.
      await hint.sleep(lines.length > 0 ? Math.min(interval, BUSY_INTERVAL_MS) : interval, signal);
    }
  } finally {
    hint.close();
    follower.close();
  }
}
