/**
 * `dev cloud --login`: the pure decisions (overwrite or not, the export lines, the config) as
 * tables, and `logIn` on real files in a temp dir with a real datumctl double installed there.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDatumctlConfig } from "../../../src/context/datumctl-config.ts";
import { probeSessionType } from "../../../src/context/session-type.ts";
import { installDatumctlDouble, readDoubleState } from "../../../src/devcloud/datumctl-double/install.ts";
import { CliError } from "../../../src/errors.ts";
import { configDecision, LOGIN_SERVICE_ACCOUNT, LOGIN_USER, logIn, loginExports } from "../../../src/devcloud/login.ts";

describe("configDecision", () => {
  test.each([
    ["no config yet", "write", undefined, "a", false],
    ["no config yet, --force", "write", undefined, "a", true],
    ["the same bytes (a restart of the same local Datum)", "unchanged", "a", "a", false],
    ["another config", "refuse", "b", "a", false],
    ["another config, --force", "replace", "b", "a", true],
  ] as const)("%s → %s", (_name, decision, existing, next, force) => {
    expect(configDecision(existing, next, force)).toBe(decision);
  });
});

describe("loginExports", () => {
  const base = { configDir: "/h/.config", helperDir: "/c/datumctl/bin", path: "/usr/bin:/bin" };
  test.each([
    ["another home: HOME and its config dir", { home: "/h", callerHome: "/root" }, { HOME: "/h", XDG_CONFIG_HOME: "/h/.config" }],
    ["no HOME at all: set it", { home: "/h", callerHome: undefined }, { HOME: "/h", XDG_CONFIG_HOME: "/h/.config" }],
    ["the caller's own home: left as it is", { home: "/h", callerHome: "/h/" }, {}],
  ])("%s", (_name, homes, extra) => {
    expect(loginExports({ ...base, ...homes })).toEqual({ ...extra, PATH: "/c/datumctl/bin:/usr/bin:/bin", DATUMCTL_TRUSTED_PLUGINS: "connect" });
  });
  test("no PATH: the double's directory alone", () => {
    expect(loginExports({ ...base, home: "/h", callerHome: "/h", path: undefined }).PATH).toBe("/c/datumctl/bin");
  });
});

describe("logIn", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const setup = () => {
    dir = mkdtempSync(join(tmpdir(), "login-"));
    const server = "http://127.0.0.1:4567";
    const double = installDatumctlDouble(join(dir, "double"), { session: "dev@local.datum@127.0.0.1:4567", server, org: "local-org", project: "p" });
    const home = join(dir, "home");
    return { double, home, server, opts: { home, force: false, double, server, org: "local-org", project: "p", env: { HOME: "/elsewhere", PATH: "/bin" } } };
  };

  test("a fresh home: the config the CLI reads, alice current, ci-bot a service account by its key file, both served by the double", () => {
    const { double, home, server, opts } = setup();
    const r = logIn(opts);
    expect(r.decision).toBe("write");
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, ".config") };
    const read = readDatumctlConfig(join(home, ".datumctl", "config"));
    if (!read.found) throw new Error("no config written");
    const config = { config: read.config };
    expect(config.config?.["current-context"]).toBe(`${LOGIN_USER.session}/local-org/p`);
    expect(config.config?.sessions?.map((s) => [s.name, s.endpoint?.server])).toEqual([
      ["dev@local.datum@127.0.0.1:4567", server],
      [LOGIN_USER.session, server],
      [LOGIN_SERVICE_ACCOUNT.session, server],
    ]);
    expect(probeSessionType(config.config, LOGIN_SERVICE_ACCOUNT.session, env).type).toBe("service_account");
    expect(probeSessionType(config.config, LOGIN_USER.session, env).type).toBe("interactive");
    expect(r.keyPath).toStartWith(join(home, ".config", "datumctl", "service-accounts"));
    const state = readDoubleState(double.statePath);
    expect(state.sessions[LOGIN_SERVICE_ACCOUNT.session]).toMatchObject({ userKey: LOGIN_SERVICE_ACCOUNT.userKey, type: "service_account", apiHost: server });
    expect(state.sessions[LOGIN_USER.session]).toMatchObject({ userKey: LOGIN_USER.userKey, type: "interactive", apiHost: server });
    expect(state).toMatchObject({ activeSession: LOGIN_USER.session, keyringActiveUser: LOGIN_USER.userKey });
    expect(r.env).toMatchObject({ HOME: home, PATH: `${join(dir, "double", "bin")}:/bin` });
  });

  test("again on the same home (a restart): unchanged, the same key file", () => {
    const { opts } = setup();
    const first = logIn(opts);
    const key = readFileSync(first.keyPath, "utf8");
    const again = logIn(opts);
    expect(again.decision).toBe("unchanged");
    expect(readFileSync(again.keyPath, "utf8")).toBe(key);
  });

  test("someone's existing config: refused (64, nothing written); --force replaces it and keeps the old one", () => {
    const { home, opts } = setup();
    mkdirSync(join(home, ".datumctl"), { recursive: true });
    writeFileSync(join(home, ".datumctl", "config"), "mine: true\n");
    const err = (() => {
      try {
        logIn(opts);
      } catch (e) {
        return e;
      }
    })() as CliError;
    expect(err).toBeInstanceOf(CliError);
    expect([err.exit, err.code]).toEqual([64, "conflict"]);
    expect(err.message).toBe(`${join(home, ".datumctl", "config")} already exists; dev cloud --login will not replace a datumctl config`);
    expect(readFileSync(join(home, ".datumctl", "config"), "utf8")).toBe("mine: true\n");
    expect(existsSync(join(home, ".config"))).toBe(false);

    const forced = logIn({ ...opts, force: true });
    expect(forced.decision).toBe("replace");
    expect(readFileSync(forced.backup as string, "utf8")).toBe("mine: true\n");
    expect(readFileSync(join(home, ".datumctl", "config"), "utf8")).toContain(LOGIN_USER.session);
  });
});
