/**
 * `installTunnel` in-process, against the local control plane (in this process, over loopback
 * HTTP) and the datumctl test double, with the service manager driven by a recording runner: the
 * root check (this suite runs as root, so it is injected here), what a successful install writes
 * and runs, and that every later failure — the manager refusing, the agent failing before ready —
 * leaves nothing behind. The other validations run through the CLI in test/e2e/service-install.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installDatumctlDouble, type InstalledDatumctlDouble } from "../../../src/devcloud/datumctl-double/install.ts";
import { startControlPlane, type ControlPlane } from "../../../src/devcloud/server.ts";
import { CliError, Exit } from "../../../src/errors.ts";
import { installTunnel, type InstallRequest } from "../../../src/service/install.ts";
import { CommandServiceManager } from "../../../src/service/manager.ts";
import { systemdBackend } from "../../../src/service/systemd.ts";
import { emptyRunState, writeRunState } from "../../../src/state/run-state.ts";
import { parseTunnelConfig } from "../../../src/state/tunnel-config.ts";
import { RecordingRunner } from "./fixtures.ts";

const SA = "ci-bot@example.com@api.datum.net";
const INTERACTIVE = "alice@example.com@api.datum.net";

let cp: ControlPlane;
let base: string;
let sa: InstalledDatumctlDouble;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  cp = await startControlPlane({ port: 0 });
  base = mkdtempSync(join(tmpdir(), "install-"));
  const home = join(base, "home");
  const configDir = join(base, "config");
  sa = installDatumctlDouble(join(base, "double"), {
    session: SA,
    type: "service_account",
    server: cp.url,
    org: "acme",
    project: "web",
    home,
    userConfigDir: configDir,
    extraSessions: { [INTERACTIVE]: { userKey: "alice@example.com@auth.datum.net", type: "interactive" } },
  });
  // A second, interactive session in the same config (no key file).
  const config = readFileSync(sa.configPath as string, "utf8");
  const doc = Bun.YAML.parse(config) as { sessions: Record<string, unknown>[] };
  doc.sessions.push({ name: INTERACTIVE, "user-key": "alice@example.com@auth.datum.net", "user-email": "alice@example.com", endpoint: { server: cp.url } });
  await Bun.write(sa.configPath as string, Bun.YAML.stringify(doc, null, 2));
  env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: configDir,
    DATUM_CONNECT_DIR: join(base, "state"),
    DATUM_CONNECT_UNIT_DIR: join(base, "units"),
    DATUM_CREDENTIALS_HELPER: sa.helperPath,
  };
});

afterAll(async () => {
  await cp.stop();
  rmSync(base, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(join(base, "state"), { recursive: true, force: true });
  rmSync(join(base, "units"), { recursive: true, force: true });
});

const request = (over: Partial<InstallRequest> = {}): InstallRequest => ({ name: "prod-app", endpoint: "127.0.0.1:3000", session: SA, system: false, ...over });

function manager(runner = new RecordingRunner()) {
  return { runner, manager: new CommandServiceManager(systemdBackend({ env, home: env.HOME as string }), runner) };
}

/** Nothing under the state root or the unit directory. */
function nothingWritten(): void {
  const state = env.DATUM_CONNECT_DIR as string;
  expect(existsSync(join(state, "tunnels", "prod-app"))).toBe(false);
  const units = env.DATUM_CONNECT_UNIT_DIR as string;
  expect(existsSync(units) ? readdirSync(units) : []).toEqual([]);
}

const noLauncherPlan = () => ({ path: "/usr/local/bin/datumctl-connect", how: "path" as const });

