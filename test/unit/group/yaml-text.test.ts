/**
 * What the group file's text says that Bun's YAML parser does not (docs/groups.md#the-file): the line of
 * a syntax error, and keys given twice.
 */
import { describe, expect, test } from "bun:test";
import { findDuplicateKeys, syntaxErrorLine } from "../../../src/group/yaml-text.ts";

const parse = (text: string) => Bun.YAML.parse(text);

describe("syntaxErrorLine: the first line from which the text no longer parses", () => {
  test.each([
    ["valid text has none", "a: 1\nb: 2\n", undefined],
    ["an error on the first line", "a: b: c\n", 1],
    ["an unclosed list at line 2", "a: 1\nb: [1, 2\nc: 3\n", 2],
    ["a bad indent at line 3", "a: 1\nb:\n    c: 1\n  d: 2\n", 4],
    ["a multi-line list that closes is no error; the one after it is", "a: [1,\n  2]\nb: [\n", 3],
    ["a tab at line 2", "a: 1\n\tb: 2\n", 2],
  ] as const)("%s", (_what, text, line) => {
    expect(syntaxErrorLine(text, parse)).toBe(line);
  });

  test("a text longer than the limit is not searched", () => {
    const text = `${"a: 1\n".repeat(10)}b: [\n`;
    expect(syntaxErrorLine(text, parse, 5)).toBeUndefined();
    expect(syntaxErrorLine(text, parse)).toBe(11);
  });
});

describe("findDuplicateKeys", () => {
  test.each([
    ["none", "name: g\ntunnels:\n  - name: a\n    endpoint: x\n  - name: b\n    endpoint: y\n", []],
    ["at the top level", "name: g\nhealth: x\nname: h\n", [{ key: "name", lines: [1, 3] }]],
    ["quoted keys are the same key", 'name: g\n"name": h\n', [{ key: "name", lines: [1, 2] }]],
    [
      "in a service, with its name",
      "name: g\ntunnels:\n  - name: a\n    endpoint: x\n  - name: 'b'\n    endpoint: y\n    endpoint: z\n",
      [{ key: "endpoint", lines: [6, 7], item: 1, service: "b" }],
    ],
    [
      "the name after the key, a comment after the name",
      "tunnels:\n  - endpoint: x\n    endpoint: y\n    name: c # the third\n",
      [{ key: "endpoint", lines: [2, 3], item: 0, service: "c" }],
    ],
    [
      "a sequence at column 0 under tunnels",
      "tunnels:\n- name: a\n  label: x\n  label: y\n- name: b\n",
      [{ key: "label", lines: [3, 4], item: 0, service: "a" }],
    ],
    ["the same key in two services is no duplicate", "tunnels:\n  - name: a\n    label: x\n  - name: b\n    label: x\n", []],
    ["a block scalar's lines are not keys", "tunnels:\n  - name: a\n    label: |\n      name: b\n      name: c\n    endpoint: x\n", []],
    ["a top-level block scalar's lines are not keys", "note: >\n  name: a\n  name: b\nname: g\n", []],
    ["a nested list is not a new service", "tunnels:\n  - name: a\n    extra:\n      - label: x\n      - label: y\n    label: z\n", []],
    ["flow mappings are not read", "tunnels: [{name: a, name: b}]\n", []],
    ["a list outside tunnels is not read", "other:\n  - name: a\n    name: b\n", []],
    [
      "tunnels given twice: the services of each list counted from 0",
      "tunnels:\n  - name: a\ntunnels:\n  - name: b\n    label: x\n    label: y\n",
      [
        { key: "tunnels", lines: [1, 3] },
        { key: "label", lines: [5, 6], item: 0, service: "b" },
      ],
    ],
  ] as const)("%s", (_what, text, expected) => {
    expect(findDuplicateKeys(text)).toEqual(expected as never);
  });
});
