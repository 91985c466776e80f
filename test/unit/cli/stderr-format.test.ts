import { describe, expect, test } from "bun:test";
import { LineSplitter, plainLineLevel, structuredLine } from "../../../src/stderr-format.ts";

describe("plainLineLevel", () => {
  test.each([
    ["warning: the health endpoint is public", { level: "warn", msg: "the health endpoint is public" }],
    ["error: SIGINT again: forced exit", { level: "error", msg: "SIGINT again: forced exit" }],
    ["hint: run 'datumctl login'", { level: "info", msg: "hint: run 'datumctl login'" }],
    ["  ✓ tunnel accepted (0.8s)", { level: "info", msg: "✓ tunnel accepted (0.8s)" }],
    ["\u001b[2K\u001b[1A\u001b[32mready\u001b[39m\r", { level: "info", msg: "ready" }],
    ["", { level: "info", msg: "" }],
  ] as [string, { level: string; msg: string }][])("%p", (line, expected) => {
    expect(plainLineLevel(line)).toEqual(expected);
  });
});

describe("structuredLine", () => {
  test("json: one object per line, in the log file's shape", () => {
    const line = structuredLine("json", { level: "warn", msg: "token refresh failed", time: "2026-01-01T00:00:00.000Z", fields: { tag: "auth" } });
    expect(JSON.parse(line)).toEqual({ time: "2026-01-01T00:00:00.000Z", level: "warn", msg: "token refresh failed", fields: { tag: "auth" } });
    expect(line).not.toContain("\n");
  });

  test("yaml: comments, so stderr still parses as the envelope alone", () => {
    const text = `${structuredLine("yaml", { level: "warn", msg: "retrying\nsecond line", fields: { tag: "auth" } })}\nerror:\n  code: usage\n`;
    expect(text.startsWith("# warn [auth]: retrying\n#   second line\n")).toBe(true);
    expect(Bun.YAML.parse(text)).toEqual({ error: { code: "usage" } });
  });

  test.each(["json", "yaml"] as const)("%s: an empty line says nothing", (format) => {
    expect(structuredLine(format, { level: "info", msg: "" })).toBe("");
  });
});

describe("LineSplitter", () => {
  test.each([
    [["a\nb\n"], ["a", "b"], []],
    [["par", "tial\nnext"], ["partial"], ["next"]],
    [["\n\n"], ["", ""], []],
  ] as [string[], string[], string[]][])("%j", (writes, lines, rest) => {
    const splitter = new LineSplitter();
    const out = writes.flatMap((w) => splitter.push(w));
    expect(out).toEqual(lines);
    expect(splitter.flush()).toEqual(rest);
  });
});
