/**
 * The whole service life through the real CLI against `dev cloud`, with the service manager played
 * by test/unit/service/fake-systemctl.ts first on PATH (this machine runs no systemd; the real
 * `systemctl` is never reached): `install` renders the unit, calls daemon-reload / enable /
 * start --no-block, and returns the verified URL once the "service" (the unit's own ExecStart —
 * here the source-checkout launcher — run with the unit's Environment=) is ready; `status` shows
 * the service side; `stop` goes through the manager; `start` brings it back; `uninstall --purge`
 * removes unit, state and the tunnel in the control plane. Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 60000 test/e2e/service-lifecycle.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseTunnelConfig } from "../../src/state/tunnel-config.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { serviceHarness, type ServiceHarness } from "../unit/service/harness.ts";

const PROJECT = "local-project";
const NAME = "svc-life";
const UNIT = `datumctl-connect-user-${NAME}.service`;

let datum: LocalDatum;
let origin: Server<undefined>;
let h: ServiceHarness;
let url = "";

function cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  const env = h.env({ ...datum.env, DATUM_CONNECT_DIR: h.stateDir, NO_COLOR: "1" });
  return runCli(args, { exactEnv: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)), timeoutMs });
}

async function snapshot(): Promise<Record<string, { metadata: { name: string } }[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, Record<string, { metadata: { name: string } }[]>> }).projects[PROJECT] ?? {};
}

const calls = () => h.systemctlCalls().map((c) => c.join(" "));

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("lifecycle origin") });
  h = serviceHarness({
    base: {},
    sessions: [{ name: datum.env.DATUM_SESSION as string, userKey: "dev@local.datum@auth.datum.net", email: "dev@local.datum", server: datum.apiUrl }],
    org: "local-org",
    project: PROJECT,
  });
});

afterAll(async () => {
  h?.cleanup();
  origin?.stop(true);
  await datum?.stop();
});

describe("install → status → stop → start → uninstall", () => {
  test("install: unit rendered, manager driven, returns the verified URL", async () => {
    const r = await cli(["tunnel", "install", "--name", NAME, "--endpoint", `127.0.0.1:${origin.port}`, "--session", datum.env.DATUM_SESSION as string]);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    url = r.stdout.trim();
    expect(url).toMatch(/^http:\/\/[a-z]+-[a-z]+-[a-z0-9]+\.datumproxy\.localhost:\d+$/);
    expect(r.stderr).toContain(`Installed tunnel ${NAME} as systemd service datumctl-connect-user-${NAME} (${join(h.unitDir, UNIT)})`);
    expect(r.stderr).toContain("is an interactive login: this service stops working when that login expires");
    expect(calls().slice(0, 3)).toEqual(["--user daemon-reload", `--user enable ${UNIT}`, `--user --no-block start ${UNIT}`]);

    const config = parseTunnelConfig(readFileSync(join(h.stateDir, "tunnels", NAME, "tunnel.yaml"), "utf8"), "tunnel.yaml");
    expect(config.executable).toBe(join(h.stateDir, "tunnels", NAME, "bin", "datumctl-connect"));
    expect(config.helper).toBe(datum.env.DATUM_CREDENTIALS_HELPER as string);
    const unit = readFileSync(join(h.unitDir, UNIT), "utf8");
    expect(unit).toContain(`ExecStart=${config.executable} tunnel run --name ${NAME}\n`);

    const res = await fetch(url);
    expect([res.status, await res.text()]).toEqual([200, "lifecycle origin"]);

    const analyze = Bun.which("systemd-analyze");
    if (analyze) {
      const v = Bun.spawnSync([analyze, "verify", "--man=no", join(h.unitDir, UNIT)], { stderr: "pipe", stdout: "pipe" });
      expect({ code: v.exitCode, stderr: v.stderr.toString() }).toEqual({ code: 0, stderr: "" });
    } else console.log("skip: systemd-analyze not found; the installed unit is not verified");
  }, 60_000);

  test("status: installed, enabled, active, paths resolve (json and human)", async () => {
    const r = await cli(["tunnel", "status", "--name", NAME, "-o", "json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { status: string; run: { pid: number }; service: Record<string, unknown> & { state: Record<string, unknown> } };
    expect(doc.status).toBe("ready");
    expect(doc.service).toMatchObject({
      installed: true,
      manager: "systemd",
      unit: UNIT,
      unitPath: join(h.unitDir, UNIT),
      enabled: true,
      executable: { resolves: true },
      helper: { resolves: true },
    });
    expect(doc.service.state).toMatchObject({ reachable: true, active: "active", sub: "running", pid: doc.run.pid });
    const human = await cli(["tunnel", "status", "--name", NAME]);
    expect(human.stdout).toContain(`Service:\n  installed:    yes, systemd ${UNIT}\n  unit file:    ${join(h.unitDir, UNIT)}\n  enabled:      yes\n  manager:      active (running); PID ${doc.run.pid}, 0 restarts\n`);
  });

  test("stop goes through the manager, the tunnel is disabled and stays down", async () => {
    const before = calls().length;
    const r = await cli(["tunnel", "stop", "--name", NAME]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`Stopped tunnel ${NAME} (systemd service ${UNIT})`);
    expect(calls().slice(before)).toEqual([`--user stop ${UNIT}`]);
    const res = await fetch(url);
    expect(res.status).toBe(503);
    const json = await cli(["tunnel", "status", "--name", NAME, "-o", "json"]);
    expect((JSON.parse(json.stdout) as { status: string; service: { state: { active: string }; lastExit: { code: number } } })).toMatchObject({
      status: "stopped",
      service: { state: { active: "inactive" }, lastExit: { code: 0 } },
    });
  }, 60_000);

  test("start: through the manager, verified ready again", async () => {
    const before = calls().length;
    const r = await cli(["tunnel", "start", "--name", NAME]);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout.trim()).toBe(url);
    expect(calls().slice(before)[0]).toBe(`--user --no-block start ${UNIT}`);
    const res = await fetch(url);
    expect([res.status, await res.text()]).toEqual([200, "lifecycle origin"]);
  }, 60_000);

  test("start on a named tunnel that is not a service points to listen --detach", async () => {
    const r = await cli(["tunnel", "start", "--name", "nope"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('error: no tunnel named "nope"');
  });

  test("uninstall --purge: stopped, unit and state removed, tunnel deleted upstream", async () => {
    const tunnelsBefore = (await snapshot()).httpproxies ?? [];
    expect(tunnelsBefore).toHaveLength(1);
    const before = calls().length;
    const r = await cli(["tunnel", "uninstall", "--name", NAME, "--purge"]);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain(`Uninstalled tunnel ${NAME}: removed systemd service ${join(h.unitDir, UNIT)}; deleted ${join(h.stateDir, "tunnels", NAME)}; deleted tunnel ${tunnelsBefore[0]?.metadata.name} from the control plane`);
    expect(calls().slice(before)).toEqual([`--user stop ${UNIT}`, `--user stop ${UNIT}`, `--user disable ${UNIT}`, "--user daemon-reload", `--user reset-failed ${UNIT}`]);
    expect(existsSync(join(h.unitDir, UNIT))).toBe(false);
    expect(existsSync(join(h.stateDir, "tunnels", NAME))).toBe(false);
    const after = await snapshot();
    expect(after.httpproxies ?? []).toEqual([]);
    expect(after.connectoradvertisements ?? []).toEqual([]);
    const status = await cli(["tunnel", "status", "--name", NAME]);
    expect(status.code).toBe(64);
  }, 60_000);
});
