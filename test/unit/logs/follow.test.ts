import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { follow, LogFollower, tailLines } from "../../../src/logs/follow.ts";
import { RotatingFileWriter, rotatedPath } from "../../../src/logs/rotating-file.ts";

let root: string;
let path: string;

beforeEach(() => {
  root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "follow-"));
  path = join(root, "logs", "tunnel.log");
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const line = (i: number) => `{"n":${i},"pad":"${"x".repeat(i % 17)}"}`;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => line(from + i));

/** A tiny deterministic PRNG, so a failure replays the same way. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("tailLines", () => {
  test("the last N across rotated files, oldest first", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 300, keep: 5, env: {} });
    for (let i = 0; i < 60; i++) writer.writeLine(line(i));
    writer.close();
    expect(readdirSync(join(root, "logs")).length).toBe(5);
    expect(tailLines(path, 3).lines).toEqual(range(57, 60));
    const many = tailLines(path, 25).lines;
    expect(many).toEqual(range(35, 60)); // spans several files
    const all = tailLines(path, 10_000).lines;
    expect(all.at(-1)).toBe(line(59));
    expect(all).toEqual(range(60 - all.length, 60));
  });

  test("no log yet: no lines, no cursor; N = 0: no lines, cursor at the end", () => {
    expect(tailLines(path, 50)).toEqual({ lines: [], cursor: undefined });
    const writer = new RotatingFileWriter({ path, env: {} });
    writer.writeLine(line(0));
    writer.close();
    const { lines, cursor } = tailLines(path, 0);
    expect(lines).toEqual([]);
    expect(cursor?.offset).toBe(line(0).length + 1);
  });

  test("an unterminated last line is left for follow", () => {
    mkdirSync(join(root, "logs"), { recursive: true });
    appendFileSync(path, `${line(0)}\n${line(1)}\npartial`);
    const { lines, cursor } = tailLines(path, 5);
    expect(lines).toEqual([line(0), line(1)]);
    const follower = new LogFollower(path, cursor);
    expect(follower.poll()).toEqual([]);
    appendFileSync(path, " and done\n");
    expect(follower.poll()).toEqual(["partial and done"]);
    follower.close();
  });

  test("long files are read backwards in chunks", () => {
    const writer = new RotatingFileWriter({ path, env: {} });
    for (let i = 0; i < 20_000; i++) writer.writeLine(line(i)); // ~600 KB, many 64 KiB chunks
    writer.close();
    expect(tailLines(path, 5000).lines).toEqual(range(15_000, 20_000));
  });
});

describe("LogFollower", () => {
  test("every line exactly once, in order, across many rotations (interleaved writes and polls)", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 400, keep: 5, env: {} });
    const random = prng(42);
    const { cursor } = tailLines(path, 0);
    const follower = new LogFollower(path, cursor);
    const got: string[] = [];
    let n = 0;
    for (let round = 0; round < 400; round++) {
      // Up to ~2.5 rotations between polls: never more than keep - 1, so nothing can be lost.
      const burst = Math.floor(random() * 40);
      for (let i = 0; i < burst; i++) writer.writeLine(line(n++));
      got.push(...follower.poll());
    }
    got.push(...follower.poll());
    follower.close();
    writer.close();
    expect(writer.rotations).toBeGreaterThan(100);
    expect(got.length).toBe(n);
    expect(got).toEqual(range(0, n));
  });

  test("a cursor whose file was rotated since the tail continues from that file", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 400, keep: 5, env: {} });
    for (let i = 0; i < 10; i++) writer.writeLine(line(i));
    const { lines, cursor } = tailLines(path, 3);
    expect(lines).toEqual(range(7, 10));
    for (let i = 10; i < 40; i++) writer.writeLine(line(i)); // rotates twice
    expect(writer.rotations).toBeGreaterThanOrEqual(2);
    const follower = new LogFollower(path, cursor);
    expect(follower.poll()).toEqual(range(10, 40));
    writer.close();
    follower.close();
  });

  test("a cursor whose file was rotated out entirely starts at the oldest file still kept", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 200, keep: 3, env: {} });
    writer.writeLine(line(0));
    const { cursor } = tailLines(path, 1);
    for (let i = 1; i < 100; i++) writer.writeLine(line(i));
    writer.close();
    const got = new LogFollower(path, cursor).poll();
    expect(got.at(-1)).toBe(line(99));
    expect(got).toEqual(range(100 - got.length, 100)); // contiguous: no duplicates, no holes
  });

  test("no file yet: waits, then reads the new file from its start", () => {
    const follower = new LogFollower(path, undefined);
    expect(follower.poll()).toEqual([]);
    const writer = new RotatingFileWriter({ path, env: {} });
    writer.writeLine(line(0));
    writer.writeLine(line(1));
    expect(follower.poll()).toEqual([line(0), line(1)]);
    writer.close();
    follower.close();
  });

  test("no file when following began, and rotations before the first poll: every file is read from its start", () => {
    const follower = new LogFollower(path, tailLines(path, 0).cursor);
    const writer = new RotatingFileWriter({ path, maxBytes: 300, keep: 5, env: {} });
    for (let i = 0; i < 30; i++) writer.writeLine(line(i));
    expect(writer.rotations).toBeGreaterThanOrEqual(2);
    expect(follower.poll()).toEqual(range(0, 30));
    writer.writeLine(line(30));
    expect(follower.poll()).toEqual([line(30)]);
    writer.close();
    follower.close();
  });

  test("tail during a rotation (no live file): the cursor is the end of tunnel.log.1", () => {
    mkdirSync(join(root, "logs"), { recursive: true });
    appendFileSync(rotatedPath(path, 1), `${line(0)}\n${line(1)}\n`);
    const { lines, cursor } = tailLines(path, 1);
    expect(lines).toEqual([line(1)]);
    const follower = new LogFollower(path, cursor);
    appendFileSync(path, `${line(2)}\n`);
    expect(follower.poll()).toEqual([line(2)]);
    follower.close();
  });

  test("truncation in place restarts at 0", () => {
    const writer = new RotatingFileWriter({ path, env: {} });
    writer.writeLine(line(0));
    const follower = new LogFollower(path, tailLines(path, 0).cursor);
    writer.writeLine(line(1));
    expect(follower.poll()).toEqual([line(1)]);
    writer.close();
    truncateSync(path, 0);
    appendFileSync(path, `${line(2)}\n`);
    expect(follower.poll()).toEqual([line(2)]);
    follower.close();
  });

  test("a fragment at the end of a rotated file (torn write) is a line of its own", () => {
    mkdirSync(join(root, "logs"), { recursive: true });
    appendFileSync(path, `${line(0)}\n`);
    const follower = new LogFollower(path, tailLines(path, 0).cursor);
    appendFileSync(path, `${line(1)}\ntorn`);
    expect(follower.poll()).toEqual([line(1)]);
    // Rotate by hand, the way the writer does.
    renameSync(path, rotatedPath(path, 1));
    appendFileSync(path, `${line(2)}\n`);
    expect(follower.poll()).toEqual(["torn", line(2)]);
    follower.close();
  });
});

describe("follow", () => {
  test("a writer appending with rotation on a timer: every line once, in order; abort stops it", async () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 500, keep: 5, env: {} });
    for (let i = 0; i < 5; i++) writer.writeLine(line(i));
    const { lines, cursor } = tailLines(path, 50);
    expect(lines).toEqual(range(0, 5));

    const total = 600;
    const got: string[] = [];
    const stop = new AbortController();
    let n = 5;
    const timer = setInterval(() => {
      for (let i = 0; i < 7 && n < total; i++) writer.writeLine(line(n++));
    }, 2);
    const done = follow(path, {
      cursor,
      intervalMs: 5,
      signal: stop.signal,
      onLine: (l) => {
        got.push(l);
        if (got.length === total - 5) stop.abort();
      },
    });
    const deadline = setTimeout(() => stop.abort(), 5_000);
    await done;
    clearTimeout(deadline);
    clearInterval(timer);
    writer.close();
    expect(writer.rotations).toBeGreaterThan(20);
    expect(got).toEqual(range(5, total));
  });

  test("a writer in another process: every line once, in order, across its rotations", async () => {
    const total = 4000;
    const { cursor } = tailLines(path, 10);
    const got: number[] = [];
    const stop = new AbortController();
    // keep=20 leaves slack for a reader descheduled on a loaded machine; the files are ~4 KB.
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "append-lines.ts"), path, String(total), "4000", "20"], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const deadline = setTimeout(() => stop.abort(), 10_000);
    await follow(path, {
      cursor,
      signal: stop.signal,
      onLine: (l) => {
        got.push((JSON.parse(l) as { n: number }).n);
        if (got.length === total) stop.abort();
      },
    });
    clearTimeout(deadline);
    const report = JSON.parse(await new Response(child.stdout).text()) as { rotations: number; dropped: number };
    expect(await child.exited).toBe(0);
    expect(report.rotations).toBeGreaterThan(10);
    expect(report.dropped).toBe(0);
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  test("an already-aborted signal returns at once", async () => {
    const stop = new AbortController();
    stop.abort();
    await follow(path, { cursor: undefined, signal: stop.signal, onLine: () => undefined });
  });
});
