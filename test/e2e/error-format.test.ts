/**
 * `--error-format` and bad flag values as a README reader meets them (issue 18): the flag is in
 * every `--help` and in completion; a bad `-o` is one error line with a hint, not the whole help;
 * and with `--error-format json` all of stderr parses, the envelope last and complete.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import { runCli } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

describe("--error-format is discoverable", () => {
  test.each([[["--help"]], [["tunnel", "list", "--help"]], [["tunnel", "listen", "--help"]], [["dev", "cloud", "--help"]]])("%j shows it", async (argv) => {
    const r = await runCli(argv);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--error-format=<human|json|yaml>");
  });

  test.each([
    [["__complete", "tunnel", "list", "--err"], "--error-format"],
    [["__complete", "--err"], "--error-format"],
    [["__complete", "tunnel", "ps", "--error-format", ""], "json"],
  ] as [string[], string][])("%j completes it", async (argv, expected) => {
    const r = await runCli(argv);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.some((l) => l === expected || l.startsWith(`${expected}\t`))).toBe(true);
    expect(lines.at(-1)).toBe(":4");
  });
});

describe("a bad flag value", () => {
  test("-o xml: one error and a hint, no help dump", async () => {
    const r = await runCli(["tunnel", "list", "-o", "xml"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('error: invalid --output "xml"\nhint: use one of: table, json, yaml\n');
  });

  test("-o xml --error-format json: the envelope alone", async () => {
    const r = await runCli(["tunnel", "list", "-o", "xml", "--error-format", "json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: "usage", message: 'invalid --output "xml"', hint: "use one of: table, json, yaml", retryable: false } });
  });

  test("a missing required flag names it and points at --help", async () => {
    const r = await runCli(["tunnel", "run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: --name is required\nhint: run 'datumctl connect tunnel run --help' for usage\n");
  });
});

describe("--error-format json|yaml against a failing login", () => {
  let datum: LocalDatum;
  beforeAll(async () => {
    datum = await startLocalDatum();
    // The helper fails with a network error: the token source warns, retries, then gives up (77).
    updateDoubleState(datum.env.DATUMCTL_DOUBLE_STATE as string, (state) => {
      state.fail = "network";
    });
  });
  afterAll(async () => {
    await datum?.stop();
  });

  test("json: every stderr line is JSON, the retry warning included; the envelope is last, with details", async () => {
    const r = await runCli(["tunnel", "list", "--error-format", "json"], { env: datum.env });
    expect(r.code).toBe(77);
    const lines = r.stderr.trimEnd().split("\n");
    const docs = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(docs.some((d) => d.level === "warn" && String(d.msg).includes("retrying"))).toBe(true);
    const envelope = docs.at(-1) as { error: Record<string, unknown> };
    expect(Object.keys(envelope)).toEqual(["error"]);
    expect(envelope.error).toMatchObject({ code: "not_authenticated", retryable: false });
    expect(envelope.error.details).toContain("dial tcp");
  }, 60_000);

  test("yaml: stderr parses as the envelope document alone", async () => {
    const r = await runCli(["tunnel", "list", "--error-format", "yaml"], { env: datum.env });
    expect(r.code).toBe(77);
    expect(r.stderr).toContain("# warn [auth]: token refresh failed");
    const doc = Bun.YAML.parse(r.stderr) as { error: Record<string, unknown> };
    expect(doc.error).toMatchObject({ code: "not_authenticated", retryable: false });
    expect(doc.error.details).toContain("dial tcp");
  }, 60_000);
});
