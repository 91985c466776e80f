/**
 * `uninstallTunnel` with a recording manager: what it stops and removes, a named tunnel that was
 * never a service, `--purge` of a tunnel that never ran, and a failed purge that removes nothing
 * (so it can be run again). A group's purge (docs/groups.md) deletes the tunnels its services.json
 * lists that are still on its Connector, against the local control plane, and keeps the others.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installDatumctlDouble } from "../../../src/devcloud/datumctl-double/install.ts";
import { startControlPlane } from "../../../src/devcloud/server.ts";
import { ControlPlaneClient } from "../../../src/controlplane/client.ts";
import { CliError, Exit } from "../../../src/errors.ts";
import { CommandServiceManager } from "../../../src/service/manager.ts";
import { systemdBackend } from "../../../src/service/systemd.ts";
import { groupPurgePlan, uninstallTunnel } from "../../../src/service/uninstall.ts";
import { loadOrCreateIdentity } from "../../../src/state/identity.ts";
import { writeTunnelConfig } from "../../../src/state/tunnel-config.ts";
import { TunnelService } from "../../../src/tunnel/service.ts";
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

describe("a group's --purge", () => {
  test.each<[string, Record<string, string>, { id: string; connectorName?: string }[], string | undefined, ReturnType<typeof groupPurgePlan>]>([
    [
      "on its Connector: deleted; elsewhere or gone: kept with the reason",
      { web: "tunnel-a", old: "tunnel-b", moved: "tunnel-c", gone: "tunnel-x" },
      [{ id: "tunnel-a", connectorName: "c-mine" }, { id: "tunnel-b", connectorName: "c-mine" }, { id: "tunnel-c", connectorName: "c-other" }],
      "c-mine",
      {
        delete: [
          { service: "old", id: "tunnel-b" },
          { service: "web", id: "tunnel-a" },
        ],
        kept: [
          { service: "gone", id: "tunnel-x", reason: "not in the control plane any more" },
          { service: "moved", id: "tunnel-c", reason: "served by Connector c-other, not this group's" },
        ],
      },
    ],
    [
      "no Connector of this group: nothing is provably its own",
      { web: "tunnel-a" },
      [{ id: "tunnel-a", connectorName: "c-mine" }],
      undefined,
      { delete: [], kept: [{ service: "web", id: "tunnel-a", reason: "served by Connector c-mine, not this group's" }] },
    ],
  ])("plan: %s", (_what, ids, tunnels, connector, expected) => {
    expect(groupPurgePlan(ids, tunnels, connector)).toEqual(expected);
  });

  test("against the control plane: every recorded tunnel on the group's Connector is deleted, disabled ones too; others stay", async () => {
    const cp = await startControlPlane({ port: 0 });
    try {
      const double = installDatumctlDouble(join(base, "double-group"), { session: "ci-bot@example.com@api.datum.net", type: "service_account" });
      const gdir = join(base, "state", "tunnels", "web-stack");
      await writeTunnelConfig(join(gdir, "tunnel.yaml"), tunnelConfig({ name: "web-stack", endpoint: null, label: null, api_host: cp.url, helper: double.helperPath }));
      writeFileSync(join(gdir, "group.yaml"), "name: web-stack\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:3000\n");
      const identity = await loadOrCreateIdentity(gdir);
      const client = new ControlPlaneClient({ apiBase: cp.url, project: "web", tokens: { token: async () => "t", invalidate: async () => "t" } });
      const quiet = { warn: () => undefined, debug: () => undefined };
      const details = { homeRelay: "https://iroh-relay.us-east-1.datumconnect.net./", addresses: [{ address: "127.0.0.1", port: 53211 }] };
      const as = (endpointId: string, file: string) => new TunnelService({ client, endpointId, allowListPath: join(base, file), env: {}, log: quiet });
      const mine = as(identity.endpointIdHex, "mine.yml");
      const app = await mine.create({ label: "web-stack/app", endpoint: "127.0.0.1:3000", details });
      const old = await mine.create({ label: "web-stack/old", endpoint: "127.0.0.1:8080", details });
      await mine.setEnabled(old.id, false); // removed by a reload: disabled, kept
      const other = await as("f".repeat(64), "other.yml").create({ label: "someone else's", endpoint: "127.0.0.1:4000", details });
      writeFileSync(join(gdir, "services.json"), JSON.stringify({ app: app.id, old: old.id, moved: other.id, gone: "tunnel-zzzzz" }));

      const said: string[] = [];
      const { manager: m } = manager();
      const r = await uninstallTunnel({ name: "web-stack", system: false, purge: true }, { manager: m, env, say: (l) => said.push(l) });
      expect(r).toMatchObject({ group: true, service: false, removedDir: gdir });
      expect(r.purged).toEqual({
        deleted: [
          { service: "app", id: app.id },
          { service: "old", id: old.id },
        ],
        kept: [
          { service: "gone", id: "tunnel-zzzzz", reason: "not in the control plane any more" },
          { service: "moved", id: other.id, reason: `served by Connector ${other.connectorName}, not this group's` },
        ],
        connectorDeleted: true,
      });
      const left = (await mine.list()).filter((t) => !t.deleting).map((t) => t.id);
      expect(left).toEqual([other.id]);
      expect(existsSync(gdir)).toBe(false);
    } finally {
      await cp.stop();
    }
  });
});
