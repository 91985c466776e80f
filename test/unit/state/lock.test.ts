// One process per identity slot (docs/architecture.md#identity-slots): the slot lock file and the process
// identity behind it.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError, Exit, Rejected } from "../../../src/errors.ts";
import { acquireSlotLock, type SlotLock } from "../../../src/state/lock.ts";
import { pidAlive, processStartTime, sameProcessRunning } from "../../../src/state/process-identity.ts";

const WHAT = "identity slot p-lock";
const HINT = "stop the other 'tunnel listen' for this project first";
const linux = process.platform === "linux";

let dir: string;
let n = 0;
const held: SlotLock[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "lock-"));
});

afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
});

function lockPath(): string {
  return join(dir, `slot-${++n}.lock`);
}

function acquire(path: string): SlotLock {
  const lock = acquireSlotLock(path, WHAT, HINT);
  held.push(lock);
  return lock;
}

function failureOf(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

/** The PID of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = Bun.spawn(["true"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await child.exited;
  expect(pidAlive(child.pid)).toBe(false);
  return child.pid;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}

describe("acquireSlotLock", () => {
  test("writes our PID, start time and purpose, mode 0600", () => {
    const path = lockPath();
    const lock = acquire(path);
    expect(lock.path).toBe(path);
    const content = readJson(path);
    expect(content.pid).toBe(process.pid);
    expect(content.what).toBe(WHAT);
    expect(typeof content.at).toBe("string");
    expect(Number.isNaN(Date.parse(content.at as string))).toBe(false);
    if (linux) expect(content.startTime).toBe(processStartTime(process.pid));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("a second acquire in the same process is Rejected (exit 64) naming our PID", () => {
    const path = lockPath();
    acquire(path);
    const err = failureOf(() => acquire(path));
    expect(err).toBeInstanceOf(Rejected);
    expect(err.exit).toBe(Exit.rejected);
    expect(err.code).toBe("conflict");
    expect(err.message).toBe(`${WHAT} is already in use by process ${process.pid}`);
    expect(err.hint).toBe(HINT);
    // The holder's lock is untouched.
    expect(readJson(path).pid).toBe(process.pid);
  });

  test("release → the lock can be taken again", () => {
    const path = lockPath();
    const first = acquire(path);
    first.release();
    expect(existsSync(path)).toBe(false);
    acquire(path);
    expect(readJson(path).pid).toBe(process.pid);
  });

  test("release twice is harmless", () => {
    const path = lockPath();
    const lock = acquire(path);
    lock.release();
    expect(() => lock.release()).not.toThrow();
  });

  test("release leaves a lock that another process has taken since", async () => {
    const path = lockPath();
    const lock = acquire(path);
    const other = { pid: await deadPid(), at: new Date().toISOString() };
    writeFileSync(path, JSON.stringify(other));
    lock.release();
    expect(readJson(path)).toEqual(other);
    rmSync(path);
  });

  test("a stale lock naming a dead PID is taken over", async () => {
    const path = lockPath();
    const pid = await deadPid();
    writeFileSync(path, `${JSON.stringify({ pid, startTime: "12345", at: "2026-01-01T00:00:00.000Z", what: WHAT })}\n`, { mode: 0o600 });
    acquire(path);
    expect(readJson(path).pid).toBe(process.pid);
  });

  test.each([
    ["garbage", "not json {{{"],
    ["empty (a crash mid-write)", ""],
    ["a half-written object", '{"pid": 12'],
    ["the wrong shape", JSON.stringify({ pid: "12", at: 5 })],
    ["a JSON array", "[1,2,3]"],
    ["JSON null", "null"],
  ])("a %s lock file is taken over once it is not fresh", (_name, text) => {
    const path = lockPath();
    writeFileSync(path, text);
    // Fresh, it may be another process between creating and writing it: not taken.
    expect(() => acquire(path)).toThrow(Rejected);
    const old = new Date(Date.now() - 10_000);
    utimesSync(path, old, old);
    acquire(path);
    const content = readJson(path);
    expect(content.pid).toBe(process.pid);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test.skipIf(!linux)("a live PID whose start time differs (PID reused) is stale", () => {
    const path = lockPath();
    writeFileSync(path, JSON.stringify({ pid: process.pid, startTime: "1", at: new Date().toISOString() }));
    acquire(path);
    expect(readJson(path).startTime).toBe(processStartTime(process.pid));
  });

  test("a live PID without a recorded start time holds the lock", () => {
    const path = lockPath();
    writeFileSync(path, JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
    const err = failureOf(() => acquireSlotLock(path, WHAT, HINT));
    expect(err.message).toBe(`${WHAT} is already in use by process ${process.pid}`);
    rmSync(path);
  });

  test("a missing directory is not a lock conflict: the file-system error surfaces", () => {
    expect(() => acquireSlotLock(join(dir, "no-such-dir", "slot.lock"), WHAT, HINT)).toThrow(/ENOENT/);
  });
});

describe("process identity", () => {
  test.skipIf(!linux)("processStartTime(process.pid) is a numeric string on Linux, stable across calls", () => {
    const start = processStartTime(process.pid);
    expect(start).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(start);
  });

  test.skipIf(!linux)("processStartTime of a process that has exited is undefined", async () => {
    expect(processStartTime(await deadPid())).toBeUndefined();
  });

  test.skipIf(linux)("processStartTime is unavailable off Linux", () => {
    expect(processStartTime(process.pid)).toBeUndefined();
  });

  test.each([
    ["zero", 0, false],
    ["negative", -1, false],
    ["fractional", 1.5, false],
    ["NaN", Number.NaN, false],
    ["our own", process.pid, true],
  ])("pidAlive(%s)", (_name, pid, expected) => {
    expect(pidAlive(pid)).toBe(expected);
  });

  test("pidAlive of a reaped child is false", async () => {
    expect(pidAlive(await deadPid())).toBe(false);
  });

  test.each<[string, string | undefined | "own", boolean]>([
    ["no start time recorded", undefined, true],
    ["the same start time", "own", true],
  ])("sameProcessRunning(our PID, %s)", (_name, startTime, expected) => {
    const recorded = startTime === "own" ? processStartTime(process.pid) : startTime;
    expect(sameProcessRunning(process.pid, recorded)).toBe(expected);
  });

  test.skipIf(!linux)("sameProcessRunning(our PID, another start time) is false", () => {
    expect(sameProcessRunning(process.pid, "1")).toBe(false);
  });

  test("sameProcessRunning(a dead PID, any start time) is false", async () => {
    const pid = await deadPid();
    expect(sameProcessRunning(pid, undefined)).toBe(false);
    expect(sameProcessRunning(pid, "12345")).toBe(false);
  });
});