describe("validations that need injection", () => {
  test("--system without root: exit 77 with sudo -H, nothing written, no manager call", async () => {
    const { runner, manager: m } = manager();
    const err = (await installTunnel(request({ system: true }), { manager: m, env, isRoot: () => false, waitMs: 0, say: () => undefined }).catch((e: unknown) => e)) as CliError;
    expect(err).toBeInstanceOf(CliError);
    expect(err.exit).toBe(Exit.noAuth);
    expect(err.message).toBe("installing a system service needs root");
    expect(err.hint).toContain("sudo -H");
    expect(runner.calls).toEqual([]);
    nothingWritten();
  });

  test("the service-account check comes before the root check (issue order): interactive + not root → 78", async () => {
    const { manager: m } = manager();
    const err = (await installTunnel(request({ system: true, session: INTERACTIVE }), { manager: m, env, isRoot: () => false, waitMs: 0, say: () => undefined }).catch((e: unknown) => e)) as CliError;
    expect(err.exit).toBe(Exit.config);
    nothingWritten();
  });
});

describe("a successful install", () => {
  test("user scope: tunnel.yaml with both paths, the unit, the launcher; reload, enable, start", async () => {
    const { runner, manager: m } = manager();
    const said: string[] = [];
    const result = await installTunnel(request({ session: INTERACTIVE, label: "prod app" }), { manager: m, env, waitMs: 0, say: (l) => said.push(l), which: () => null });
    const dir = join(env.DATUM_CONNECT_DIR as string, "tunnels", "prod-app");
    const config = parseTunnelConfig(readFileSync(join(dir, "tunnel.yaml"), "utf8"), "tunnel.yaml");
    expect(config).toMatchObject({
      name: "prod-app",
      label: "prod app",
      endpoint: "http://127.0.0.1:3000",
      project: "web",
      session: INTERACTIVE,
      org: "acme",
      api_host: cp.url,
      executable: join(dir, "bin", "datumctl-connect"),
      helper: sa.helperPath,
      scope: "user",
      health: null,
    });
    expect(readFileSync(config.executable as string, "utf8")).toStartWith("#!/bin/sh\n");
    const unit = readFileSync(result.unitPath as string, "utf8");
    expect(result.unitPath).toBe(join(env.DATUM_CONNECT_UNIT_DIR as string, "datumctl-connect-user-prod-app.service"));
    expect(unit).toContain(`ExecStart=${config.executable} tunnel run --name prod-app\n`);
    expect(unit).toContain(`Environment="DATUM_CREDENTIALS_HELPER=${sa.helperPath}"`);
    expect(unit).toContain(`Environment="DATUM_CONNECT_DIR=${env.DATUM_CONNECT_DIR}"`);
    expect(runner.calls).toEqual([
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "enable", "datumctl-connect-user-prod-app.service"],
      ["systemctl", "--user", "--no-block", "start", "datumctl-connect-user-prod-app.service"],
    ]);
    // An interactive session in user scope: the warning of issue 5.
    expect(said.some((l) => l.startsWith(`warning: session "${INTERACTIVE}" is an interactive login: this service stops working when that login expires`))).toBe(true);
    // No secret anywhere in what was written.
    for (const text of [unit, readFileSync(join(dir, "tunnel.yaml"), "utf8")]) expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
  });

  test("system scope (service account, root): --system, User= and HOME= in the unit; no interactive warning", async () => {
    const { manager: m } = manager();
    const said: string[] = [];
    const result = await installTunnel(request({ system: true }), { manager: m, env, isRoot: () => true, waitMs: 0, say: (l) => said.push(l), plan: noLauncherPlan });
    const unit = readFileSync(result.unitPath as string, "utf8");
    expect(unit).toContain("ExecStart=/usr/local/bin/datumctl-connect tunnel run --name prod-app --system\n");
    expect(unit).toMatch(/^User=\S+$/m);
    expect(unit).toContain(`Environment="HOME=${env.HOME}"`);
    expect(result.config.scope).toBe("system");
    expect(said.some((l) => l.includes("interactive login"))).toBe(false);
  });

  test("the public-URL template and relay settings of the installing shell go into tunnel.yaml, never into the unit", async () => {
    const { manager: m } = manager();
    const local = {
      DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:18081",
      DATUM_CONNECT_RELAY_URLS: "http://127.0.0.1:18000/_dev/relay/",
      DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: "http://127.0.0.1:18000/_dev/relay/",
    };
    const result = await installTunnel(request(), { manager: m, env: { ...env, ...local }, waitMs: 0, say: () => undefined, plan: noLauncherPlan });
    expect([result.config.public_url, result.config.relay_urls, result.config.placeholder_relay]).toEqual([local.DATUM_CONNECT_PUBLIC_URL, local.DATUM_CONNECT_RELAY_URLS, local.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY]);
    const yaml = parseTunnelConfig(readFileSync(join(result.dir, "tunnel.yaml"), "utf8"), "tunnel.yaml");
    expect(yaml.public_url).toBe(local.DATUM_CONNECT_PUBLIC_URL);
    expect(readFileSync(result.unitPath as string, "utf8")).not.toContain("DATUM_CONNECT_PUBLIC_URL");
  });

  test("a session given by its email resolves to the session's full name", async () => {
    const { manager: m } = manager();
    const result = await installTunnel(request({ session: "ci-bot@example.com" }), { manager: m, env, waitMs: 0, say: () => undefined, plan: noLauncherPlan });
    expect(result.config.session).toBe(SA);
  });
});

