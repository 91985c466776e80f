/**
 * `readCallLog` reads files the datumctl double writes and removes from other processes. A call
 * that ends between the listing of the in-flight directory and the read of its record must read
 * as finished, not fail with ENOENT. The file operations are injected so the test can end the
 * call exactly there, every time.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCallLog, recordEnd, recordStart, type CallLogFs, type CallRecord } from "../../../src/devcloud/datumctl-double/call-log.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;

function record(pid: number, startMs = 1_000): CallRecord {
  return {
    ts: new Date(startMs).toISOString(),
    startMs,
    pid,
    argv: ["auth", "get-token"],
    cwd: "/",
    env: { DATUM_SESSION: null, DATUM_PROJECT: null, DATUM_ORG: null, DATUM_API_HOST: null, DATUMCTL_NO_UPDATE_CHECK: null },
    stdinIsTTY: false,
    stderrIsTTY: false,
    envWithIssuedToken: [],
    argvHasIssuedToken: false,
  };
}

const finished = (r: CallRecord): CallRecord => ({ ...r, endMs: r.startMs + 5, exitCode: 0 });

/** The real file operations, with `afterList` run between listing a directory and returning. */
function fsWith(afterList: () => void): CallLogFs {
  return {
    readdir(dir) {
      const names = readdirSync(dir);
      afterList();
      return names;
    },
    readFile: (path) => readFileSync(path, "utf8"),
  };
}

describe("readCallLog", () => {
  test("a call that ends between the listing and the read is finished, not an error", () => {
    const log = join(mkdtempSync(join(root, "call-log-")), "calls.jsonl");
    const a = record(101);
    const b = record(102);
    recordStart(log, a);
    recordStart(log, b);
    const read = readCallLog(log, fsWith(() => recordEnd(log, finished(a))));
    expect(read.calls.map((c) => c.pid)).toEqual([101]);
    expect(read.unfinished.map((c) => c.pid)).toEqual([102]);
  });

  test("a call that ends after its record was read is reported once, as finished", () => {
    const log = join(mkdtempSync(join(root, "call-log-")), "calls.jsonl");
    const a = record(201);
    recordStart(log, a);
    let ended = false;
    const fs: CallLogFs = {
      readdir: (dir) => readdirSync(dir),
      readFile(path) {
        const text = readFileSync(path, "utf8");
        if (!ended && path.endsWith(".json")) {
          ended = true;
          recordEnd(log, finished(a));
        }
        return text;
      },
    };
    const read = readCallLog(log, fs);
    expect(read.calls.map((c) => c.pid)).toEqual([201]);
    expect(read.unfinished).toEqual([]);
  });

  test("the only in-flight record removed between the listing and the read: finished, none unfinished", () => {
    const log = join(mkdtempSync(join(root, "call-log-")), "calls.jsonl");
    const a = record(301);
    recordStart(log, a);
    const read = readCallLog(log, fsWith(() => recordEnd(log, finished(a))));
    expect(read).toMatchObject({ calls: [{ pid: 301 }], unfinished: [] });
  });

  test("no log and no in-flight directory yet: empty", () => {
    expect(readCallLog(join(mkdtempSync(join(root, "call-log-")), "calls.jsonl"))).toEqual({ calls: [], unfinished: [] });
  });

  test("a reused PID is a different call: a finished one and an unfinished one", () => {
    const log = join(mkdtempSync(join(root, "call-log-")), "calls.jsonl");
    recordStart(log, record(401, 1_000));
    recordEnd(log, finished(record(401, 1_000)));
    recordStart(log, record(401, 2_000));
    const read = readCallLog(log);
    expect(read.calls.map((c) => c.startMs)).toEqual([1_000]);
    expect(read.unfinished.map((c) => c.startMs)).toEqual([2_000]);
  });

  test("a last line still being appended (no newline yet) is left for the next read", () => {
    const log = join(mkdtempSync(join(root, "call-log-")), "calls.jsonl");
    const line = JSON.stringify(finished(record(501)));
    writeFileSync(log, `${line}\n${line.slice(0, 20)}`);
    expect(readCallLog(log).calls).toHaveLength(1);
  });
});
