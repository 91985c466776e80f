import { describe, expect, test } from "bun:test";
import {
  type DesiredCondition,
  conditionsOf,
  findCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
} from "../../../src/devcloud/conditions.ts";
import type { JsonObject } from "../../../src/devcloud/json.ts";

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-01T00:01:00Z";

const pending: JsonObject = {
  lastTransitionTime: "1970-01-01T00:00:00Z",
  message: "Waiting for controller",
  reason: "Pending",
  status: "Unknown",
  type: "Accepted",
};

function desired(status: DesiredCondition["status"], observedGeneration = 1, reason = "Accepted"): DesiredCondition {
  return { type: "Accepted", status, reason, message: `m-${status}`, observedGeneration };
}

describe("setCondition", () => {
  test.each<[string, JsonObject[], DesiredCondition, string]>([
    ["new condition takes now", [], desired("True"), T1],
    ["Unknown → True flips the time", [pending], desired("True"), T1],
    ["True → True keeps the time", [{ ...pending, status: "True", lastTransitionTime: T0 }], desired("True", 2), T0],
    ["True → False flips the time", [{ ...pending, status: "True", lastTransitionTime: T0 }], desired("False"), T1],
    ["missing time is filled", [{ type: "Accepted", status: "True" }], desired("True"), T1],
  ])("%s", (_name, before, want, expectedTime) => {
    const after = setCondition(before, want, T1);
    expect(after).toHaveLength(1);
    expect(after[0]).toEqual({
      type: "Accepted",
      status: want.status,
      observedGeneration: want.observedGeneration,
      lastTransitionTime: expectedTime,
      reason: want.reason,
      message: want.message,
    });
  });

  test("other conditions stay as they were, in order", () => {
    const ready: JsonObject = { type: "Ready", status: "False", reason: "ConnectorNotReady" };
    const after = setCondition([ready, pending], desired("True"), T1);
    expect(after[0]).toBe(ready);
    expect(after.map((c) => c.type)).toEqual(["Ready", "Accepted"]);
  });

  test("does not modify its input", () => {
    const before = [{ ...pending }];
    setCondition(before, desired("True"), T1);
    expect(before[0]).toEqual(pending);
  });

  test("fields it does not know are kept", () => {
    const after = setCondition([{ ...pending, extra: "x" }], desired("True"), T1);
    expect(after[0]?.extra).toBe("x");
  });
});

describe("readers", () => {
  const status = { conditions: [{ type: "Ready", status: "True" }, { type: "Accepted", status: "False" }, "junk"] };
  test("conditionsOf skips non-objects", () => {
    expect(conditionsOf(status)).toHaveLength(2);
    expect(conditionsOf(undefined)).toEqual([]);
  });
  test("isConditionTrue / findCondition", () => {
    expect(isConditionTrue(status, "Ready")).toBe(true);
    expect(isConditionTrue(status, "Accepted")).toBe(false);
    expect(isConditionTrue(status, "Missing")).toBe(false);
    expect(findCondition(status, "Accepted")?.status).toBe("False");
  });
  test("removeCondition", () => {
    expect(removeCondition(conditionsOf(status), "Ready").map((c) => c.type)).toEqual(["Accepted"]);
  });
});
