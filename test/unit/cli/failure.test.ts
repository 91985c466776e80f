import { describe, expect, test } from "bun:test";
import {
  CliError,
  ConfigError,
  Exit,
  Malformed,
  NotAuthenticated,
  Rejected,
  StillProvisioning,
  Unreachable,
  UsageError,
} from "../../../src/errors.ts";
import { cittyUsageError, describeFailure } from "../../../src/failure.ts";

class FakeCittyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CLIError";
  }
}

describe("describeFailure (human)", () => {
  test.each([
    [new UsageError("bad flag", "use --x"), Exit.usage, ["error: bad flag", "hint: use --x"]],
    [new Rejected("Tunnel tunnel-x not found"), 64, ["error: Tunnel tunnel-x not found"]],
    [new Malformed("corrupt state file /x/state.yml"), 65, ["error: corrupt state file /x/state.yml"]],
    [new Unreachable("control plane unreachable"), 69, ["error: control plane unreachable"]],
    [new StillProvisioning("still provisioning"), 75, ["error: still provisioning"]],
    [new NotAuthenticated("not logged in", "run 'datumctl login'"), 77, ["error: not logged in", "hint: run 'datumctl login'"]],
    [new ConfigError("helper missing"), 78, ["error: helper missing"]],
    [new FakeCittyError("Missing required argument: --id"), 2, ["error: --id is required"]],
    [
      new FakeCittyError("Invalid value for argument: \u001b[36m--output\u001b[39m (\u001b[36mxml\u001b[39m). Expected one of: \u001b[36mtable\u001b[39m, \u001b[36mjson\u001b[39m."),
      2,
      ['error: invalid --output "xml"', "hint: use one of: table, json"],
    ],
  ] as [unknown, number, string[]][])("%p", (err, code, lines) => {
    const failure = describeFailure(err, "human");
    expect(failure.code).toBe(code);
    expect(failure.lines).toEqual(lines);
  });

  test("an unexpected error exits 1 and says it is a bug", () => {
    const failure = describeFailure(new TypeError("x is undefined"), "human");
    expect(failure.code).toBe(Exit.runtime);
    expect(failure.lines[0]).toBe("error: unexpected error: x is undefined");
    expect(failure.lines[1]).toContain("bug");
  });

  test.each([
    ["Missing required argument: --name", "datumctl connect tunnel run", "--name is required", "run 'datumctl connect tunnel run --help' for usage"],
    ["Missing required positional argument: FILE", undefined, "FILE is required", undefined],
    ["Invalid value for argument: --output (xml). Expected one of: table, json, yaml.", "x", 'invalid --output "xml"', "use one of: table, json, yaml"],
    ["Unknown command foo", "datumctl connect", "unknown command foo", "run 'datumctl connect --help' for usage"],
  ] as [string, string | undefined, string, string | undefined][])("citty's %p is a usage error with a hint, not a help dump", (text, command, message, hint) => {
    const err = cittyUsageError(new FakeCittyError(text), command);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(message);
    expect(err.hint).toBe(hint);
  });
});

describe("describeFailure (json/yaml envelope)", () => {
  test("json is datumctl's one-line envelope without empty fields", () => {
    const failure = describeFailure(new NotAuthenticated("denied", "log in", "helper said no"), "json");
    expect(failure.lines).toHaveLength(1);
    expect(JSON.parse(failure.lines[0] as string)).toEqual({
      error: { code: "not_authenticated", message: "denied", hint: "log in", retryable: false, details: "helper said no" },
    });
    // The contract's key order: code, message, hint, retryable, details.
    expect(Object.keys(JSON.parse(failure.lines[0] as string).error)).toEqual(["code", "message", "hint", "retryable", "details"]);
    const bare = JSON.parse(describeFailure(new CliError("x", Exit.runtime), "json").lines[0] as string);
    expect(Object.keys(bare.error).sort()).toEqual(["code", "message", "retryable"]);
  });

  test("yaml carries the same structure", () => {
    const failure = describeFailure(new Unreachable("down"), "yaml");
    expect(Bun.YAML.parse(failure.lines.join("\n"))).toEqual({
      error: { code: "unreachable", message: "down", retryable: true },
    });
    expect(failure.code).toBe(69);
  });
});
