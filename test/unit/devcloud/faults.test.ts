import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { FaultInjector, FaultRuleInput, quotaMessage } from "../../../src/devcloud/faults.ts";

const GET = { method: "GET", path: "/apis/x/connectors", project: "p", resource: "connectors" };
const POST = { method: "POST", path: "/apis/x/httpproxies", project: "p", resource: "httpproxies" };

/** Which requests of a sequence were answered by a fault (`503`) or served (`ok`). */
function run(input: FaultRuleInput, requests: Array<{ req: typeof GET; at: number }>): string[] {
  const faults = new FaultInjector();
  faults.add(v.parse(FaultRuleInput, input), 0);
  return requests.map(({ req, at }) => {
    const decision = faults.decide(req, at);
    return decision.answer ? String(decision.answer.status ?? "quota") : "ok";
  });
}

describe("FaultInjector.decide", () => {
  test.each<[string, FaultRuleInput, Array<{ req: typeof GET; at: number }>, string[]]>([
    ["a burst of 2", { status: 503, count: 2 }, [0, 1, 2, 3].map((at) => ({ req: GET, at })), ["503", "503", "ok", "ok"]],
    ["the 3rd request only", { status: 503, skip: 2, count: 1 }, [0, 1, 2, 3].map((at) => ({ req: GET, at })), ["ok", "ok", "503", "ok"]],
    [
      "an outage window",
      { status: 503, forMs: 100 },
      [0, 50, 99, 100, 150].map((at) => ({ req: GET, at })),
      ["503", "503", "503", "ok", "ok"],
    ],
    [
      "method match",
      { status: 500, match: { method: "post" } },
      [{ req: GET, at: 0 }, { req: POST, at: 1 }],
      ["ok", "500"],
    ],
    [
      "path match",
      { status: 502, match: { pathIncludes: "httpproxies" } },
      [{ req: GET, at: 0 }, { req: POST, at: 1 }],
      ["ok", "502"],
    ],
    [
      "resource + project match",
      { status: 503, match: { resource: "connectors", project: "other" } },
      [{ req: GET, at: 0 }],
      ["ok"],
    ],
    ["quota on the first creates", { quota: "check-timeout", count: 2, match: { method: "POST" } }, [0, 1, 2].map((at) => ({ req: POST, at })), ["quota", "quota", "ok"]],
  ])("%s", (_name, rule, requests, expected) => {
    expect(run(rule, requests)).toEqual(expected);
  });

  test("latency adds up and a latency-only rule lets the request through", () => {
    const faults = new FaultInjector();
    faults.add(v.parse(FaultRuleInput, { latencyMs: 30 }), 0);
    faults.add(v.parse(FaultRuleInput, { latencyMs: 20, count: 1 }), 0);
    const first = faults.decide(GET, 0);
    expect(first.latencyMs).toBe(50);
    expect(first.answer).toBeUndefined();
    expect(faults.decide(GET, 1).latencyMs).toBe(30);
  });

  test("the first answering rule wins and a second one is not consumed", () => {
    const faults = new FaultInjector();
    const a = faults.add(v.parse(FaultRuleInput, { status: 503, count: 1 }), 0);
    const b = faults.add(v.parse(FaultRuleInput, { status: 500, count: 1 }), 0);
    expect(faults.decide(GET, 0).answer?.id).toBe(a.id);
    expect(faults.decide(GET, 0).answer?.id).toBe(b.id);
    expect(faults.decide(GET, 0).answer).toBeUndefined();
  });

  test("rules can be listed, removed and cleared", () => {
    const faults = new FaultInjector();
    const a = faults.add(v.parse(FaultRuleInput, { status: 503 }), 0);
    faults.add(v.parse(FaultRuleInput, { status: 500 }), 0);
    expect(faults.list(0)).toHaveLength(2);
    expect(faults.remove(a.id)).toBe(true);
    expect(faults.remove(a.id)).toBe(false);
    faults.clear();
    expect(faults.list(0)).toHaveLength(0);
  });

  test.each([
    [{}, false],
    [{ status: 503 }, true],
    [{ latencyMs: 10 }, true],
    [{ body: "{" }, false],
    [{ body: "{", status: 200 }, true],
    [{ status: 99 }, false],
    [{ status: 503, bogus: 1 }, false],
  ])("rule %j valid: %p", (input, valid) => {
    expect(v.safeParse(FaultRuleInput, input).success).toBe(valid);
  });
});

describe("quotaMessage", () => {
  test("exhaustion is the platform's text and contains 'quota'", () => {
    expect(quotaMessage("exceeded", "httpproxies", "networking.datumapis.com", "tunnel-jw8vf")).toBe(
      `httpproxies.networking.datumapis.com "tunnel-jw8vf" is forbidden: You've reached your quota for this resource type (Insufficient quota resources. Contact your account administrator to review quota limits and usage.).`,
    );
  });
  test("the check timeout carries the substring the agent retries on", () => {
    const text = quotaMessage("check-timeout", "connectors", "networking.datumapis.com", "datum-connect-abcde");
    expect(text).toStartWith(`connectors.networking.datumapis.com "datum-connect-abcde" is forbidden: `);
    expect(text).toContain("took too long to be checked against your quota");
  });
  test.each([
    ["check-error", "Something went wrong while checking your quota for this request."],
    ["cleanup-pending", "We're still cleaning up from a previous attempt to create this resource ("],
    ["misconfigured", "Quota enforcement for this resource type is misconfigured"],
  ] as const)("%s is milo's wording", (kind, words) => {
    const text = quotaMessage(kind, "httpproxies", "networking.datumapis.com", "tunnel-jw8vf");
    expect(text).toStartWith(`httpproxies.networking.datumapis.com "tunnel-jw8vf" is forbidden: ${words}`);
  });
});
