/**
 * `uninstallTunnel` with a recording manager: what it stops and removes, a named tunnel that was
 * never a service, `--purge` of a tunnel that never ran, and a failed purge that removes nothing
 * (so it can be run again).
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installDatumctlDouble } from "../../../src/devcloud/datumctl-double/install.ts";
import { startControlPlane } from "../../../src/devcloud/server.ts";
import { CliError, Exit } from "../../../src/errors.ts";
import { CommandServiceManager } from "../../../src/service/manager.ts";
import { systemdBackend } from "../../../src/service/systemd.ts";
import { uninstallTunnel } from "../../../src/service/uninstall.ts";
import { loadOrCreateIdentity } from "../../../src/state/identity.ts";
import { writeTunnelConfig } from "../../../src/state/tunnel-config.ts";
import { RecordingRunner, tunnelConfig } from "./fixtures.ts";

const base = mkdtempSync(join(tmpdir(), "uninstall-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const env = { PATH: process.env.PATH, HOME: join(base, "home"), DATUM_CONNECT_DIR: join(base, "state"), DATUM_CONNECT_UNIT_DIR: join(base, "units") };
const dir = join(base, "state", "tunnels", "prod-app");
const unit = join(base, "units", "datumctl-connect-user-prod-app.service");

beforeEach(() => {
  rmSync(join(base, "state"), { recursive: true, force: true });
  rmSync(join(base, "units"), { recursive: true, force: true });
  mkdirSync(join(base, "units"), { recursive: true });
});

function manager() {
  const runner = new RecordingRunner();
  return { runner, manager: new CommandServiceManager(systemdBackend({ env, home: env.HOME }), runner) };
}

describe("uninstall", () => {
  test("nothing of that name → 64", async () => {
    const err = (await uninstallTunnel({ name: "prod-app", system: false, purge: false }, { manager: manager().manager, env }).catch((e: unknown) => e)) as CliError;
    expect(err.exit).toBe(Exit.rejected);
    expect(err.message).toBe('no tunnel named "prod-app"');
  });

  test("--system without root → 77 before anything is touched", async () => {
    await writeTunnelConfig(join(dir, "tunnel.yaml"), tunnelConfig());
    const { runner, manager: m } = manager();
    const err = (await uninstallTunnel({ name: "prod-app", system: true, purge: false }, { manager: m, env, isRoot: () => false }).catch((e: unknown) => e)) as CliError;
    expect(err.exit).toBe(Exit.noAuth);
    expect(err.hint).toContain("sudo -H");
    expect(runner.calls).toEqual([]);
    expect(existsSync(dir)).toBe(true);
  });

  test("a named tunnel that was never a service: its directory goes, no manager call", async () => {
    await writeTunnelConfig(join(dir, "tunnel.yaml"), tunnelConfig());
    const { runner, manager: m } = manager();
    const r = await uninstallTunnel({ name: "prod-app", system: false, purge: false }, { manager: m, env });
    expect(r).toMatchObject({ service: false, removedDir: dir, purged: null, problems: [] });
    expect(existsSync(dir)).toBe(false);
    expect(runner.calls).toEqual([]);
  });

  test("a service that never ran, --purge: stopped, disabled, removed; nothing to purge upstream", async () => {
    await writeTunnelConfig(join(dir, "tunnel.yaml"), tunnelConfig());
    writeFileSync(unit, "[Service]\n");
    const { runner, manager: m } = manager();
    const r = await uninstallTunnel({ name: "prod-app", system: false, purge: true }, { manager: m, env });
    expect(r).toMatchObject({ service: true, unitPath: unit, removedDir: dir, purged: { skipped: "it never ran, so the control plane has no tunnel of it" } });
    expect(runner.calls.map((c) => c.slice(1).join(" "))).toEqual([
      "--user stop datumctl-connect-user-prod-app.service",
      "--user stop datumctl-connect-user-prod-app.service",
      "--user disable datumctl-connect-user-prod-app.service",
      "--user daemon-reload",
      "--user reset-failed datumctl-connect-user-prod-app.service",
    ]);
    expect(existsSync(unit)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  test("a purge the control plane refuses removes nothing and says how to retry", async () => {
    const cp = await startControlPlane({ port: 0 });
    try {
      const double = installDatumctlDouble(join(base, "double"), { session: "ci-bot@example.com@api.datum.net", type: "service_account" });
      await writeTunnelConfig(join(dir, "tunnel.yaml"), tunnelConfig({ api_host: cp.url, helper: double.helperPath }));
      await loadOrCreateIdentity(dir);
      writeFileSync(unit, "[Service]\n");
      cp.cloud.faults.add({ match: { resource: "connectors" }, status: 403, message: "forbidden" }, cp.cloud.now());
      const { manager: m } = manager();
      const err = (await uninstallTunnel({ name: "prod-app", system: false, purge: true }, { manager: m, env, say: () => undefined }).catch((e: unknown) => e)) as CliError;
      expect(err.exit).toBe(Exit.noAuth);
      expect(err.message).toStartWith("could not delete tunnel prod-app from the control plane: Permission denied");
      expect(err.hint).toBe("nothing was removed (the service is stopped); run 'tunnel uninstall --name prod-app --purge' again once that is fixed, or drop --purge to keep the tunnel in Datum");
      expect(existsSync(unit)).toBe(true);
      expect(existsSync(join(dir, "tunnel.yaml"))).toBe(true);
    } finally {
      await cp.stop();
    }
  });
});