describe("later failures leave nothing behind", () => {
  test("the manager refuses (no running systemd): exit 69, unit and directory gone", async () => {
    const { manager: m } = manager(new RecordingRunner(() => ({ code: 1, stderr: "System has not been booted with systemd as init system (PID 1). Can't operate." })));
    const err = (await installTunnel(request(), { manager: m, env, waitMs: 0, say: () => undefined }).catch((e: unknown) => e)) as CliError;
    expect(err.exit).toBe(Exit.unreachable);
    expect(err.message).toContain("systemd is not running here");
    nothingWritten();
  });

  test("the agent fails before it is ready: its exit code, its message, and everything removed again", async () => {
    const state = env.DATUM_CONNECT_DIR as string;
    // The "service" writes a failed run.json when started, as a `tunnel run` that hit exit 77 does.
    const runner = new RecordingRunner((argv) => {
      if (argv.includes("start")) {
        const runState = { ...emptyRunState({ pid: 999_999, startTime: undefined, name: "prod-app", project: "web" }), phase: "failed" as const, exitCode: 77, lastError: { message: "Authentication failed for project web.", hint: "run 'datumctl login'", exit: 77, at: new Date().toISOString() } };
        void writeRunState(join(state, "tunnels", "prod-app", "run.json"), runState);
      }
      return {};
    });
    const { manager: m } = manager(runner);
    const err = (await installTunnel(request(), { manager: m, env, waitMs: 5_000, say: () => undefined, plan: noLauncherPlan }).catch((e: unknown) => e)) as CliError;
    expect(err.exit).toBe(Exit.noAuth);
    expect(err.message).toBe("the service failed before it was ready: Authentication failed for project web.");
    expect(runner.calls.map((c) => c.slice(1).join(" "))).toEqual([
      "--user daemon-reload",
      "--user enable datumctl-connect-user-prod-app.service",
      "--user --no-block start datumctl-connect-user-prod-app.service",
      "--user stop datumctl-connect-user-prod-app.service",
      "--user disable datumctl-connect-user-prod-app.service",
      "--user daemon-reload",
      "--user reset-failed datumctl-connect-user-prod-app.service",
    ]);
    nothingWritten();
  });

  test("a path the unit format cannot carry fails before anything is written", async () => {
    const { runner, manager: m } = manager();
    const err = await installTunnel(request(), { manager: m, env, waitMs: 0, say: () => undefined, plan: () => ({ path: "/opt/it's/datumctl-connect", how: "path" }) }).catch((e: unknown) => e);
    expect(String(err)).toContain("quotes or backslashes");
    expect(runner.calls).toEqual([]);
    nothingWritten();
  });
});
