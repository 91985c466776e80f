import { describe, expect, test } from "bun:test";
import { describePaths, pathKind, tallyPaths, type PathLike } from "../../../src/dataplane/path-kind.ts";

const ip = (isSelected: boolean): PathLike => ({ isSelected, isIp: true, isRelay: false });
const relay = (isSelected: boolean): PathLike => ({ isSelected, isIp: false, isRelay: true });

describe("pathKind", () => {
  const cases: [string, PathLike[], ReturnType<typeof pathKind>][] = [
    ["no paths", [], "none"],
    ["nothing selected", [ip(false), relay(false)], "none"],
    ["the relay selected", [ip(false), relay(true)], "relay"],
    ["a direct path selected", [ip(true), relay(false)], "direct"],
    ["only the relay, selected", [relay(true)], "relay"],
    ["a selected path of neither kind", [{ isSelected: true, isIp: false, isRelay: false }], "none"],
  ];
  for (const [name, paths, want] of cases) test(name, () => expect(pathKind(paths)).toBe(want));
});

describe("tallyPaths and describePaths", () => {
  const cases: [string, PathLike[][], string][] = [
    ["no connections", [], "no gateway connection yet"],
    ["one relayed", [[relay(true)]], "relayed (1 connection through the relay)"],
    ["two direct", [[ip(true)], [ip(true), relay(false)]], "direct (2 connections)"],
    ["mixed", [[ip(true)], [relay(true)], []], "1 direct, 1 relayed, 1 without a path yet (3 connections)"],
  ];
  for (const [name, conns, want] of cases) test(name, () => expect(describePaths(tallyPaths(conns))).toBe(want));
});
