import { expect, test } from "bun:test";
import { ranHealthy, restartDelay } from "../../src/supervise/restart-policy.ts";

test.each([
  [0, 0, 250],
  [0, 1, 500],
  [1, 0, 500],
  [1, 1, 1_000],
  [3, 0.5, 3_000],
  [10, 1, 30_000],
  [10, 0, 15_000],
  [1_000, 1, 30_000],
])("restartDelay(attempt %p, random %p) = %p", (attempt, random, expected) => {
  expect(restartDelay(attempt, () => random, 500, 30_000)).toBe(expected);
});

test("the delay is never zero", () => {
  expect(restartDelay(0, () => 0, 1, 1)).toBe(1);
});

test.each([
  [undefined, 100_000, false],
  [0, 59_999, false],
  [0, 60_000, true],
  [10_000, 100_000, true],
])("ranHealthy(readyAt %p, diedAt %p) = %p", (readyAt, diedAt, expected) => {
  expect(ranHealthy(readyAt, diedAt, 60_000)).toBe(expected);
});
