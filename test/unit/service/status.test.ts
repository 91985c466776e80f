/**
 * The service half of `tunnel status`: `inspectService` over a recording manager (installed,
 * enabled, manager state, "unknown" when the manager is unreachable, last exit, recorded paths
 * that no longer resolve) and how the human view renders it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderStatus } from "../../../src/daemon/status-view.ts";
import { inspectService, lastExitOf } from "../../../src/service/inspect.ts";
import { CommandServiceManager, unknownState } from "../../../src/service/manager.ts";
import { systemdBackend } from "../../../src/service/systemd.ts";
import { emptyRunState } from "../../../src/state/run-state.ts";
import { RecordingRunner, tunnelConfig } from "./fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "svc-status-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const units = join(dir, "units");
mkdirSync(units);
const exe = join(dir, "bin", "datumctl-connect");
mkdirSync(join(dir, "bin"));
writeFileSync(exe, "#!/bin/sh\n");
chmodSync(exe, 0o755);
const backend = systemdBackend({ env: { DATUM_CONNECT_UNIT_DIR: units }, home: dir });
const config = tunnelConfig({ executable: exe, helper: join(dir, "gone", "datumctl") });

const SHOW_FAILED = "ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainStatus=69\nExecMainPID=0\nUnitFileState=enabled\nNRestarts=7\nLoadState=loaded\n";

describe("inspectService", () => {
  test("not installed: no manager call at all", async () => {
    const runner = new RecordingRunner();
    const s = await inspectService(new CommandServiceManager(backend, runner), "user", "prod-app", config, undefined, false);
    expect(s).toMatchObject({ installed: false, manager: "systemd", unit: "datumctl-connect-user-prod-app.service", enabled: false });
    expect(runner.calls).toEqual([]);
  });

  test("installed, restarting after exit 69; the helper path no longer resolves", async () => {
    writeFileSync(join(units, "datumctl-connect-user-prod-app.service"), "[Service]\n");
    const runner = new RecordingRunner(() => ({ stdout: SHOW_FAILED }));
    const run = { ...emptyRunState({ pid: 1, startTime: undefined, name: "prod-app", project: "web" }), phase: "failed" as const, exitCode: 69, lastError: { message: "Datum control plane at api.datum.net is unreachable", exit: 69, at: "2026-01-02T03:04:05.000Z" } };
    const s = await inspectService(new CommandServiceManager(backend, runner), "user", "prod-app", config, run, false);
    expect(runner.calls).toEqual([["systemctl", "--user", "show", "-p", "ActiveState,SubState,Result,ExecMainStatus,ExecMainPID,UnitFileState,NRestarts,LoadState", "datumctl-connect-user-prod-app.service"]]);
    expect(s).toMatchObject({
      installed: true,
      unitPath: join(units, "datumctl-connect-user-prod-app.service"),
      enabled: true,
      state: { reachable: true, active: "activating", sub: "auto-restart", result: "exit-code", exitStatus: 69, restarts: 7 },
      lastExit: { code: 69, reason: "exit-code", message: "Datum control plane at api.datum.net is unreachable", at: "2026-01-02T03:04:05.000Z" },
      executable: { path: exe, resolves: true, problem: null },
      helper: { path: join(dir, "gone", "datumctl"), resolves: false, problem: "no such file (moved or uninstalled?)" },
    });

    const text = renderStatus({ name: "prod-app", status: "failed", running: false, config, run, service: s, logTail: [], now: Date.parse("2026-01-02T03:05:00.000Z") });
    expect(text).toContain(
      [
        "Service:",
        "  installed:    yes, systemd datumctl-connect-user-prod-app.service",
        `  unit file:    ${join(units, "datumctl-connect-user-prod-app.service")}`,
        "  enabled:      yes",
        "  manager:      activating (auto-restart); 7 restarts",
        "  last exit:    status 69 (exit-code): Datum control plane at api.datum.net is unreachable at 2026-01-02T03:04:05.000Z",
        `  executable:   ${exe} (resolves)`,
        `  helper:       ${join(dir, "gone", "datumctl")} — DOES NOT RESOLVE: no such file (moved or uninstalled?)`,
        "Auth:",
      ].join("\n"),
    );
  });

  test("installed but systemd is not reachable: manager state unknown", async () => {
    const runner = new RecordingRunner(() => ({ code: 1, stderr: "System has not been booted with systemd as init system (PID 1). Can't operate." }));
    const s = await inspectService(new CommandServiceManager(backend, runner), "user", "prod-app", config, undefined, false);
    expect(s.installed).toBe(true);
    expect(s.enabled).toBeNull();
    expect(s.state.active).toBe("unknown");
    const text = renderStatus({ name: "prod-app", status: "never started", running: false, config, run: undefined, service: s, logTail: [], now: 0 });
    expect(text).toContain("  enabled:      unknown\n  manager:      unknown (systemd is not reachable: System has not been booted with systemd as init system (PID 1). Can't operate.)\n");
  });
});

describe("lastExitOf", () => {
  const running = unknownState("x");
  test("nothing to say while it runs cleanly", () => {
    expect(lastExitOf(emptyRunState({ pid: 1, startTime: undefined, name: "x", project: "p" }), true, { ...running, reachable: true, result: "success" })).toBeNull();
  });
  test("a clean stop", () => {
    const run = { ...emptyRunState({ pid: 1, startTime: undefined, name: "x", project: "p" }), phase: "stopped" as const, exitCode: 0 };
    expect(lastExitOf(run, false, running)).toEqual({ code: 0, reason: null, message: null, at: run.updatedAt });
  });
  test("the watchdog killed it (the manager's word, no record of the agent's own)", () => {
    expect(lastExitOf(undefined, false, { ...running, reachable: true, result: "watchdog", exitStatus: null })).toEqual({ code: null, reason: "watchdog", message: null, at: null });
  });
});

test("not installed renders one line with where to go", () => {
  const text = renderStatus({
    name: "dev-app",
    status: "never started",
    running: false,
    config: undefined,
    run: undefined,
    service: { installed: false, manager: "systemd", managerName: "systemd", unit: "u", unitPath: "/u", enabled: false, state: unknownState("not installed"), lastExit: null, executable: { path: null, resolves: false, problem: "none recorded" }, helper: { path: null, resolves: false, problem: "none recorded" } },
    logTail: [],
    now: 0,
  });
  expect(text).toContain("Service:\n  installed:    no (a service starts at boot: 'tunnel install'; in the background now: 'tunnel listen --detach')\nAuth:");
});
