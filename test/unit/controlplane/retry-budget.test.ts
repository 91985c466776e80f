import { describe, expect, test } from "bun:test";
import {
  type AttemptFailure,
  decideRetry,
  INITIAL_RETRY_STATE,
  QUOTA_CHECK_DELAYS_MS,
  type RetryState,
} from "../../../src/retry/budget.ts";

/** Feed a sequence of failures through decideRetry; return the actions taken. */
function run(failures: AttemptFailure[], budget = { attempts: 3, spacingMs: 750 }): string[] {
  let state: RetryState = INITIAL_RETRY_STATE;
  return failures.map((f) => {
    const d = decideRetry(state, f, budget);
    state = d.state;
    return d.action === "wait" ? `wait ${d.delayMs}${d.firstQuotaWait ? " (notice)" : ""}` : d.action;
  });
}

describe("decideRetry", () => {
  test.each<[string, AttemptFailure[], string[]]>([
    ["one refresh, then give up", ["unauthorized", "unauthorized"], ["refresh", "give-up"]],
    [
      "quota-check schedule 1,2,4,8 s then final attempt",
      ["quota-check", "quota-check", "quota-check", "quota-check", "quota-check"],
      ["wait 1000 (notice)", "wait 2000", "wait 4000", "wait 8000", "give-up"],
    ],
    ["transient budget of 3 attempts", ["transient", "transient", "transient"], ["wait 750", "wait 750", "give-up"]],
    [
      "allowances are independent",
      ["transient", "unauthorized", "quota-check", "transient", "unauthorized"],
      ["wait 750", "refresh", "wait 1000 (notice)", "wait 750", "give-up"],
    ],
  ])("%s", (_title, failures, expected) => {
    expect(run(failures)).toEqual(expected);
  });

  test("the default budget allows 10 attempts 750 ms apart (≈ 7.5 s)", () => {
    let state = INITIAL_RETRY_STATE;
    let waited = 0;
    let attempts = 1;
    for (;;) {
      const d = decideRetry(state, "transient");
      state = d.state;
      if (d.action !== "wait") break;
      waited += d.delayMs;
      attempts += 1;
    }
    expect(attempts).toBe(10);
    expect(waited).toBe(9 * 750);
  });

  test("the quota-check window sums to 15 s", () => {
    expect(QUOTA_CHECK_DELAYS_MS.reduce((a, b) => a + b, 0)).toBe(15_000);
  });
});
