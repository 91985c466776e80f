/**
 * Which `run.json` a `tunnel start`/`install` wait counts as the new run's: never the run before
 * it, however close in time (a tunnel stopped and started again within a second).
 */
import { expect, test } from "bun:test";
import { isNewRun } from "../../../src/service/wait.ts";

const since = Date.parse("2026-12-07T12:00:10.000Z");
const at = (ms: number) => new Date(since + ms).toISOString();

test.each([
  ["the run before, started 400 ms before the start", { pid: 10, startedAt: at(-400) }, { pid: 10, startedAt: at(-400) }, false],
  ["a new process, started after the start", { pid: 11, startedAt: at(50) }, { pid: 10, startedAt: at(-400) }, true],
  ["a new process, its clock a little behind", { pid: 11, startedAt: at(-300) }, { pid: 10, startedAt: at(-400) }, true],
  ["no run before, started after the start", { pid: 11, startedAt: at(20) }, undefined, true],
  ["a record from long before", { pid: 9, startedAt: at(-60_000) }, undefined, false],
] as const)("%s", (_what, state, previous, expected) => {
  expect(isNewRun(state, { since, previous })).toBe(expected);
});
