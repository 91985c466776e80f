import { describe, expect, test } from "bun:test";
import {
  classifyOutcome,
  getTokenArgv,
  helperChildEnv,
  isTokenLikeName,
  isTokenLikeValue,
  redact,
  splitHelperStderr,
  type HelperOutcome,
} from "../../../src/auth/credentials-helper.ts";
import { CliError } from "../../../src/errors.ts";

const exit = (exitCode: number | null, stdout: string, stderr: string, signal: string | null = null): HelperOutcome => ({
  kind: "exit",
  exitCode,
  signal,
  stdout,
  stderr,
});

describe("classifyOutcome", () => {
  test.each<[string, HelperOutcome, { exit: number; message: string; hint?: string | RegExp; details?: string }]>([
    [
      "helper unset",
      { kind: "unset" },
      {
        exit: 78,
        message: "DATUM_CREDENTIALS_HELPER is not set; is this plugin running via datumctl?",
        hint: /datumctl connect \.\.\..*DATUM_CREDENTIALS_HELPER/,
      },
    ],
    [
      "helper missing",
      { kind: "spawn-error", helper: "/opt/homebrew/Cellar/datumctl/0.17.0/bin/datumctl", code: "ENOENT", message: "x", target: "missing" },
      {
        exit: 78,
        message: "credentials helper not found at /opt/homebrew/Cellar/datumctl/0.17.0/bin/datumctl",
        hint: /reinstall datumctl/,
      },
    ],
    [
      "helper not executable",
      { kind: "spawn-error", helper: "/usr/bin/datumctl", code: "EACCES", message: "x", target: "file" },
      { exit: 78, message: "credentials helper not found at /usr/bin/datumctl", hint: /is not executable/ },
    ],
    [
      "helper is a directory",
      { kind: "spawn-error", helper: "/usr/bin", code: "EACCES", message: "x", target: "directory" },
      { exit: 78, message: "credentials helper not found at /usr/bin", hint: /is a directory/ },
    ],
    [
      "helper's interpreter missing",
      { kind: "spawn-error", helper: "/x/datumctl", code: "ENOENT", message: "x", target: "file" },
      { exit: 78, message: "credentials helper not found at /x/datumctl", hint: /could not be started/ },
    ],
    [
      "timeout at 45 s",
      { kind: "timeout", timeoutMs: 45_000, session: "alice@example.com@api.datum.net" },
      {
        exit: 77,
        message: "datumctl auth get-token did not answer within 45s",
        hint: "the identity provider may be unreachable; run 'datumctl auth get-token --session alice@example.com@api.datum.net' by hand to see what it waits for",
      },
    ],
    [
      "timeout at 1.5 s, no session",
      { kind: "timeout", timeoutMs: 1_500, session: undefined },
      { exit: 77, message: "datumctl auth get-token did not answer within 1.5s", hint: /run 'datumctl auth get-token' by hand/ },
    ],
    [
      "interactive session expired: datumctl's hint becomes ours",
      exit(
        1,
        "",
        "error: Authentication session has expired or refresh token is no longer valid.\nPlease re-authenticate using: `datumctl login`\n",
      ),
      {
        exit: 77,
        message:
          "datumctl auth get-token failed: Authentication session has expired or refresh token is no longer valid.",
        hint: "Please re-authenticate using: `datumctl login`",
        details:
          "error: Authentication session has expired or refresh token is no longer valid.\nPlease re-authenticate using: `datumctl login`",
      },
    ],
    [
      "no session: one line, so ours is the hint",
      exit(1, "", `error: no session named "x" — run 'datumctl login' or 'datumctl auth update-kubeconfig'\n`),
      {
        exit: 77,
        message: `datumctl auth get-token failed: no session named "x" — run 'datumctl login' or 'datumctl auth update-kubeconfig'`,
        hint: `datumctl has no session "x" (any more): 'datumctl auth list' shows the sessions it has; log in again to recreate it (a local Datum started on another --dir is a new cloud: source its new env file)`,
      },
    ],
    [
      "interrupted: the leading blank line is skipped",
      exit(130, "", "\nAborted.\n"),
      { exit: 77, message: "datumctl auth get-token failed: Aborted." },
    ],
    [
      "non-zero without stderr",
      exit(3, "", "  \n"),
      { exit: 77, message: "datumctl auth get-token exited with status 3", hint: /datumctl login/ },
    ],
    [
      "killed by a signal",
      exit(null, "", "", "SIGTERM"),
      { exit: 77, message: "datumctl auth get-token was killed by SIGTERM" },
    ],
    ["empty token", exit(0, " \n\t", ""), { exit: 77, message: "datumctl returned an empty access token" }],
    [
      "more than a token on stdout",
      exit(0, "A new version is available\ntoken", ""),
      { exit: 77, message: "datumctl auth get-token printed more than a token on stdout" },
    ],
  ])("%s", (_name, outcome, expected) => {
    const result = classifyOutcome(outcome);
    expect(result).toBeInstanceOf(CliError);
    const err = result as CliError;
    expect(err.exit).toBe(expected.exit as CliError["exit"]);
    expect(err.message).toBe(expected.message);
    if (expected.hint instanceof RegExp) expect(err.hint).toMatch(expected.hint);
    else if ("hint" in expected) expect(err.hint).toBe(expected.hint);
    if (expected.details !== undefined) expect(err.details).toBe(expected.details);
  });

  test.each([
    ["raw token, no newline", "eyJ.a.b", "eyJ.a.b"],
    ["trailing newline trimmed", "eyJ.a.b\n", "eyJ.a.b"],
    ["surrounding whitespace trimmed", "  eyJ.a.b\r\n", "eyJ.a.b"],
  ])("success: %s", (_name, stdout, token) => {
    expect(classifyOutcome(exit(0, stdout, "A new version of datumctl is available\n"))).toBe(token);
  });

  test("secrets and the helper's own stdout are scrubbed from error text", () => {
    const err = classifyOutcome(
      exit(1, "leaked-stdout-token", "error: bad token old-secret-token and leaked-stdout-token\nhint\n"),
      ["old-secret-token"],
    ) as CliError;
    expect(err.message).toBe("datumctl auth get-token failed: bad token [redacted] and [redacted]");
    expect(err.details).not.toContain("secret-token");
    expect(err.details).not.toContain("leaked-stdout-token");
  });
});

