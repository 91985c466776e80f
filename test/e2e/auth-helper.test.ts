/**
 * The real TokenSource and credentials-helper runner against the real datumctl double, spawned
 * through its sh wrapper exactly as DATUM_CREDENTIALS_HELPER would be.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runGetToken } from "../../src/auth/credentials-helper.ts";
import { TokenSource, type TokenEvent } from "../../src/auth/token-source.ts";
import { readCallLog, type CallRecord } from "../../src/devcloud/datumctl-double/call-log.ts";
import {
  installDatumctlDouble,
  updateDoubleState,
  type InstallDatumctlDoubleOptions,
} from "../../src/devcloud/datumctl-double/install.ts";
import { CliError } from "../../src/errors.ts";
import { pidExists } from "../helpers/wait.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;

function setup(options: InstallDatumctlDoubleOptions = {}) {
  return installDatumctlDouble(mkdtempSync(join(root, "auth-e2e-")), options);
}

async function caught(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return err as CliError;
  }
  throw new Error("expected a rejection");
}

function overlapping(calls: CallRecord[]): boolean {
  const sorted = [...calls].sort((a, b) => a.startMs - b.startMs);
  return sorted.some((c, i) => i > 0 && c.startMs < (sorted[i - 1]!.endMs as number));
}

describe("TokenSource over the datumctl double", () => {
  test("success: token trimmed, --session passed, stderr piped, no update check, stderr noise ignored", async () => {
    const d = setup({ fail: "stdout-trailing-newline" });
    const source = new TokenSource({ helper: d.helperPath, session: d.session, env: { ...process.env, DATUM_SESSION: d.session } });
    const token = await source.token();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(token.endsWith("\n")).toBe(false);
    expect(source.expiresAt()).toBeGreaterThan(Date.now() + 59 * 60_000);

    updateDoubleState(d.statePath, (s) => {
      s.sessions[d.session]!.fail = "stderr-noise";
    });
    const other = new TokenSource({ helper: d.helperPath, session: d.session });
    expect(await other.token()).toBe(token); // sticky: the same stored token

    const { calls } = readCallLog(d.logPath);
    expect(calls.length).toBe(2);
    for (const call of calls) {
      expect(call.argv).toEqual(["auth", "get-token", "--session", d.session]);
      expect(call.stderrIsTTY).toBe(false);
      expect(call.stdinIsTTY).toBe(false);
      expect(call.env.DATUMCTL_NO_UPDATE_CHECK).toBe("1");
      expect(call.exitCode).toBe(0);
    }
    expect(calls[0]!.env.DATUM_SESSION).toBe(d.session);
  });

  test("no session known: get-token runs without --session (keyring active user)", async () => {
    const d = setup();
    const token = await new TokenSource({ helper: d.helperPath }).token();
    expect(token.length).toBeGreaterThan(20);
    const { calls } = readCallLog(d.logPath);
    expect(calls.map((c) => c.argv)).toEqual([["auth", "get-token"]]);
    expect(calls[0]!.session).toBe(d.session);
  });

  test("helper unset → 78 with the SDK's message", async () => {
    const err = await caught(new TokenSource({ helper: undefined }).token());
    expect(err.exit).toBe(78);
    expect(err.message).toBe("DATUM_CREDENTIALS_HELPER is not set; is this plugin running via datumctl?");
    expect(err.hint).toContain("datumctl connect");
  });

  test.each([
    ["missing path", (dir: string) => join(dir, "gone", "datumctl"), /nothing is there/],
    [
      "not executable",
      (dir: string) => {
        const p = join(dir, "datumctl");
        writeFileSync(p, "#!/bin/sh\necho nope\n");
        chmodSync(p, 0o644);
        return p;
      },
      /not executable/,
    ],
    [
      "a directory",
      (dir: string) => {
        const p = join(dir, "datumctl");
        mkdirSync(p);
        return p;
      },
      /is a directory/,
    ],
  ])("helper %s → 78 'credentials helper not found at <path>'", async (_name, make, hint) => {
    const helper = make(mkdtempSync(join(root, "auth-missing-")));
    const err = await caught(new TokenSource({ helper }).token());
    expect(err.exit).toBe(78);
    expect(err.message).toBe(`credentials helper not found at ${helper}`);
    expect(err.hint).toMatch(hint);
  });

  test.each([
    [
      "interactive session expired",
      { fail: "interactive-expired" } as const,
      "datumctl auth get-token failed: Authentication session has expired or refresh token is no longer valid.",
      "Please re-authenticate using: `datumctl login`",
    ],
    [
      "service account revoked",
      { fail: "sa-revoked", type: "service_account" } as const,
      "datumctl auth get-token failed: Failed to exchange JWT for access token.",
      "Please re-authenticate using: `datumctl login --credentials <file>`",
    ],
    [
      "keyring diverged",
      { fail: "keyring-missing" } as const,
      "datumctl auth get-token failed: failed to get token source: credentials for user 'alice@example.com@auth.datum.net' not found in keyring",
      undefined,
    ],
  ])("failing helper (%s) → 77 carrying its stderr", async (_name, options, message, hint) => {
    const d = setup(options);
    const err = await caught(new TokenSource({ helper: d.helperPath, session: d.session }).token());
    expect(err.exit).toBe(77);
    expect(err.message).toBe(message);
    expect(err.hint).toBe(hint as string);
    expect(err.details).toStartWith("error: ");
  });

  test("unknown session → 77 with datumctl's exact words", async () => {
    const d = setup();
    const err = await caught(new TokenSource({ helper: d.helperPath, session: "typo@api.datum.net" }).token());
    expect(err.message).toBe(
      `datumctl auth get-token failed: no session named "typo@api.datum.net" — run 'datumctl login' or 'datumctl auth update-kubeconfig'`,
    );
  });

  test("hanging helper is SIGKILLed at the timeout and reaped", async () => {
    const d = setup({ fail: "hang" });
    const started = Date.now();
    const err = await caught(new TokenSource({ helper: d.helperPath, session: d.session, timeoutMs: 1_500 }).token());
    const elapsed = Date.now() - started;
    expect(err.exit).toBe(77);
    expect(err.message).toBe("datumctl auth get-token did not answer within 1.5s");
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(4_000);
    const { calls, unfinished } = readCallLog(d.logPath);
    expect(calls).toEqual([]);
    expect(unfinished.length).toBe(1);
    expect(pidExists(unfinished[0]!.pid)).toBe(false);
  });

  test("aborting a call kills the helper (datumctl 'interrupted' mode never gets to print)", async () => {
    const d = setup({ fail: "interrupted" });
    const controller = new AbortController();
    const call = runGetToken({ helper: d.helperPath, session: d.session, signal: controller.signal });
    await Bun.sleep(400);
    controller.abort();
    await expect(call).rejects.toThrow();
    const { unfinished } = readCallLog(d.logPath);
    expect(unfinished.length).toBe(1);
    expect(pidExists(unfinished[0]!.pid)).toBe(false);
  });

  test("slow helper within the timeout succeeds", async () => {
    const d = setup({ fail: "slow", delayMs: 700 });
    const started = Date.now();
    const token = await new TokenSource({ helper: d.helperPath, session: d.session, timeoutMs: 5_000 }).token();
    expect(token.split(".").length).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  test("concurrent invalidate() of one token → exactly one helper call", async () => {
    const d = setup({ token: { mode: "always-new" } });
    const source = new TokenSource({ helper: d.helperPath, session: d.session });
    const first = await source.token();
    const results = await Promise.all(Array.from({ length: 6 }, () => source.invalidate(first)));
    expect(new Set(results).size).toBe(1);
    expect(results[0]).not.toBe(first);
    expect(readCallLog(d.logPath).calls.length).toBe(2);
    // A late 401 for the old token does not call again.
    expect(await source.invalidate(first)).toBe(results[0] as string);
    expect(readCallLog(d.logPath).calls.length).toBe(2);
  });

  test("helper calls never overlap, across sources in one process", async () => {
    const d = setup({ token: { mode: "always-new" } });
    const a = new TokenSource({ helper: d.helperPath, session: d.session });
    const b = new TokenSource({ helper: d.helperPath });
    const [ta, tb] = await Promise.all([a.token(), b.token()]);
    await Promise.all([a.invalidate(ta), a.invalidate(ta), b.invalidate(tb), a.token(), b.token()]);
    const { calls } = readCallLog(d.logPath);
    expect(calls.length).toBe(4);
    expect(overlapping(calls)).toBe(false);
  });

  test("an already-expired token is not re-fetched in a hot loop", async () => {
    const d = setup({ fail: "expired-token" });
    const source = new TokenSource({ helper: d.helperPath, session: d.session, random: () => 0 });
    const token = await source.token();
    expect(source.expiresAt()).toBeLessThan(Date.now());
    // Within the quiet period the cached (expired) token is returned; the server's 401 decides.
    for (let i = 0; i < 5; i++) expect(await source.token()).toBe(token);
    expect(readCallLog(d.logPath).calls.length).toBe(1);
  });

  test("flaky helper: the failure backs off, then the next call succeeds", async () => {
    const d = setup({ fail: "flaky:1" });
    const events: TokenEvent[] = [];
    const source = new TokenSource({ helper: d.helperPath, session: d.session, random: () => 0, onEvent: (e) => events.push(e) });
    const err = await caught(source.token());
    expect(err.message).toStartWith('datumctl auth get-token failed: failed to get token: Post "https://auth.datum.net/oauth/v2/token"');
    await expect(source.token()).rejects.toThrow(err.message); // quiet: no second call yet
    expect(readCallLog(d.logPath).calls.length).toBe(1);
    await Bun.sleep(1_050);
    expect((await source.token()).split(".").length).toBe(3);
    expect(events.map((e) => e.type)).toEqual(["refresh_failed", "refreshed"]);
  });

  test("the token never reaches errors, the helper's argv or its environment", async () => {
    const d = setup();
    const events: TokenEvent[] = [];
    // Our own environment even holds a copy of the token; the child must not get it.
    const source = new TokenSource({ helper: d.helperPath, session: d.session, onEvent: (e) => events.push(e) });
    const token = await source.token();
    const leaky = new TokenSource({
      helper: d.helperPath,
      session: d.session,
      env: { ...process.env, DATUM_ACCESS_TOKEN: token, SOMETHING_ELSE: `Bearer ${token}` },
    });
    expect(await leaky.token()).toBe(token);

    updateDoubleState(d.statePath, (s) => {
      s.sessions[d.session]!.fail = "interactive-expired";
    });
    const err = await caught(source.invalidate(token));
    expect(err.exit).toBe(77);
    for (const text of [err.message, err.hint ?? "", err.details ?? "", JSON.stringify(events), JSON.stringify(source.state())]) {
      expect(text).not.toContain(token);
    }
    const { calls } = readCallLog(d.logPath);
    expect(calls.length).toBe(3);
    for (const call of calls) {
      expect(call.argvHasIssuedToken).toBe(false);
      expect(call.envWithIssuedToken).toEqual([]);
      expect(JSON.stringify(call)).not.toContain(token);
    }
  });

  test("background loop against the double: starts, refreshes, stops cleanly", async () => {
    const d = setup({ token: { mode: "sticky", lifetimeSec: 3600 } });
    const events: TokenEvent[] = [];
    const source = new TokenSource({ helper: d.helperPath, session: d.session, onEvent: (e) => events.push(e) });
    source.start();
    const token = await source.token();
    await source.stop();
    expect(token.split(".").length).toBe(3);
    expect(events.map((e) => e.type)).toEqual(["refreshed"]);
    expect(source.state()).toMatchObject({ running: false, hasToken: true, counts: { refreshed: 1 } });
    expect(readCallLog(d.logPath).calls.length).toBe(1);
  });
});
