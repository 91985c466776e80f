import { describe, expect, test } from "bun:test";
import type { Json } from "../../../src/devcloud/json.ts";
import { applyMergePatch } from "../../../src/devcloud/merge-patch.ts";

describe("applyMergePatch", () => {
  // RFC 7386 Appendix A, row by row, plus the cases the agent relies on.
  test.each<[string, Json, Json, Json]>([
    ["replace a member", { a: "b" }, { a: "c" }, { a: "c" }],
    ["add a member", { a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    ["null deletes", { a: "b" }, { a: null }, {}],
    ["null deletes only its member", { a: "b", b: "c" }, { a: null }, { b: "c" }],
    ["array replaced by a scalar", { a: ["b"] }, { a: "c" }, { a: "c" }],
    ["scalar replaced by an array", { a: "c" }, { a: ["b"] }, { a: ["b"] }],
    ["nested merge and delete", { a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    ["arrays replace, never merge", { a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    ["array target replaced", ["a", "b"], ["c", "d"], ["c", "d"]],
    ["object target replaced by array", { a: "b" }, ["c"], ["c"]],
    ["null patch replaces everything", { a: "foo" }, null, null],
    ["string patch replaces everything", { a: "foo" }, "bar", "bar"],
    ["null value in object deletes, other stays", { e: null }, { a: 1 }, { e: null, a: 1 }],
    ["object patch on array target", [1, 2], { a: "b", c: null }, { a: "b" }],
    ["deep creation with nested null dropped", {}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    [
      "status patch keeps spec (B.3)",
      { spec: { connectorClassName: "datum-connect" }, status: { leaseRef: { name: "x" } } },
      { status: { connectionDetails: { type: "PublicKey" } } },
      { spec: { connectorClassName: "datum-connect" }, status: { leaseRef: { name: "x" }, connectionDetails: { type: "PublicKey" } } },
    ],
    [
      "nulls inside a replacing array are kept (the server prunes them later)",
      { spec: { rules: [{ name: "a" }] } },
      { spec: { rules: [{ name: null, matches: [] }] } },
      { spec: { rules: [{ name: null, matches: [] }] } },
    ],
  ])("%s", (_name, target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  test("leaves both arguments untouched", () => {
    const target: Json = { a: { b: [1, 2] }, c: "d" };
    const patch: Json = { a: { b: [3] }, c: null };
    const before = JSON.stringify([target, patch]);
    const result = applyMergePatch(target, patch);
    expect(JSON.stringify([target, patch])).toBe(before);
    expect(result).toEqual({ a: { b: [3] } });
  });

  test("an undefined target is treated as absent", () => {
    expect(applyMergePatch(undefined, { a: 1 })).toEqual({ a: 1 });
  });
});
