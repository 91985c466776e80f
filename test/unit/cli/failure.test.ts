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
import { describeFailure } from "../../../src/failure.ts";

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
    [new FakeCittyError("Missing required argument: --id"), 2, ["error: missing required argument: --id"]],
    [new FakeCittyError("Invalid value for argument: \u001b[36m--output\u001b[39m (xml)."), 2, ["error: invalid value for argument: --output (xml)"]],
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

  test("usage errors from citty ask for usage, ours do not", () => {
    expect(describeFailure(new FakeCittyError("Missing required argument: --id")).showUsage).toBe(true);
    expect(describeFailure(new UsageError("x")).showUsage).toBe(false);
  });
});

describe("describeFailure (json/yaml envelope)", () => {
  test("json is datumctl's one-line envelope without empty fields", () => {
    const failure = describeFailure(new NotAuthenticated("denied", "log in", "helper said no"), "json");
    expect(failure.lines).toHaveLength(1);
    expect(JSON.parse(failure.lines[0] as string)).toEqual({
      error: { code: "not_authenticated", message: "denied", hint: "log in", retryable: false, details: "helper said no" },
    });
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
