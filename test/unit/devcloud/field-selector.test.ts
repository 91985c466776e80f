import { describe, expect, test } from "bun:test";
import {
  FieldSelectorError,
  decodeQueryValue,
  fieldValue,
  matchesFieldSelector,
  parseFieldSelector,
} from "../../../src/devcloud/field-selector.ts";
import type { Json } from "../../../src/devcloud/json.ts";

const ID = "ab".repeat(32);

describe("decodeQueryValue", () => {
  test.each([
    ["status.connectionDetails.publicKey.id%3Dabc", "status.connectionDetails.publicKey.id=abc"],
    ["a%3Db%2Cc%3Dd", "a=b,c=d"],
    ["a%3D%3Db", "a==b"],
    ["a%3Dx+y", "a=x y"],
    ["a=b", "a=b"],
    ["a%21%3Db", "a!=b"],
  ])("%p → %p", (raw, decoded) => {
    expect(decodeQueryValue(raw)).toBe(decoded);
  });

  test("malformed percent-encoding is a selector error", () => {
    expect(() => decodeQueryValue("a%3")).toThrow(FieldSelectorError);
  });
});

describe("parseFieldSelector", () => {
  test.each([
    ["", []],
    ["a.b.c=value", [{ field: "a.b.c", path: ["a", "b", "c"], operator: "=", value: "value" }]],
    ["a==b", [{ field: "a", path: ["a"], operator: "=", value: "b" }]],
    ["a!=b", [{ field: "a", path: ["a"], operator: "!=", value: "b" }]],
    ["a=", [{ field: "a", path: ["a"], operator: "=", value: "" }]],
    [
      "metadata.name=x,spec.connectorRef.name=y",
      [
        { field: "metadata.name", path: ["metadata", "name"], operator: "=", value: "x" },
        { field: "spec.connectorRef.name", path: ["spec", "connectorRef", "name"], operator: "=", value: "y" },
      ],
    ],
    ["a=b,,c=d", [
      { field: "a", path: ["a"], operator: "=", value: "b" },
      { field: "c", path: ["c"], operator: "=", value: "d" },
    ]],
    ["a=x\\,y", [{ field: "a", path: ["a"], operator: "=", value: "x,y" }]],
    ["a=x\\=y\\\\", [{ field: "a", path: ["a"], operator: "=", value: "x=y\\" }]],
  ])("%p", (selector, expected) => {
    expect(parseFieldSelector(selector)).toEqual(expected as never);
  });

  test.each(["a", "=b", "a=b=c", "a=\\q", "a.b"])("%p is refused", (selector) => {
    expect(() => parseFieldSelector(selector)).toThrow(FieldSelectorError);
  });
});

describe("matchesFieldSelector", () => {
  const connector: Json = {
    metadata: { name: "datum-connect-abcde", generation: 2 },
    spec: { connectorClassName: "datum-connect" },
    status: { connectionDetails: { type: "PublicKey", publicKey: { id: ID } } },
  };
  const bare: Json = { metadata: { name: "datum-connect-fghij" }, spec: { connectorClassName: "datum-connect" } };

  const samples = { connector, bare } as const;
  test.each<[string, keyof typeof samples, boolean]>([
    [`status.connectionDetails.publicKey.id=${ID}`, "connector", true],
    [`status.connectionDetails.publicKey.id=${ID}`, "bare", false],
    ["status.connectionDetails.publicKey.id=other", "connector", false],
    ["status.connectionDetails.publicKey.id=", "bare", true],
    ["status.connectionDetails.publicKey.id!=", "connector", true],
    [`metadata.name=datum-connect-abcde,status.connectionDetails.publicKey.id=${ID}`, "connector", true],
    ["metadata.name=datum-connect-abcde,spec.connectorClassName=other", "connector", false],
    ["metadata.generation=2", "connector", true],
    ["metadata.name!=datum-connect-abcde", "connector", false],
  ])("%s on %s → %p", (selector, sample, expected) => {
    expect(matchesFieldSelector(samples[sample], parseFieldSelector(selector))).toBe(expected);
  });

  test("an empty selector matches everything", () => {
    expect(matchesFieldSelector(bare, [])).toBe(true);
  });

  test.each<[Json, string[], string]>([
    [{ a: { b: "x" } }, ["a", "b"], "x"],
    [{ a: { b: 3 } }, ["a", "b"], "3"],
    [{ a: { b: true } }, ["a", "b"], "true"],
    [{ a: { b: null } }, ["a", "b"], ""],
    [{ a: "scalar" }, ["a", "b"], ""],
  ])("fieldValue(%j, %j) = %p", (object, path, expected) => {
    expect(fieldValue(object, path)).toBe(expected);
  });
});
