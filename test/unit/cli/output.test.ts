import { describe, expect, test } from "bun:test";
import { formatJson, formatTable, formatYaml, render } from "../../../src/output.ts";

interface Row {
  id: string;
  label: string;
}
const columns = [
  { header: "id", value: (r: Row) => r.id },
  { header: "Label", value: (r: Row) => r.label },
];

describe("formatTable", () => {
  test.each([
    [[], "ID   LABEL"],
    [[{ id: "tunnel-a", label: "x" }], "ID         LABEL\ntunnel-a   x"],
    [
      [
        { id: "t", label: "" },
        { id: "tunnel-abcde", label: "my app" },
      ],
      "ID             LABEL\nt\ntunnel-abcde   my app",
    ],
  ] as [Row[], string][])("rows %j", (rows, expected) => {
    expect(formatTable(rows, columns)).toBe(expected);
  });

  test("no line ends in whitespace and columns are 3 spaces apart at the widest cell", () => {
    const text = formatTable([{ id: "a-very-long-id", label: "l" }], columns);
    for (const line of text.split("\n")) expect(line).toBe(line.trimEnd());
    expect(text.split("\n")[1]).toBe("a-very-long-id   l");
  });
});

describe("render", () => {
  const rows = [{ id: "tunnel-a", label: "x" }];
  test("json is 2-space indented", () => {
    expect(render("json", rows, columns)).toBe(formatJson(rows));
    expect(JSON.parse(render("json", rows, columns))).toEqual(rows);
  });
  test("yaml parses back to the same value", () => {
    expect(Bun.YAML.parse(formatYaml(rows))).toEqual(rows);
    expect(render("yaml", rows, columns).endsWith("\n")).toBe(false);
  });
  test("table uses the columns", () => {
    expect(render("table", rows, columns)).toBe("ID         LABEL\ntunnel-a   x");
  });
});
