import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_KEEP,
  DEFAULT_MAX_BYTES,
  logPathsOldestFirst,
  resolveLogLimits,
  RotatingFileWriter,
  rotatedPath,
} from "../../../src/logs/rotating-file.ts";

let root: string;
let logDir: string;
let path: string;

beforeEach(() => {
  root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "rotating-"));
  logDir = join(root, "tunnels", "web", "logs");
  path = join(logDir, "tunnel.log");
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** 22 bytes with its newline: 45 lines fill 990 of 1000 bytes. */
const line = (i: number) => `line ${String(i).padStart(3, "0")} ${"x".repeat(12)}`;

function readAll(keep: number): string[] {
  return logPathsOldestFirst(path, keep)
    .filter((p) => existsSync(p))
    .flatMap((p) => readFileSync(p, "utf8").split("\n").filter((l) => l !== ""));
}

describe("resolveLogLimits", () => {
  test.each([
    [{}, {}, DEFAULT_MAX_BYTES, DEFAULT_KEEP],
    [{}, { DATUM_CONNECT_LOG_MAX_BYTES: "1000", DATUM_CONNECT_LOG_KEEP: "3" }, 1000, 3],
    [{ maxBytes: 500, keep: 2 }, { DATUM_CONNECT_LOG_MAX_BYTES: "1000", DATUM_CONNECT_LOG_KEEP: "3" }, 500, 2],
    [{}, { DATUM_CONNECT_LOG_MAX_BYTES: "-5", DATUM_CONNECT_LOG_KEEP: "zero" }, DEFAULT_MAX_BYTES, DEFAULT_KEEP],
    [{}, { DATUM_CONNECT_LOG_MAX_BYTES: "0", DATUM_CONNECT_LOG_KEEP: "1.5" }, DEFAULT_MAX_BYTES, DEFAULT_KEEP],
    [{ maxBytes: 0, keep: -1 }, {}, DEFAULT_MAX_BYTES, DEFAULT_KEEP],
  ])("options %j env %j → maxBytes %p keep %p", (options, env, maxBytes, keep) => {
    expect(resolveLogLimits(options, env)).toEqual({ maxBytes, keep });
  });

  test("numbering: live file, then .1 (newest rotated) … .<keep-1> (oldest)", () => {
    expect(rotatedPath("/l/tunnel.log", 0)).toBe("/l/tunnel.log");
    expect(rotatedPath("/l/tunnel.log", 2)).toBe("/l/tunnel.log.2");
    expect(logPathsOldestFirst("/l/tunnel.log", 3)).toEqual(["/l/tunnel.log.2", "/l/tunnel.log.1", "/l/tunnel.log"]);
  });
});

