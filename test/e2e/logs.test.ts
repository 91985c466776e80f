/**
 * `tunnel logs` as a user runs it: the real CLI as a child process against a prepared state
 * directory (`DATUM_CONNECT_DIR` in the child's environment) holding a rotated log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatRecord, type LogRecord } from "../../src/logs/json-lines.ts";
import { RotatingFileWriter } from "../../src/logs/rotating-file.ts";
import { BUN, CLI, REPO_ROOT, runCli } from "../helpers/cli.ts";

let root: string;
let writer: RotatingFileWriter;
let written: string[] = [];

const record = (i: number, extra: Partial<LogRecord> = {}): LogRecord => ({
  time: new Date(Date.UTC(2026, 10, 27, 14, 3, 12, i)).toISOString(),
  level: i % 10 === 0 ? "warn" : "info",
  msg: `request ${i} served`,
  tunnel: "web",
  fields: { status: 200, path: `/item/${i}` },
  ...extra,
});

function write(rec: LogRecord): string {
  const line = formatRecord(rec);
  expect(writer.writeLine(line)).toBe(true);
  written.push(line);
  return line;
}

const env = () => ({ DATUM_CONNECT_DIR: root });

/** Wait until `pid` catches `signal` (Linux: /proc SigCgt); elsewhere, give it a moment. */
async function handlerInstalled(pid: number, signal: "SIGINT" | "SIGTERM"): Promise<void> {
  const bit = 1n << BigInt((signal === "SIGINT" ? 2 : 15) - 1);
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, "utf8");
    } catch {
      await Bun.sleep(500);
      return;
    }
    const mask = /SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1];
    if (mask !== undefined && (BigInt(`0x${mask}`) & bit) !== 0n) return;
    await Bun.sleep(20);
  }
}

beforeAll(() => {
  root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "logs-e2e-"));
  mkdirSync(join(root, "tunnels", "empty"), { recursive: true });
  writer = new RotatingFileWriter({ path: join(root, "tunnels", "web", "logs", "tunnel.log"), maxBytes: 1000, keep: 5, env: {} });
  for (let i = 0; i < 20; i++) write(record(i)); // several rotations
  expect(writer.rotations).toBeGreaterThan(0);
});

afterAll(() => {
  writer.close();
  rmSync(root, { recursive: true, force: true });
});

describe("tunnel logs", () => {
  test("--tail 3 renders the last three lines for humans", async () => {
    const r = await runCli(["tunnel", "logs", "--name", "web", "--tail", "3"], { env: env() });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n")).toEqual([
      "2026-11-27 14:03:12.017Z  INFO   request 17 served  status=200 path=/item/17",
      "2026-11-27 14:03:12.018Z  INFO   request 18 served  status=200 path=/item/18",
      "2026-11-27 14:03:12.019Z  INFO   request 19 served  status=200 path=/item/19",
    ]);
  });

  test("-o json prints the raw lines; the default tail reaches across rotated files", async () => {
    const r = await runCli(["tunnel", "logs", "--name", "web", "-o", "json", "--tail", "12"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n")).toEqual(written.slice(-12));
    const all = await runCli(["tunnel", "logs", "--name", "web", "-o", "json"], { env: env() });
    expect(all.stdout.trimEnd().split("\n")).toEqual(written); // 20 < 50 and nothing rotated out yet
  });

  test("a large tail through a pipe arrives whole before the process exits", async () => {
    const big = new RotatingFileWriter({ path: join(root, "tunnels", "big", "logs", "tunnel.log"), env: {} });
    for (let i = 0; i < 5000; i++) big.writeLine(formatRecord(record(i)));
    big.close();
    const r = await runCli(["tunnel", "logs", "--name", "big", "--tail", "5000"], { env: env() });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(5000);
    expect(lines.at(-1)).toContain("request 4999 served");
  });

  test("a tunnel without a log yet says so, exit 0", async () => {
    const r = await runCli(["tunnel", "logs", "--name", "empty"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("No log lines yet for tunnel empty.");
  });

  test("an unknown name is rejected: exit 64 with a hint", async () => {
    const r = await runCli(["tunnel", "logs", "--name", "nope"], { env: env() });
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('error: no tunnel named "nope"');
    expect(r.stderr).toContain("tunnel ps");
  });

  test.each([["Bad_Name"], ["-x"], ["a".repeat(64)]])("an invalid name %p is a usage error stating the rule: exit 2", async (name) => {
    const r = await runCli(["tunnel", "logs", "--name", name], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("^[a-z0-9][a-z0-9-]{0,62}$");
  });

  test("a bad --tail is a usage error: exit 2", async () => {
    const r = await runCli(["tunnel", "logs", "--name", "web", "--tail", "lots"], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --tail "lots"');
  });

  test("--follow prints lines appended after start, across a rotation; SIGINT exits 0", async () => {
    const child = Bun.spawn([BUN, CLI, "tunnel", "logs", "--name", "web", "--tail", "1", "-f"], {
      env: { ...process.env, NO_COLOR: "1", ...env() },
      cwd: REPO_ROOT,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    let out = "";
    const waitFor = async (text: string) => {
      const until = Date.now() + 10_000;
      while (!out.includes(text)) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${JSON.stringify(text)}; got:\n${out}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`stdout closed before ${JSON.stringify(text)}; got:\n${out}`);
        out += decoder.decode(value, { stream: true });
      }
    };
    try {
      await waitFor("request 19 served");
      const rotations = writer.rotations;
      for (let i = 20; i < 40; i++) write(record(i, { msg: `late request ${i}` }));
      expect(writer.rotations).toBeGreaterThan(rotations);
      await waitFor("late request 39");
      child.kill("SIGINT");
      expect(await child.exited).toBe(0);
      out += decoder.decode();
      const lines = out.trimEnd().split("\n");
      expect(lines[0]).toContain("request 19 served");
      expect(lines.slice(1).map((l) => /late request (\d+)/.exec(l)?.[1])).toEqual(Array.from({ length: 20 }, (_, i) => String(20 + i)));
      expect(await new Response(child.stderr).text()).toBe("");
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("--follow on a tunnel with no log yet waits; SIGTERM exits 0", async () => {
    const child = Bun.spawn([BUN, CLI, "tunnel", "logs", "--name", "empty", "--follow", "--tail", "0"], {
      env: { ...process.env, NO_COLOR: "1", ...env() },
      cwd: REPO_ROOT,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    await handlerInstalled(child.pid, "SIGTERM");
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stdout).text()).toBe("");
  });
});
