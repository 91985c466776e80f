import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola, type ConsolaReporter, type LogObject } from "consola";
import {
  attachFileLogging,
  createJsonLinesReporter,
  isSensitiveFieldName,
  levelName,
  redactFields,
  redactText,
  toRecord,
} from "../../../src/logs/json-lines.ts";
import { RotatingFileWriter } from "../../../src/logs/rotating-file.ts";

// A syntactically JWT-shaped string (header {"alg":"HS256","typ":"JWT"}); not a real credential.
const JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

describe("isSensitiveFieldName", () => {
  test.each([
    ["token", true],
    ["Token", true],
    ["accessToken", true],
    ["access_token", true],
    ["refresh-token", true],
    ["tokenExpiry", true],
    ["authorization", true],
    ["Authorization", true],
    ["x-authorization", true],
    ["secret", true],
    ["clientSecret", true],
    ["password", true],
    ["PASSWORD", true],
    ["db_passwd", true],
    ["key", true],
    ["KEY", true],
    ["keys", true],
    ["apiKey", true],
    ["api_key", true],
    ["listen-key", true],
    ["private.key", true],
    ["APIKey", true],
    ["keyboard", false],
    ["monkey", false],
    ["keystroke", false],
    ["hockey_score", false],
    ["endpoint", false],
    ["status", false],
    ["tag", false],
    ["url", false],
  ])("%p → %p", (name, sensitive) => {
    expect(isSensitiveFieldName(name)).toBe(sensitive);
  });
});

describe("redactText", () => {
  test.each([
    ["nothing to hide", "nothing to hide"],
    [`token ${JWT} expired`, "token [redacted] expired"],
    [`Authorization: Bearer ${JWT}`, "Authorization: Bearer [redacted]"],
    ["authorization: bearer opaque-credential-123", "authorization: Bearer [redacted]"],
    [`"Bearer abc.def",`, `"Bearer [redacted]",`],
    [`two: ${JWT} and ${JWT}`, "two: [redacted] and [redacted]"],
    ["eyJonly.two", "eyJonly.two"],
    ["bearer", "bearer"],
    ["keyboard eyJ", "keyboard eyJ"],
  ])("%p", (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });
});

describe("redactFields", () => {
  test("drops sensitive keys at every depth and scrubs the strings it keeps", () => {
    const out = redactFields({
      token: JWT,
      apiKey: "k",
      status: 200,
      header: `Bearer ${JWT}`,
      nested: { password: "p", keep: "v", deeper: [{ secret: 1, ok: JWT }] },
      when: new Date("2026-11-27T14:03:12.345Z"),
      big: 10n,
      fn: () => 1,
      nope: undefined,
    });
    expect(out).toEqual({
      status: 200,
      header: "Bearer [redacted]",
      nested: { keep: "v", deeper: [{ ok: "[redacted]" }] },
      when: "2026-11-27T14:03:12.345Z",
      big: "10",
    });
    expect(JSON.stringify(out)).not.toContain("eyJ");
  });

  test("cycles do not throw", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    expect(redactFields({ a })).toEqual({ a: { name: "a", self: "[circular]" } });
  });
});

describe("toRecord", () => {
  const date = new Date("2026-11-27T14:03:12.345Z");
  const obj = (level: number, args: unknown[], tag = ""): Pick<LogObject, "level" | "args" | "date"> & { tag: string } => ({ level: level as LogObject["level"], args, date, tag });

  test.each([
    [0, "error"],
    [1, "warn"],
    [2, "info"],
    [3, "info"],
    [4, "debug"],
    [5, "debug"],
  ] as const)("level %p → %p", (level, name) => {
    expect(levelName(level)).toBe(name);
  });

  test.each([
    ["message only", obj(3, ["ready"]), { msg: "ready" }],
    ["scalars join the message", obj(3, ["listening on", 8080, true]), { msg: "listening on 8080 true" }],
    ["objects become fields", obj(3, ["served", { status: 200 }, { path: "/" }]), { msg: "served", fields: { status: 200, path: "/" } }],
    ["tag goes to fields", obj(4, ["poll"], "heartbeat"), { level: "debug", msg: "poll", fields: { tag: "heartbeat" } }],
    ["sensitive fields dropped", obj(3, ["refreshed", { token: JWT, expiresIn: 300 }]), { msg: "refreshed", fields: { expiresIn: 300 } }],
    ["message scrubbed", obj(1, [`got Bearer ${JWT}`]), { level: "warn", msg: "got Bearer [redacted]" }],
    ["arrays join the message as JSON", obj(3, ["ids", ["a", "b"]]), { msg: 'ids ["a","b"]' }],
  ])("%s", (_name, logObj, expected) => {
    const record = toRecord(logObj, "web");
    expect(record).toEqual({ time: "2026-11-27T14:03:12.345Z", level: "info", tunnel: "web", ...expected } as never);
  });

  test("an error is the message, or fields.error after one; its stack is kept", () => {
    const err = new Error(`denied ${JWT}`);
    const first = toRecord(obj(0, [err]), "web");
    expect(first.msg).toBe("denied [redacted]");
    expect(String(first.fields?.stack)).toContain("denied [redacted]");
    const second = toRecord(obj(0, ["setup failed", err]), "web");
    expect(second.msg).toBe("setup failed");
    expect(second.fields?.error).toBe("denied [redacted]");
  });
});

