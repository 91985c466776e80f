/**
 * One process per identity slot (docs/architecture.md#identity-slots): two ListenNodes on one key would
 * fight over the Connector's connection details and the edge would reach either at random. The
 * lock is a file created exclusively, holding the owner's PID and start time; a lock whose owner
 * is gone (crash, `kill -9`) is stale and taken over.
 */
import { openSync, readFileSync, closeSync, writeSync, fsyncSync, linkSync, statSync, unlinkSync } from "node:fs";
import * as v from "valibot";
import { Rejected } from "../errors.ts";
import { isCode, tempPathFor } from "./atomic-write.ts";
import { processStartTime, sameProcessRunning } from "./process-identity.ts";

const LockFile = v.object({ pid: v.number(), startTime: v.optional(v.string()), at: v.string(), what: v.optional(v.string()) });
type LockFile = v.InferOutput<typeof LockFile>;

/** An unreadable lock file younger than this is someone else's, mid-write. */
const FRESH_LOCK_MS = 2_000;

function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export interface SlotLock {
  readonly path: string;
  release(): void;
}

function readLock(path: string): LockFile | undefined {
  try {
    const parsed = v.safeParse(LockFile, JSON.parse(readFileSync(path, "utf8")));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}

/** The process holding a slot's lock, when it is still running; undefined for a free or stale lock. */
export function liveLockHolder(path: string): { readonly pid: number } | undefined {
  const holder = readLock(path);
  return holder && sameProcessRunning(holder.pid, holder.startTime) ? { pid: holder.pid } : undefined;
}

function writeSynced(path: string, text: string): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Create the lock file complete or not at all: the content goes to a synced temp file that is
 * then hard-linked to the lock's name (link fails with EEXIST rather than replacing). A process
 * killed mid-way leaves no empty lock that the next start would have to wait out. Where hard links
 * are unsupported, an exclusive create and write is the fallback. False when the lock exists.
 */
function createLockFile(path: string, text: string): boolean {
  const temp = tempPathFor(path);
  try {
    writeSynced(temp, text);
    linkSync(temp, path);
    return true;
  } catch (err) {
    if (isCode(err, "EEXIST")) return false;
    if (!isCode(err, "EPERM") && !isCode(err, "ENOTSUP") && !isCode(err, "EXDEV")) throw err;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Never created, or already gone.
    }
  }
  try {
    writeSynced(path, text);
    return true;
  } catch (err) {
    if (isCode(err, "EEXIST")) return false;
    throw err;
  }
}

/** Take the lock or throw `Rejected` (exit 64) naming the PID that holds it. */
export function acquireSlotLock(path: string, what: string, hint: string): SlotLock {
  const content: LockFile = { pid: process.pid, at: new Date().toISOString(), what };
  const startTime = processStartTime(process.pid);
  if (startTime !== undefined) content.startTime = startTime;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!createLockFile(path, `${JSON.stringify(content)}\n`)) {
      const holder = readLock(path);
      if (holder && sameProcessRunning(holder.pid, holder.startTime)) {
        throw new Rejected(`${what} is already in use by process ${holder.pid}`, hint, "conflict");
      }
      // An unreadable lock this fresh is another process between creating and writing it: not ours.
      if (!holder && Date.now() - mtimeMs(path) < FRESH_LOCK_MS) {
        throw new Rejected(`${what} is being taken by another process`, hint, "conflict");
      }
      // Stale (its process is gone) or unreadable for a while (a crash mid-write): take it over.
      try {
        unlinkSync(path);
      } catch {
        // Someone else removed it first; the next attempt decides.
      }
      continue;
    }
    return {
      path,
      release() {
        const holder = readLock(path);
        if (holder?.pid === process.pid) {
          try {
            unlinkSync(path);
          } catch {
            // Already gone.
          }
        }
      },
    };
  }
  throw new Rejected(`${what} is locked by another process`, hint, "conflict");
}
