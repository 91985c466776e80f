import { describe, expect, test } from "bun:test";
import {
  generateHostname,
  generateObjectName,
  objectNameProblem,
  randomSuffix,
} from "../../../src/devcloud/names.ts";
import { formatMicroTime, formatTime, parseTime } from "../../../src/devcloud/time.ts";

/** A deterministic stand-in for Math.random. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

describe("names", () => {
  test("generateName suffixes are 5 characters of [a-z0-9]", () => {
    for (let i = 0; i < 200; i++) expect(randomSuffix(Math.random)).toMatch(/^[a-z0-9]{5}$/);
  });

  test("generateObjectName appends the suffix to the prefix", () => {
    expect(generateObjectName("tunnel-", sequence(0))).toBe("tunnel-bbbbb");
    expect(generateObjectName("datum-connect-", sequence(0.999))).toMatch(/^datum-connect-[a-z0-9]{5}$/);
  });

  test("a long prefix is cut so the name fits 63 characters", () => {
    const name = generateObjectName("p".repeat(80), Math.random);
    expect(name).toHaveLength(63);
  });

  test.each([
    ["tunnel-abcde", undefined],
    ["datum-connect.x", undefined],
    ["Tunnel", "lowercase"],
    ["-x", "lowercase"],
    ["x_y", "lowercase"],
    ["a".repeat(254), "253"],
  ])("objectNameProblem(%p)", (name, expected) => {
    const problem = objectNameProblem(name);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toContain(expected);
  });

  test("hostnames are <adjective>-<noun>-<5> under the zone and end with .localhost", () => {
    for (let i = 0; i < 100; i++) {
      const host = generateHostname("datumproxy.localhost", Math.random);
      expect(host).toMatch(/^[a-z]+-[a-z]+-[a-z0-9]{5}\.datumproxy\.localhost$/);
    }
  });
});

describe("time", () => {
  const ms = Date.UTC(2026, 6, 1, 12, 0, 0, 123);
  test("Time has whole seconds, MicroTime six fractional digits", () => {
    expect(formatTime(ms)).toBe("2026-07-01T12:00:00Z");
    expect(formatMicroTime(ms)).toBe("2026-07-01T12:00:00.123000Z");
  });

  test.each<[string, number | undefined]>([
    ["2026-07-01T12:00:00.123456Z", ms],
    ["2026-07-01T12:00:00Z", ms - 123],
    ["2026-07-01T12:00:00.1Z", ms - 23],
    ["2026-07-01T14:00:00.123+02:00", ms],
    ["2026-07-01t12:00:00z", ms - 123],
    ["2026-07-01 12:00:00Z", undefined],
    ["yesterday", undefined],
    ["", undefined],
  ])("parseTime(%p)", (text, expected) => {
    expect(parseTime(text)).toBe(expected as number);
  });
});