describe("helper invocation", () => {
  test.each([
    [undefined, ["auth", "get-token"]],
    ["", ["auth", "get-token"]],
    ["  ", ["auth", "get-token"]],
    ["alice@example.com@api.datum.net", ["auth", "get-token", "--session", "alice@example.com@api.datum.net"]],
  ])("argv for session %p", (session, argv) => {
    expect(getTokenArgv(session)).toEqual(argv);
  });

  test.each([
    ["DATUM_ACCESS_TOKEN", true],
    ["DATUM_TOKEN", true],
    ["DATUMCTL_TOKEN", true],
    ["GITHUB_TOKEN", true],
    ["datum_access_token", true],
    ["AWS_SECRET_ACCESS_KEY", true],
    ["AWS_SESSION_TOKEN", true],
    ["OPENAI_API_KEY", true],
    ["DB_PASSWORD", true],
    ["GOOGLE_APPLICATION_CREDENTIALS", true],
    ["TOKEN", true],
    ["DATUM_CREDENTIALS_HELPER", false],
    ["DATUM_SESSION", false],
    ["DATUM_PROJECT", false],
    ["HOME", false],
    ["XDG_CONFIG_HOME", false],
    ["DBUS_SESSION_BUS_ADDRESS", false],
    ["SSH_AUTH_SOCK", false],
    ["TOKENIZER_PATH", false],
    ["KEYRING_BACKEND", false],
  ])("isTokenLikeName(%p) → %p", (name, expected) => {
    expect(isTokenLikeName(name)).toBe(expected);
  });

  test.each([
    ["eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", true],
    ["Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", true],
    ["bearer opaque-value", true],
    ["prefix=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.", true],
    ["/usr/local/bin:/usr/bin", false],
    ["alice@example.com@api.datum.net", false],
    ["keyeyJabcdef.x.y", false],
    ["eyJ", false],
  ])("isTokenLikeValue(%p) → %p", (value, expected) => {
    expect(isTokenLikeValue(value)).toBe(expected);
  });

  test("child env: ours minus token-like names and values, plus DATUMCTL_NO_UPDATE_CHECK=1", () => {
    const env = helperChildEnv(
      {
        HOME: "/home/a",
        PATH: "/usr/bin",
        DATUM_SESSION: "s",
        DATUM_ACCESS_TOKEN: "eyJ.secret.x",
        SOME_VAR: "prefix-the-current-token-suffix",
        INNOCENT_NAME: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        UNDEF: undefined,
        DATUMCTL_NO_UPDATE_CHECK: "0",
      },
      ["the-current-token"],
    );
    expect(env).toEqual({ HOME: "/home/a", PATH: "/usr/bin", DATUM_SESSION: "s", DATUMCTL_NO_UPDATE_CHECK: "1" });
  });

  test("splitHelperStderr takes datumctl's message and hint lines", () => {
    expect(splitHelperStderr("error: a\nb\nc\n")).toEqual({ message: "a", hint: "b" });
    expect(splitHelperStderr("\n\nerror: only\n")).toEqual({ message: "only" });
    expect(splitHelperStderr("")).toEqual({});
  });

  test("redact ignores secrets too short to be tokens", () => {
    expect(redact("abc abcdefgh", ["abc", "abcdefgh"])).toBe("abc [redacted]");
  });
});