describe("reporter and attachFileLogging", () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "json-lines-"));
    dir = join(root, "tunnels", "web");
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function fileLines(): Record<string, unknown>[] {
    return readFileSync(join(dir, "logs", "tunnel.log"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  test("replaces the terminal reporters: lines go to logs/tunnel.log only, in our format", () => {
    const seen: LogObject[] = [];
    const terminal: ConsolaReporter = { log: (o) => seen.push(o) };
    const logger = createConsola({ level: 4, reporters: [terminal], throttle: 0 });
    const logging = attachFileLogging(logger, { dir, tunnel: "web", maxBytes: 10_000, keep: 3 });
    expect(logging.writer.path).toBe(join(dir, "logs", "tunnel.log"));
    logger.info("tunnel ready", { url: "https://web.example" });
    logger.withTag("auth").debug("token refreshed", { token: JWT, expiresIn: 300 });
    logger.warn(`Bearer ${JWT} rejected`);
    logger.error(new Error("boom"));
    expect(seen).toHaveLength(0);

    const lines = fileLines();
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["info", "tunnel ready"],
      ["debug", "token refreshed"],
      ["warn", "Bearer [redacted] rejected"],
      ["error", "boom"],
    ]);
    expect(lines[0]).toMatchObject({ tunnel: "web", fields: { url: "https://web.example" } });
    expect(Object.keys(lines[0] ?? {})).toEqual(["time", "level", "msg", "tunnel", "fields"]);
    expect(lines[1]?.fields).toEqual({ expiresIn: 300, tag: "auth" });
    expect(Number.isNaN(Date.parse(String(lines[0]?.time)))).toBe(false);
    expect(readFileSync(join(dir, "logs", "tunnel.log"), "utf8")).not.toContain("eyJ");

    logging.detach();
    logging.detach();
    logger.info("back on the terminal");
    expect(seen).toHaveLength(1);
    expect(fileLines()).toHaveLength(4);
  });

  test("a failing disk never throws out of the logger; the gap is reported once writes resume", () => {
    mkdirSync(join(dir, "logs", "tunnel.log"), { recursive: true }); // EISDIR on every write
    const logger = createConsola({ level: 3, reporters: [], throttle: 0 });
    const logging = attachFileLogging(logger, { dir, tunnel: "web" });
    expect(() => {
      logger.info("one");
      logger.info("two");
    }).not.toThrow();
    expect(logging.writer.droppedLines).toBe(2);

    rmSync(join(dir, "logs", "tunnel.log"), { recursive: true });
    logger.info("three");
    const lines = fileLines();
    expect(lines.map((l) => l.msg)).toEqual(["three", "2 log lines were dropped: EISDIR"]);
    expect(lines[1]).toMatchObject({ level: "warn", fields: { droppedLines: 2 } });
    logger.info("four");
    expect(fileLines()).toHaveLength(3);
    logging.detach();
  });

  test("createJsonLinesReporter writes through any writer", () => {
    const path = join(root, "x.log");
    const writer = new RotatingFileWriter({ path, env: {} });
    const reporter = createJsonLinesReporter({ writer, tunnel: "t" });
    const logger = createConsola({ level: 3, reporters: [reporter] });
    logger.log("hello");
    logger.success("done");
    writer.close();
    const lines = readFileSync(path, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([["info", "hello"], ["info", "done"]]);
  });
});
