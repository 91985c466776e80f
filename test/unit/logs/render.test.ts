import { describe, expect, test } from "bun:test";
import { escapeControl, formatLevel, formatTime, formatValue, parseLogLine, renderLogLine } from "../../../src/logs/render.ts";

const rec = (o: Record<string, unknown>) => JSON.stringify({ time: "2026-11-27T14:03:12.345Z", level: "info", msg: "hello", tunnel: "web", ...o });

describe("renderLogLine", () => {
  test.each([
    ["plain info", rec({}), "2026-11-27 14:03:12.345Z  INFO   hello"],
    ["warn", rec({ level: "warn", msg: "slow" }), "2026-11-27 14:03:12.345Z  WARN   slow"],
    ["error", rec({ level: "error", msg: "boom" }), "2026-11-27 14:03:12.345Z  ERROR  boom"],
    ["debug", rec({ level: "debug", msg: "detail" }), "2026-11-27 14:03:12.345Z  DEBUG  detail"],
    ["fields", rec({ fields: { status: 200, path: "/healthz" } }), "2026-11-27 14:03:12.345Z  INFO   hello  status=200 path=/healthz"],
    ["quoted values", rec({ fields: { reason: "not ready", empty: "", eq: "a=b" } }), '2026-11-27 14:03:12.345Z  INFO   hello  reason="not ready" empty="" eq="a=b"'],
    ["nested, null, bool", rec({ fields: { a: { b: 1 }, n: null, ok: true, list: [1, "x"] } }), '2026-11-27 14:03:12.345Z  INFO   hello  a={"b":1} n=null ok=true list=[1,"x"]'],
    ["empty fields", rec({ fields: {} }), "2026-11-27 14:03:12.345Z  INFO   hello"],
    ["offset time shown in UTC", rec({ time: "2026-11-27T15:03:12.345+01:00" }), "2026-11-27 14:03:12.345Z  INFO   hello"],
    ["unparseable time kept", rec({ time: "yesterday" }), "yesterday  INFO   hello"],
    ["unknown level kept", rec({ level: "trace" }), "2026-11-27 14:03:12.345Z  TRACE  hello"],
    ["no tunnel field is fine", JSON.stringify({ time: "2026-11-27T14:03:12.345Z", level: "info", msg: "x" }), "2026-11-27 14:03:12.345Z  INFO   x"],
    ["multi-line message kept on one line", rec({ msg: "a\nb" }), "2026-11-27 14:03:12.345Z  INFO   a\\nb"],
    ["escape sequences neutralised", rec({ msg: "\u001b[2Jgone" }), "2026-11-27 14:03:12.345Z  INFO   \\u001b[2Jgone"],
    ["garbage shown raw", "panic: something broke", "panic: something broke"],
    ["truncated JSON shown raw", '{"time":"2026-11-27T14:0', '{"time":"2026-11-27T14:0'],
    ["JSON of another shape shown raw", '{"hello":"world"}', '{"hello":"world"}'],
    ["a JSON array shown raw", "[1,2]", "[1,2]"],
    ["wrong field types shown raw", '{"time":1,"level":"info","msg":"x"}', '{"time":1,"level":"info","msg":"x"}'],
    ["raw control characters escaped", "\u001b]0;title\u0007", "\\u001b]0;title\\u0007"],
    ["trailing newline dropped", "raw line\n", "raw line"],
    ["empty line", "", ""],
  ])("%s", (_name, line, expected) => {
    expect(renderLogLine(line)).toBe(expected);
  });
});

describe("pieces", () => {
  test.each([
    ["info", "INFO "],
    ["warn", "WARN "],
    ["error", "ERROR"],
    ["debug", "DEBUG"],
  ])("formatLevel(%p)", (level, expected) => {
    expect(formatLevel(level)).toBe(expected);
  });

  test.each([
    ["2026-01-02T03:04:05.006Z", "2026-01-02 03:04:05.006Z"],
    ["2026-01-02T03:04:05Z", "2026-01-02 03:04:05.000Z"],
    ["not a time", "not a time"],
  ])("formatTime(%p)", (time, expected) => {
    expect(formatTime(time)).toBe(expected);
  });

  test.each([
    ["bare", "bare"],
    ["two words", '"two words"'],
    ['say "hi"', '"say \\"hi\\""'],
    [42, "42"],
    [false, "false"],
    [null, "null"],
    [{ a: [1] }, '{"a":[1]}'],
  ])("formatValue(%p)", (value, expected) => {
    expect(formatValue(value)).toBe(expected);
  });

  test("escapeControl keeps tabs and printable text, escapes the rest", () => {
    expect(escapeControl("a\tb\rc\u0000d\u009be")).toBe("a\tb\\rc\\u0000d\\u009be");
  });

  test("parseLogLine accepts our records only", () => {
    expect(parseLogLine(rec({ fields: { a: 1 } }))).toMatchObject({ level: "info", msg: "hello", tunnel: "web", fields: { a: 1 } });
    expect(parseLogLine("nope")).toBeUndefined();
    expect(parseLogLine('{"time":"t","level":"info"}')).toBeUndefined();
  });
});
