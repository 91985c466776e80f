/**
 * The datumctl test double itself (docs/architecture.md#datumctl-double): exact bytes on stdout and
 * stderr, exit codes, pflag forms, state re-read per call, failure modes and the call log. Everything
 * runs the real sh wrapper in a child process.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeJwtClaims } from "../../src/auth/jwt.ts";
import { readDatumctlConfig } from "../../src/context/datumctl-config.ts";
import { resolveContext } from "../../src/context/resolve.ts";
import { probeSessionType, serviceAccountKeyPath } from "../../src/context/session-type.ts";
import { readCallLog } from "../../src/devcloud/datumctl-double/call-log.ts";
import {
  installDatumctlDouble,
  updateDoubleState,
  type InstallDatumctlDoubleOptions,
  type InstalledDatumctlDouble,
} from "../../src/devcloud/datumctl-double/install.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;
const ALICE = "alice@example.com@api.datum.net";
const USAGE_HEAD = "Usage:\n  datumctl auth get-token [flags]\n";

function setup(options: InstallDatumctlDoubleOptions = {}): InstalledDatumctlDouble {
  return installDatumctlDouble(mkdtempSync(join(root, "double-")), options);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(d: InstalledDatumctlDouble, args: string[], env: Record<string, string | undefined> = process.env): Promise<Run> {
  const proc = Bun.spawn([d.helperPath, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, stdout, stderr };
}

const getToken = (d: InstalledDatumctlDouble, ...extra: string[]) => run(d, ["auth", "get-token", ...extra]);

describe("success output (docs/wire-facts.md#credentials-helper)", () => {
  test.each([
    ["--session X", ["auth", "get-token", "--session", ALICE]],
    ["--session=X", ["auth", "get-token", `--session=${ALICE}`]],
    ["-o token", ["auth", "get-token", "-o", "token", "--session", ALICE]],
    ["-otoken", ["auth", "get-token", "-otoken"]],
    ["-o=token", ["auth", "get-token", "-o=token"]],
    ["--output token", ["auth", "get-token", "--output", "token"]],
    ["--output=token", ["auth", "get-token", "--output=token"]],
    ["flags before the command", ["--session", ALICE, "auth", "get-token"]],
    ["--error_format normalized", ["auth", "get-token", "--error_format", "json"]],
    ["-- after the flags", ["auth", "get-token", "--session", ALICE, "--"]],
    ["empty --session means none", ["auth", "get-token", "--session="]],
    ["hidden -v", ["auth", "get-token", "-v", "4"]],
  ])("%s: the raw token, no trailing newline, the same sticky token", async (_name, args) => {
    const d = setup();
    const first = await run(d, ["auth", "get-token"]);
    const r = await run(d, args);
    expect(r).toEqual({ code: 0, stdout: first.stdout, stderr: "" });
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  test("JWT claims {iss, sub, aud, iat, exp, jti} and a lifetime from the state", async () => {
    const d = setup({ token: { lifetimeSec: 300 } });
    const { stdout } = await getToken(d);
    const payload = JSON.parse(Buffer.from(stdout.split(".")[1] as string, "base64url").toString());
    expect(Object.keys(payload)).toEqual(["iss", "sub", "aud", "iat", "exp", "jti"]);
    expect(payload.iss).toBe("https://auth.datum.net");
    expect(payload.exp - payload.iat).toBe(300);
    expect(decodeJwtClaims(stdout)?.sub).toMatch(/^\d+$/);
  });

  test("-o client.authentication.k8s.io/v1: ExecCredential, 2-space JSON, key order, no trailing newline", async () => {
    const d = setup();
    const token = (await getToken(d)).stdout;
    for (const form of [["-o", "client.authentication.k8s.io/v1"], ["-oclient.authentication.k8s.io/v1"], ["--output=client.authentication.k8s.io/v1"]]) {
      const r = await getToken(d, ...form);
      expect(r.code).toBe(0);
      const exp = decodeJwtClaims(token)?.exp as number;
      const stamp = new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
      expect(r.stdout).toBe(
        [
          "{",
          '  "kind": "ExecCredential",',
          '  "apiVersion": "client.authentication.k8s.io/v1",',
          '  "spec": {',
          '    "interactive": false',
          "  },",
          '  "status": {',
          `    "expirationTimestamp": "${stamp}",`,
          `    "token": "${token}"`,
          "  }",
          "}",
        ].join("\n"),
      );
    }
  });

  test("ExecCredential for a token without expiry: now + 5 minutes", async () => {
    const d = setup({ token: { mode: "fixed", value: "fixed-opaque-token" } });
    const r = await getToken(d, "-o", "client.authentication.k8s.io/v1");
    const stamp = Date.parse(JSON.parse(r.stdout).status.expirationTimestamp);
    expect(Math.abs(stamp - (Date.now() + 300_000))).toBeLessThan(5_000);
  });
});

describe("token modes and the state re-read per call (docs/architecture.md#datumctl-double)", () => {
  test("sticky → always-new → fixed → opaque, switched between calls", async () => {
    const d = setup();
    const a = (await getToken(d)).stdout;
    expect((await getToken(d)).stdout).toBe(a);
    updateDoubleState(d.statePath, (s) => {
      s.sessions[ALICE]!.token = { mode: "always-new", lifetimeSec: 3600 };
    });
    const b = (await getToken(d)).stdout;
    const c = (await getToken(d)).stdout;
    expect(new Set([a, b, c]).size).toBe(3);
    updateDoubleState(d.statePath, (s) => {
      s.sessions[ALICE]!.token = { mode: "fixed", lifetimeSec: 3600, value: "the-fixed-token" };
    });
    expect((await getToken(d)).stdout).toBe("the-fixed-token");
    updateDoubleState(d.statePath, (s) => {
      s.sessions[ALICE]!.token = { mode: "opaque", lifetimeSec: 3600 };
    });
    const o = (await getToken(d)).stdout;
    expect(o).toMatch(/^dtmo_[\w-]+$/);
    expect(decodeJwtClaims(o)).toBeUndefined();
    expect((await getToken(d)).stdout).toBe(o);
  });

  test("fixed without a value: minted once, kept even past expiry", async () => {
    const d = setup({ token: { mode: "fixed", lifetimeSec: 1 } });
    const a = (await getToken(d)).stdout;
    await Bun.sleep(1_100);
    expect((await getToken(d)).stdout).toBe(a);
  });

  test("sticky: a new token once fewer than 10 s remain", async () => {
    // Whole seconds: a 12 s token has more than 10 s left for at least the first second.
    const d = setup({ token: { lifetimeSec: 12 } });
    const a = (await getToken(d)).stdout;
    expect((await getToken(d)).stdout).toBe(a);
    await Bun.sleep(2_100);
    expect((await getToken(d)).stdout).not.toBe(a);
  });

  test("rotateEverySec: a new token every N seconds regardless of expiry", async () => {
    // Whole seconds again: 2 s, so the immediate second call never straddles a rotation.
    const d = setup({ token: { rotateEverySec: 2 } });
    const a = (await getToken(d)).stdout;
    expect((await getToken(d)).stdout).toBe(a);
    await Bun.sleep(2_100);
    expect((await getToken(d)).stdout).not.toBe(a);
  });

  test("two sessions with the same user-key share the keyring token", async () => {
    const d = setup({
      extraSessions: { "alias@api.datum.net": { userKey: "alice@example.com@auth.datum.net" } },
    });
    expect((await getToken(d, "--session", "alias@api.datum.net")).stdout).toBe((await getToken(d)).stdout);
  });
});

const SA = "ci-bot@example.iam.datum.net@api.datum.net";

describe("failures (docs/wire-facts.md#get-token-failures): exact stderr, exit 1", () => {
  const keyPath = serviceAccountKeyPath("ci-bot@example.iam.datum.net@auth.datum.net", process.env) as string;
  test.each<[string, InstallDatumctlDoubleOptions, string[], string]>([
    [
      "no session named",
      {},
      ["--session", "typo@api.datum.net"],
      `error: no session named "typo@api.datum.net" — run 'datumctl login' or 'datumctl auth update-kubeconfig'\n`,
    ],
    [
      "no-session mode (logged out)",
      { fail: "no-session" },
      ["--session", ALICE],
      `error: no session named "${ALICE}" — run 'datumctl login' or 'datumctl auth update-kubeconfig'\n`,
    ],
    ["no user key", { fail: "no-user-key" }, ["--session", ALICE], `error: session "${ALICE}" has no user key\n`],
    [
      "no active user",
      { keyringActiveUser: null },
      [],
      "error: no active user found in keyring. Please login first using 'datumctl login'\n",
    ],
    [
      "keyring missing",
      { fail: "keyring-missing" },
      [],
      "error: failed to get token source: credentials for user 'alice@example.com@auth.datum.net' not found in keyring\n",
    ],
    [
      "keyring without token",
      { fail: "keyring-no-token" },
      [],
      "error: failed to get token source: stored credentials for 'alice@example.com@auth.datum.net' are missing token information\n",
    ],
    [
      "interactive expired",
      { fail: "interactive-expired" },
      [],
      "error: Authentication session has expired or refresh token is no longer valid.\nPlease re-authenticate using: `datumctl login`\n",
    ],
    [
      "service account revoked",
      { session: SA, type: "service_account", fail: "sa-revoked" },
      [],
      "error: Failed to exchange JWT for access token.\nPlease re-authenticate using: `datumctl login --credentials <file>`\n",
    ],
    [
      "service account key file missing",
      { session: SA, type: "service_account", fail: "sa-keyfile-missing" },
      ["--session", SA],
      `error: failed to read service account private key from ${keyPath}\n` +
        "re-run 'datumctl login --credentials <file>'; you may need to download a new service account credentials file from the Datum portal if the original is no longer available\n",
    ],
    [
      "keyring item gone mid-refresh",
      { fail: "logged-out" },
      [],
      "error: The stored credentials for alice@example.com@auth.datum.net are no longer available — the session may have been logged out.\n" +
        "Run 'datumctl login' to re-authenticate.\n",
    ],
    ["config unreadable", { fail: "config-unreadable" }, [], "error: unmarshal config: yaml: line 3: did not find expected key\n"],
    [
      "service account without a key",
      { session: SA, type: "service_account", fail: "sa-no-key" },
      [],
      "error: service account session is missing its private key\n" +
        "re-run 'datumctl login --credentials <file>'; you may need to download a new service account credentials file from the Datum portal if the original is no longer available\n",
    ],
    [
      "service account key unusable",
      { session: SA, type: "service_account", fail: "sa-bad-key" },
      [],
      "error: Failed to mint JWT for service account authentication.\nPlease re-authenticate using: `datumctl login --credentials <file>`\n",
    ],
    [
      "network, interactive",
      { fail: "network" },
      [],
      'error: failed to get token: Post "https://auth.datum.net/oauth/v2/token": dial tcp: lookup auth.datum.net: no such host\n',
    ],
    [
      "network, service account",
      { session: SA, type: "service_account", fail: "network" },
      [],
      "error: Failed to exchange JWT for access token.\nPlease re-authenticate using: `datumctl login --credentials <file>`\n",
    ],
    [
      "bad -o",
      {},
      ["-o", "yaml"],
      'error: invalid --output format "yaml". Must be token or client.authentication.k8s.io/v1\n',
    ],
    ["extra argument", {}, ["extra"], 'error: unknown command "extra" for "datumctl auth get-token"\n'],
    ["-- makes the rest positional", {}, ["--", "--session"], 'error: unknown command "--session" for "datumctl auth get-token"\n'],
  ])("%s", async (_name, options, args, stderr) => {
    const d = setup(options);
    const r = await getToken(d, ...args);
    expect(r).toEqual({ code: 1, stdout: "", stderr });
  });

  test.each([
    ["unknown flag", ["--audience", "x"], "error: unknown flag: --audience\n"],
    ["unknown shorthand", ["-x"], "error: unknown shorthand flag: 'x' in -x\n"],
    ["missing value", ["--session"], "error: flag needs an argument: --session\n"],
    ["missing short value", ["-o"], "error: flag needs an argument: 'o' in -o\n"],
  ])("%s: usage on stderr, then the error", async (_name, args, last) => {
    const r = await getToken(setup(), ...args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.startsWith(USAGE_HEAD)).toBe(true);
    expect(r.stderr.endsWith(last)).toBe(true);
  });

  test("bad-flag mode: a datumctl without --session", async () => {
    const d = setup({ fail: "bad-flag" });
    updateDoubleState(d.statePath, (s) => {
      s.fail = "bad-flag";
    });
    const r = await getToken(d, "--session", ALICE);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(USAGE_HEAD);
    expect(r.stderr).not.toContain("--session string");
    expect(r.stderr).toEndWith("error: unknown flag: --session\n");
  });

  test("--error-format json and yaml envelopes", async () => {
    const d = setup({ fail: "interactive-expired" });
    const json = await getToken(d, "--error-format", "json");
    expect(json.code).toBe(1);
    expect(json.stderr).toBe(
      '{"error":{"message":"Authentication session has expired or refresh token is no longer valid.",' +
        '"hint":"Please re-authenticate using: `datumctl login`","retryable":false,' +
        '"details":"oauth2: \\"invalid_grant\\" \\"Refresh token is invalid or expired\\""}}\n',
    );
    const yaml = await getToken(d, "--error-format=yaml");
    expect(Bun.YAML.parse(yaml.stderr)).toEqual(JSON.parse(json.stderr));
    const plain = await getToken(setup(), "--session", "nope", "--error-format", "json");
    expect(JSON.parse(plain.stderr)).toEqual({
      error: {
        message: `no session named "nope" — run 'datumctl login' or 'datumctl auth update-kubeconfig'`,
        retryable: false,
      },
    });
    const revoked = await getToken(setup({ type: "service_account", fail: "sa-revoked" }), "--error-format", "json");
    expect(JSON.parse(revoked.stderr).error.details).toStartWith("JWT bearer exchange failed: invalid_grant (");
  });

  test("flaky:2 fails twice, then succeeds", async () => {
    const d = setup({ fail: "flaky:2" });
    expect((await getToken(d)).code).toBe(1);
    expect((await getToken(d)).code).toBe(1);
    const ok = await getToken(d);
    expect(ok.code).toBe(0);
    expect(ok.stdout.split(".").length).toBe(3);
  });

  test("expired-token, sticky-near-expiry, stderr-noise, stdout-trailing-newline", async () => {
    const now = Date.now() / 1000;
    const expired = await getToken(setup({ fail: "expired-token" }));
    expect(decodeJwtClaims(expired.stdout)!.exp!).toBeLessThan(now);
    const near = await getToken(setup({ fail: "sticky-near-expiry" }));
    expect(decodeJwtClaims(near.stdout)!.exp! - now).toBeLessThanOrEqual(301);
    const noisy = await getToken(setup({ fail: "stderr-noise" }));
    expect(noisy.code).toBe(0);
    expect(noisy.stderr).toBe("A new version of datumctl is available: v0.18.0 → v0.19.0\n");
    expect(noisy.stdout).not.toContain("\n");
    const trailing = await getToken(setup({ fail: "stdout-trailing-newline" }));
    expect(trailing.stdout).toEndWith("\n");
    expect(trailing.stdout.trim().split(".").length).toBe(3);
  });

  test("slow: answers after delayMs", async () => {
    const started = Date.now();
    expect((await getToken(setup({ fail: "slow", delayMs: 400 }))).code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  test("an invalid state file is an error, not a default", async () => {
    const d = setup();
    writeFileSync(d.statePath, JSON.stringify({ sessions: { x: { token: { mdoe: "sticky" } } } }));
    const r = await getToken(d);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`error: datumctl double: invalid state file ${d.statePath}`);
  });
});

async function waitForStart(d: InstalledDatumctlDouble): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const { unfinished } = readCallLog(d.logPath);
    if (unfinished[0]) return unfinished[0].pid;
    await Bun.sleep(20);
  }
  throw new Error("the double never started");
}

describe("signals", () => {
  test.each(["SIGINT", "SIGTERM"] as const)("interrupted + %s → '\\nAborted.' and exit 130", async (signal) => {
    const d = setup({ fail: "interrupted" });
    const proc = Bun.spawn([d.helperPath, "auth", "get-token"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    await waitForStart(d);
    await Bun.sleep(100); // let the double reach its wait
    proc.kill(signal);
    expect(await proc.exited).toBe(130);
    expect(await new Response(proc.stderr).text()).toBe("\nAborted.\n");
    expect(await new Response(proc.stdout).text()).toBe("");
    expect(readCallLog(d.logPath).calls[0]?.exitCode).toBe(130);
  });

  test("hang ignores SIGTERM and dies only of SIGKILL", async () => {
    const d = setup({ fail: "hang" });
    const proc = Bun.spawn([d.helperPath, "auth", "get-token"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const pid = await waitForStart(d);
    expect(pid).toBe(proc.pid); // the wrapper execs: one PID
    await Bun.sleep(100);
    proc.kill("SIGTERM");
    await Bun.sleep(300);
    expect(proc.exitCode).toBeNull();
    proc.kill("SIGKILL");
    await proc.exited;
    expect(proc.signalCode).toBe("SIGKILL");
    expect(readCallLog(d.logPath)).toMatchObject({ calls: [], unfinished: [{ pid }] });
  });
});

describe("call log and the written files (docs/architecture.md#datumctl-double)", () => {
  test("one line per call: times, pid, argv, cwd, env subset, TTYs", async () => {
    const d = setup();
    const env = { ...process.env, DATUM_SESSION: ALICE, DATUM_PROJECT: "web", DATUM_ORG: "", DATUMCTL_NO_UPDATE_CHECK: "1" };
    const proc = Bun.spawn([d.helperPath, "auth", "get-token", "--session", ALICE], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env,
      cwd: d.dir,
    });
    expect(await proc.exited).toBe(0);
    const [call] = readCallLog(d.logPath).calls;
    expect(call).toMatchObject({
      pid: proc.pid,
      argv: ["auth", "get-token", "--session", ALICE],
      cwd: d.dir,
      env: { DATUM_SESSION: ALICE, DATUM_PROJECT: "web", DATUM_ORG: "", DATUM_API_HOST: null, DATUMCTL_NO_UPDATE_CHECK: "1" },
      stdinIsTTY: false,
      stderrIsTTY: false,
      exitCode: 0,
      session: ALICE,
    });
    expect(call!.endMs! >= call!.startMs).toBe(true);
    expect(Date.parse(call!.ts)).toBe(call!.startMs);
  });

  test("the wrapper needs no bun on PATH and carries the state and log paths", async () => {
    const d = setup();
    const r = await run(d, ["auth", "get-token"], { PATH: "/usr/bin:/bin", HOME: process.env.HOME });
    expect(r.code).toBe(0);
    expect(readCallLog(d.logPath).calls.length).toBe(1);
  });

  test("a matching ~/.datumctl/config and service-account key file", async () => {
    const home = mkdtempSync(join(root, "double-home-"));
    const configDir = mkdtempSync(join(root, "double-cfg-"));
    const d = setup({
      session: SA,
      type: "service_account",
      server: "http://127.0.0.1:43123",
      org: "acme",
      project: "web",
      home,
      userConfigDir: configDir,
    });
    const config = readDatumctlConfig(join(home, ".datumctl", "config"));
    expect(config.found).toBe(true);
    if (!config.found) return;
    expect(resolveContext({ env: {}, config })).toMatchObject({
      project: "web",
      session: SA,
      org: "acme",
      apiBase: "http://127.0.0.1:43123",
    });
    expect(probeSessionType(config.config, SA, { XDG_CONFIG_HOME: configDir }, { platform: "linux" })).toMatchObject({
      type: "service_account",
      keyPath: d.keyPath,
    });
    expect(d.userKey).toBe("ci-bot@example.iam.datum.net@auth.datum.net");
  });
});
