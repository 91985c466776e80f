// `backoffDelay` lives in src/retry/backoff.ts; its table sits here, beside the token source that uses it.
import { describe, expect, test } from "bun:test";
import { backoffDelay } from "../../../src/retry/backoff.ts";

describe("backoffDelay", () => {
  test.each([
    // attempt, random, expected
    [0, 0, 1_000],
    [0, 0.5, 1_500],
    [0, 0.999999, 2_000],
    [1, 0, 2_000],
    [1, 0.5, 3_000],
    [2, 0.5, 6_000],
    [3, 0.5, 12_000],
    [4, 0.5, 24_000],
    [5, 0, 30_000],
    [5, 0.5, 45_000],
    [5, 0.999999, 60_000],
    [6, 0.5, 45_000],
    [50, 0.5, 45_000],
    [5000, 0.999999, 60_000],
    // Out-of-contract inputs are clamped, never trusted.
    [-3, 0.5, 1_500],
    [Number.NaN, 0.5, 1_500],
    [2.7, 0.5, 6_000],
    [0, -1, 1_000],
    [0, 7, 2_000],
  ])("attempt %p, random %p → %p ms", (attempt, random, expected) => {
    expect(backoffDelay(attempt, () => random)).toBe(expected);
  });

  test("always within [1 s, 60 s] and the ceiling never shrinks", () => {
    let previousCeiling = 0;
    for (let attempt = 0; attempt < 40; attempt++) {
      const low = backoffDelay(attempt, () => 0);
      const high = backoffDelay(attempt, () => 0.999999);
      expect(low).toBeGreaterThanOrEqual(1_000);
      expect(high).toBeLessThanOrEqual(60_000);
      expect(high).toBeGreaterThanOrEqual(previousCeiling);
      previousCeiling = high;
    }
  });

  test("custom base and cap", () => {
    expect(backoffDelay(0, () => 0.5, 5_000, 60_000)).toBe(7_500);
    expect(backoffDelay(10, () => 0.999999, 5_000, 20_000)).toBe(20_000);
  });
});
