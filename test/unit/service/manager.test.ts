/**
 * `CommandServiceManager` over the systemd backend, driven by a recording runner (no real
 * `systemctl` is ever called): what it writes, which argument vectors it runs in which order, how
 * it undoes a failed install, and how manager failures become exit codes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError, Exit } from "../../../src/errors.ts";
import { CommandServiceManager, managerFailure, processRunner } from "../../../src/service/manager.ts";
import { renderSystemdUnit, systemdBackend } from "../../../src/service/systemd.ts";
import { RecordingRunner, userSpec } from "./fixtures.ts";

const unitDir = mkdtempSync(join(tmpdir(), "units-"));
afterAll(() => rmSync(unitDir, { recursive: true, force: true }));
const backend = systemdBackend({ env: { DATUM_CONNECT_UNIT_DIR: unitDir }, home: "/home/alice" });
const unitFile = join(unitDir, "datumctl-connect-user-prod-app.service");
const NOT_BOOTED = "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down";

describe("install / uninstall", () => {
  test("install writes the unit (0644), then reloads, enables and starts it", async () => {
    const runner = new RecordingRunner();
    const m = new CommandServiceManager(backend, runner);
    expect(await m.isInstalled("user", "prod-app")).toBe(false);
    await m.install(userSpec());
    expect(readFileSync(unitFile, "utf8")).toBe(renderSystemdUnit(userSpec()));
    expect(statSync(unitFile).mode & 0o777).toBe(0o644);
    expect(await m.isInstalled("user", "prod-app")).toBe(true);
    expect(runner.calls).toEqual([
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "enable", "datumctl-connect-user-prod-app.service"],
      ["systemctl", "--user", "--no-block", "start", "datumctl-connect-user-prod-app.service"],
    ]);

    const removal = new RecordingRunner((argv) => (argv.includes("stop") ? { code: 5, stderr: "Unit datumctl-connect-user-prod-app.service not loaded." } : {}));
    const problems = await new CommandServiceManager(backend, removal).uninstall("user", "prod-app");
    expect(existsSync(unitFile)).toBe(false);
    expect(removal.calls).toEqual([
      ["systemctl", "--user", "stop", "datumctl-connect-user-prod-app.service"],
      ["systemctl", "--user", "disable", "datumctl-connect-user-prod-app.service"],
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "reset-failed", "datumctl-connect-user-prod-app.service"],
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("not loaded");
  });

  test("a failed step undoes the install: the unit is removed again", async () => {
    const runner = new RecordingRunner((argv) => (argv.includes("enable") ? { code: 1, stderr: "Failed to enable unit: Unit file is masked." } : {}));
    const m = new CommandServiceManager(backend, runner);
    const err = await m.install(userSpec()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exit).toBe(Exit.runtime);
    expect((err as CliError).message).toBe("'systemctl --user enable datumctl-connect-user-prod-app.service' failed (exit 1): Failed to enable unit: Unit file is masked.");
    expect(existsSync(unitFile)).toBe(false);
    expect(runner.calls.map((c) => c.slice(1, 3).join(" "))).toEqual([
      "--user daemon-reload",
      "--user enable",
      "--user stop",
      "--user disable",
      "--user daemon-reload",
      "--user reset-failed",
    ]);
  });

  test("no running systemd (this build machine): exit 69, and the unit is not left behind", async () => {
    const m = new CommandServiceManager(backend, new RecordingRunner(() => ({ code: 1, stderr: NOT_BOOTED })));
    const err = (await m.install(userSpec()).catch((e: unknown) => e)) as CliError;
    expect(err.exit).toBe(Exit.unreachable);
    expect(err.message).toStartWith("systemd is not running here: 'systemctl --user daemon-reload' failed: System has not been booted with systemd");
    expect(existsSync(unitFile)).toBe(false);
  });
});

describe("failures and queries", () => {
  test.each([
    ["not installed", { code: 127, stdout: "", stderr: "systemctl: command not found" }, Exit.unreachable, /systemctl not found/],
    ["not running", { code: 1, stdout: "", stderr: NOT_BOOTED }, Exit.unreachable, /not running here/],
    ["denied", { code: 1, stdout: "", stderr: "Failed to start x.service: Access denied" }, Exit.noAuth, /was denied/],
    ["other", { code: 4, stdout: "", stderr: "Unit x.service not found." }, Exit.runtime, /failed \(exit 4\)/],
  ] as const)("managerFailure: %s → exit %p", (_what, result, exit, message) => {
    const err = managerFailure("systemd", ["systemctl", "start", "x.service"], result);
    expect(err.exit).toBe(exit);
    expect(err.message).toMatch(message);
  });

  test("query: parsed when systemd answers, unknown when it cannot be reached", async () => {
    const answering = new CommandServiceManager(
      backend,
      new RecordingRunner(() => ({ stdout: "ActiveState=active\nSubState=running\nResult=success\nExecMainStatus=0\nExecMainPID=4242\nUnitFileState=enabled\nNRestarts=0\nLoadState=loaded\n" })),
    );
    expect(await answering.query("user", "prod-app")).toMatchObject({ reachable: true, enabled: true, active: "active", sub: "running", pid: 4242, restarts: 0 });
    const gone = new CommandServiceManager(backend, new RecordingRunner(() => ({ code: 1, stderr: NOT_BOOTED })));
    const state = await gone.query("user", "prod-app");
    expect(state).toMatchObject({ reachable: false, active: "unknown", enabled: null });
    expect(state.detail).toContain("System has not been booted with systemd");
  });

  test("processRunner runs real programs from PATH and answers 127 for missing ones", async () => {
    const runner = processRunner(10_000);
    expect(await runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"])).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect((await runner.run(["datumctl-connect-no-such-program"])).code).toBe(127);
  });
});
