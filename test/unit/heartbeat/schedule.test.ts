// The heartbeat's timing (docs/wire-facts.md#heartbeat): pure functions of (duration, attempt, random).
import { describe, expect, test } from "bun:test";
import {
  DEFAULT_LEASE_DURATION_S,
  heartbeatBackoffMs,
  leaseLapsed,
  microTime,
  renewalIntervalMs,
} from "../../../src/heartbeat/schedule.ts";

describe("renewalIntervalMs", () => {
  test.each([
    // lease seconds, random, expected ms
    [30, 0, 15_000],
    [30, 0.249, 15_000],
    [30, 0.25, 16_000],
    [30, 0.5, 17_000],
    [30, 0.999, 18_000],
    [31, 0.999, 18_000],
    [1, 0, 1_000],
    [1, 0.999, 2_000],
    [2, 0.999, 2_000],
    [3, 0, 1_000],
    [10, 0, 5_000],
    [10, 0.999, 6_000],
    [60, 0, 30_000],
    [60, 0.999, 36_000],
    [30.9, 0, 15_000],
    // Nonsense durations fall back to the 30 s default.
    [0, 0, 15_000],
    [0, 0.999, 18_000],
    [Number.NaN, 0, 15_000],
    [-5, 0, 15_000],
    [Number.POSITIVE_INFINITY, 0, 15_000],
    // Out-of-range random values are clamped.
    [30, -1, 15_000],
    [30, 1, 18_000],
    [30, 7, 18_000],
  ])("%p s lease, random %p → %p ms", (duration, random, expected) => {
    expect(renewalIntervalMs(duration, () => random)).toBe(expected);
  });

  test("a 30 s lease always renews every 15–18 whole seconds", () => {
    for (let i = 0; i <= 1_000; i++) {
      const ms = renewalIntervalMs(30, () => i / 1_000);
      expect(ms).toBeGreaterThanOrEqual(15_000);
      expect(ms).toBeLessThanOrEqual(18_000);
      expect(ms % 1_000).toBe(0);
    }
  });

  test("the default duration is 30 s", () => {
    expect(DEFAULT_LEASE_DURATION_S).toBe(30);
  });
});

describe("heartbeatBackoffMs", () => {
  test.each([
    [0, 2_000],
    [1, 4_000],
    [2, 8_000],
    [3, 16_000],
    [4, 30_000],
    [5, 30_000],
    [100, 30_000],
    [1.7, 4_000],
    [-1, 2_000],
    [Number.NaN, 2_000],
  ])("attempt %p → %p ms", (attempt, expected) => {
    expect(heartbeatBackoffMs(attempt)).toBe(expected);
  });

  test("the sequence of failures: 2, 4, 8, 16, 30, 30 s", () => {
    expect([0, 1, 2, 3, 4, 5].map(heartbeatBackoffMs)).toEqual([2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });
});

describe("microTime", () => {
  test.each([
    [Date.UTC(2026, 6, 1, 12, 0, 0, 123), "2026-07-01T12:00:00.123000Z"],
    [Date.UTC(2026, 6, 1, 12, 0, 0, 0), "2026-07-01T12:00:00.000000Z"],
    [Date.UTC(1999, 11, 31, 23, 59, 59, 999), "1999-12-31T23:59:59.999000Z"],
    [0, "1970-01-01T00:00:00.000000Z"],
    // Sub-millisecond input is truncated by Date.
    [Date.UTC(2026, 0, 2, 3, 4, 5, 6) + 0.9, "2026-01-02T03:04:05.006000Z"],
  ])("%p → %p", (ms, expected) => {
    expect(microTime(ms)).toBe(expected);
  });

  test("always RFC 3339 UTC with exactly six fractional digits", () => {
    for (const ms of [0, 1, 999, Date.now(), Date.UTC(2100, 0, 1)]) {
      expect(microTime(ms)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    }
  });
});

describe("leaseLapsed", () => {
  test.each([
    // last renewed, duration s, now, lapsed
    [undefined, 30, 1_000_000, false],
    [0, 30, 0, false],
    [0, 30, 29_999, false],
    [0, 30, 30_000, false],
    [0, 30, 30_001, true],
    [1_000, 1, 2_000, false],
    [1_000, 1, 2_001, true],
    [10_000, 30, 5_000, false],
  ])("renewed %p, %p s lease, now %p → %p", (last, duration, now, expected) => {
    expect(leaseLapsed(last, duration, now)).toBe(expected);
  });
});
