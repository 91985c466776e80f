// run.json keeps a per-target counter it does not know yet (a newer worker's): reading and
// rewriting the file must not drop it.
import { expect, test } from "bun:test";
import * as v from "valibot";
import { TargetCountersDoc } from "../../../src/state/run-state.ts";

test("a counter the schema does not name survives a read", () => {
  const stored = { accepted: 3, denied: 1, completed: 2, failed: 0, bytesToOrigin: 10, bytesFromOrigin: 20, active: 1, resets: 4 };
  expect(v.parse(TargetCountersDoc, stored)).toEqual(stored);
});

test("a missing counter is still malformed", () => {
  expect(v.safeParse(TargetCountersDoc, { accepted: 3 }).success).toBe(false);
});