describe("RotatingFileWriter", () => {
  test("maxBytes=1000 keep=5, 200 lines: exactly 5 files, every line once and in order, newest in tunnel.log", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 1000, keep: 5, env: {} });
    for (let i = 0; i < 200; i++) expect(writer.writeLine(line(i))).toBe(true);
    writer.close();

    expect(readdirSync(logDir).sort()).toEqual(["tunnel.log", "tunnel.log.1", "tunnel.log.2", "tunnel.log.3", "tunnel.log.4"]);
    const lines = readAll(5);
    expect(lines).toHaveLength(200);
    expect(lines).toEqual(Array.from({ length: 200 }, (_, i) => line(i)));
    expect(readFileSync(path, "utf8").trimEnd().split("\n").at(-1)).toBe(line(199));
    expect(readFileSync(rotatedPath(path, 4), "utf8").split("\n")[0]).toBe(line(0));
    for (const name of readdirSync(logDir)) {
      const st = statSync(join(logDir, name));
      expect(st.size).toBeLessThanOrEqual(1000);
      expect(st.mode & 0o777).toBe(0o600);
    }
    expect(statSync(logDir).mode & 0o777).toBe(0o700);
    expect(writer.rotations).toBe(4);
    expect(writer.droppedLines).toBe(0);
  });

  test("long runs keep exactly `keep` files holding the newest lines, contiguous", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 1000, keep: 5, env: {} });
    for (let i = 0; i < 1000; i++) writer.writeLine(line(i));
    writer.close();
    expect(readdirSync(logDir)).toHaveLength(5);
    const lines = readAll(5);
    const first = Number(lines[0]?.slice(5, 8));
    expect(lines).toEqual(Array.from({ length: 1000 - first }, (_, i) => line(first + i)));
    expect(lines.at(-1)).toBe(line(999));
  });

  test("keep=1: rotation starts a fresh file, nothing else is kept", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 100, keep: 1, env: {} });
    for (let i = 0; i < 20; i++) writer.writeLine(line(i));
    writer.close();
    expect(readdirSync(logDir)).toEqual(["tunnel.log"]);
    expect(readAll(1).at(-1)).toBe(line(19));
  });

  test("a line never straddles files; one longer than maxBytes gets a file of its own", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 100, keep: 5, env: {} });
    writer.writeLine("a".repeat(60));
    writer.writeLine("b".repeat(250));
    writer.writeLine("c".repeat(60));
    writer.close();
    expect(readFileSync(rotatedPath(path, 2), "utf8")).toBe(`${"a".repeat(60)}\n`);
    expect(readFileSync(rotatedPath(path, 1), "utf8")).toBe(`${"b".repeat(250)}\n`);
    expect(readFileSync(path, "utf8")).toBe(`${"c".repeat(60)}\n`);
  });

  test("appends to an existing file, counting its size, and tightens its mode and its directory's", () => {
    mkdirSync(logDir, { recursive: true, mode: 0o755 });
    chmodSync(logDir, 0o755);
    writeFileSync(path, `${"o".repeat(990)}\n`, { mode: 0o644 });
    chmodSync(path, 0o644);
    const writer = new RotatingFileWriter({ path, maxBytes: 1000, keep: 5, env: {} });
    writer.writeLine(line(0));
    writer.close();
    expect(readFileSync(rotatedPath(path, 1), "utf8")).toBe(`${"o".repeat(990)}\n`);
    expect(readFileSync(path, "utf8")).toBe(`${line(0)}\n`);
    expect(statSync(rotatedPath(path, 1)).mode & 0o777).toBe(0o600);
    expect(statSync(logDir).mode & 0o777).toBe(0o700);
  });

  test("the environment sets the limits when no option does", () => {
    const writer = new RotatingFileWriter({ path, env: { DATUM_CONNECT_LOG_MAX_BYTES: "100", DATUM_CONNECT_LOG_KEEP: "2" } });
    expect([writer.maxBytes, writer.keep]).toEqual([100, 2]);
    for (let i = 0; i < 30; i++) writer.writeLine(line(i));
    writer.close();
    expect(readdirSync(logDir).sort()).toEqual(["tunnel.log", "tunnel.log.1"]);
  });
});

describe("write errors never throw", () => {
  test("a directory where the file should be (EISDIR): lines are dropped and counted; fixed, writes resume", () => {
    mkdirSync(path, { recursive: true });
    const writer = new RotatingFileWriter({ path, maxBytes: 1000, keep: 5, env: {} });
    for (let i = 0; i < 3; i++) expect(writer.writeLine(line(i))).toBe(false);
    expect(writer.droppedLines).toBe(3);
    expect(writer.lastError).toBe("EISDIR");

    rmSync(path, { recursive: true });
    expect(writer.writeLine(line(3))).toBe(true);
    expect(writer.droppedLines).toBe(3);
    expect(readFileSync(path, "utf8")).toBe(`${line(3)}\n`);
    writer.close();
  });

  test("the directory vanishing under an open writer: the next write recreates it", () => {
    const writer = new RotatingFileWriter({ path, maxBytes: 200, keep: 3, env: {} });
    writer.writeLine(line(0));
    rmSync(join(root, "tunnels"), { recursive: true });
    // Still open: this one lands in the unlinked file. The rotation that follows must recreate everything.
    for (let i = 1; i < 20; i++) writer.writeLine(line(i));
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path, "utf8").trimEnd().split("\n").at(-1)).toBe(line(19));
    writer.close();
  });

  test.skipIf(process.platform !== "linux" || !existsSync("/dev/full"))("a full disk (ENOSPC via /dev/full) is counted, not thrown", () => {
    mkdirSync(logDir, { recursive: true });
    symlinkSync("/dev/full", path);
    const writer = new RotatingFileWriter({ path, maxBytes: 1000, keep: 5, env: {} });
    expect(() => writer.writeLine(line(0))).not.toThrow();
    expect(writer.writeLine(line(1))).toBe(false);
    expect(writer.droppedLines).toBe(2);
    expect(writer.lastError).toBe("ENOSPC");
    expect(statSync("/dev/full").mode & 0o777).toBe(0o666); // never chmod what is not ours

    rmSync(path);
    expect(writer.writeLine(line(2))).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(`${line(2)}\n`);
    writer.close();
  });

  test("after close, writes are dropped quietly", () => {
    const writer = new RotatingFileWriter({ path, env: {} });
    writer.close();
    expect(writer.writeLine("late")).toBe(false);
    expect(writer.droppedLines).toBe(1);
    expect(existsSync(path)).toBe(false);
  });
});
