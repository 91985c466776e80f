import { describe, expect, test } from "bun:test";
import { defineCommand } from "citty";
import { closest, resolveCommand, unknownFlags } from "../../../src/commands/resolve.ts";
import { extractErrorFormat } from "../../../src/main.ts";

const leaf = defineCommand({
  meta: { name: "list" },
  args: {
    output: { type: "enum", alias: "o", options: ["table", "json"], default: "table" },
    project: { type: "string" },
    yes: { type: "boolean" },
    errorBudget: { type: "string" },
  },
});
const tree = defineCommand({
  meta: { name: "root" },
  subCommands: { tunnel: defineCommand({ meta: { name: "tunnel" }, subCommands: { list: leaf } }) },
});

describe("resolveCommand", () => {
  test.each([
    [["tunnel", "list"], ["root", "tunnel", "list"], false, []],
    [["tunnel", "list", "-o", "json"], ["root", "tunnel", "list"], false, ["-o", "json"]],
    [["tunnel", "list", "--help"], ["root", "tunnel", "list"], true, ["--help"]],
    [["tunnel", "-h"], ["root", "tunnel"], true, ["-h"]],
    [["tunnel", "list", "--", "--help"], ["root", "tunnel", "list"], false, ["--", "--help"]],
  ])("%j", async (argv, path, help, rest) => {
    const r = await resolveCommand(tree, argv);
    expect(r.path).toEqual(path);
    expect(r.help).toBe(help);
    expect(r.rest).toEqual(rest);
  });

  test("an unknown subcommand carries a suggestion", async () => {
    const r = await resolveCommand(tree, ["tunel", "list"]);
    expect(r.unknown).toBe("tunel");
    expect(r.suggestion).toBe("tunnel");
  });

  test("a group without a subcommand is flagged", async () => {
    expect((await resolveCommand(tree, ["tunnel"])).missingSubcommand).toBe(true);
  });

  test("inherited object keys never resolve to a command", async () => {
    expect((await resolveCommand(tree, ["toString"])).unknown).toBe("toString");
  });
});

describe("unknownFlags", () => {
  test.each([
    [["-o", "json"], []],
    [["-ojson"], []],
    [["--output=yaml"], []],
    [["--project", "--weird-value"], []],
    [["--error-budget", "3"], []],
    [["--errorBudget", "3"], []],
    [["--no-yes"], []],
    [["--yes", "--", "--anything"], []],
    [["--projct", "p"], ["--projct"]],
    [["-x"], ["-x"]],
  ])("%j", async (argv, expected) => {
    expect((await unknownFlags(leaf, argv)).map((u) => u.flag)).toEqual(expected);
  });

  test("suggests the closest flag", async () => {
    expect((await unknownFlags(leaf, ["--projct"]))[0]?.suggestion).toBe("--project");
  });
});

describe("closest", () => {
  test.each([
    ["lst", ["list", "listen"], "list"],
    ["xyz", ["list"], undefined],
  ] as [string, string[], string | undefined][])("%s", (input, candidates, expected) => {
    expect(closest(input, candidates)).toBe(expected);
  });
});

describe("extractErrorFormat", () => {
  test.each([
    [["tunnel", "list"], "human", ["tunnel", "list"], undefined],
    [["--error-format", "json", "tunnel"], "json", ["tunnel"], undefined],
    [["tunnel", "--error-format=yaml"], "yaml", ["tunnel"], undefined],
    [["--error_format", "json"], "json", [], undefined],
    [["--error-format", "xml"], "human", [], "xml"],
    [["--", "--error-format", "json"], "human", ["--", "--error-format", "json"], undefined],
  ])("%j", (argv, format, rest, invalid) => {
    const r = extractErrorFormat(argv);
    expect(r.format).toBe(format as "human");
    expect(r.rest).toEqual(rest);
    expect(r.invalid).toBe(invalid);
  });
});
