/**
 * The Windows service backend as data: every `sc.exe` (and `reg.exe`) argument vector exactly,
 * the `binPath=` command line quoted as `CommandLineToArgvW` reads it back, and `sc.exe query` /
 * `sc.exe qc` output parsed into the manager state. No Windows needed.
 */
import { describe, expect, test } from "bun:test";
import { serviceSpec } from "../../../src/service/spec.ts";
import { binPath, parseScOutput, scState, windowsArg, windowsBackend } from "../../../src/service/windows.ts";
import { tunnelConfig } from "./fixtures.ts";

const spec = serviceSpec(
  tunnelConfig({
    scope: "system",
    executable: "C:\\Program Files\\datumctl\\datumctl-connect.exe",
    helper: "C:\\Program Files\\datumctl\\datumctl.exe",
  }),
  { stateRoot: "C:\\ProgramData\\datumctl\\connect", tunnelDir: "C:\\ProgramData\\datumctl\\connect\\tunnels\\prod-app" },
);

/** `CommandLineToArgvW`'s rules, to read a command line back. */
function argvW(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (i >= line.length) break;
    let arg = "";
    let quoted = false;
    for (; i < line.length; i++) {
      const ch = line[i];
      if (ch === "\\") {
        let n = 0;
        while (line[i] === "\\") {
          n++;
          i++;
        }
        if (line[i] === '"') {
          arg += "\\".repeat(Math.floor(n / 2));
          if (n % 2 === 1) arg += '"';
          else quoted = !quoted;
        } else {
          arg += "\\".repeat(n);
          i--;
        }
        continue;
      }
      if (ch === '"') {
        quoted = !quoted;
        continue;
      }
      if ((ch === " " || ch === "\t") && !quoted) break;
      arg += ch;
    }
    out.push(arg);
  }
  return out;
}

describe("sc.exe argument vectors", () => {
  const b = windowsBackend();
  test("install: create, description, recovery, failure flag, environment, start", () => {
    expect(b.installPlan(spec)).toEqual([
      [
        "sc.exe",
        "create",
        "datumctl-connect-system-prod-app",
        "binPath=",
        '"C:\\Program Files\\datumctl\\datumctl-connect.exe" tunnel run --name prod-app --system',
        "start=",
        "auto",
        "DisplayName=",
        "Datum tunnel prod-app",
      ],
      ["sc.exe", "description", "datumctl-connect-system-prod-app", "Datum tunnel prod-app (http://127.0.0.1:3000) via datumctl-connect"],
      ["sc.exe", "failure", "datumctl-connect-system-prod-app", "reset=", "86400", "actions=", "restart/5000/restart/30000/restart/60000"],
      ["sc.exe", "failureflag", "datumctl-connect-system-prod-app", "1"],
      [
        "reg.exe",
        "add",
        "HKLM\\SYSTEM\\CurrentControlSet\\Services\\datumctl-connect-system-prod-app",
        "/v",
        "Environment",
        "/t",
        "REG_MULTI_SZ",
        "/s",
        "|",
        "/d",
        "DATUM_CREDENTIALS_HELPER=C:\\Program Files\\datumctl\\datumctl.exe|DATUM_CONNECT_DIR=C:\\ProgramData\\datumctl\\connect",
        "/f",
      ],
      ["sc.exe", "start", "datumctl-connect-system-prod-app"],
    ]);
  });

  test("start, stop, delete, query", () => {
    expect(b.startPlan("system", "prod-app")).toEqual([["sc.exe", "start", "datumctl-connect-system-prod-app"]]);
    expect(b.stopPlan("system", "prod-app")).toEqual([["sc.exe", "stop", "datumctl-connect-system-prod-app"]]);
    expect(b.removePlan("system", "prod-app")).toEqual([
      ["sc.exe", "stop", "datumctl-connect-system-prod-app"],
      ["sc.exe", "delete", "datumctl-connect-system-prod-app"],
    ]);
    expect(b.queryPlan("system", "prod-app")).toEqual([
      ["sc.exe", "query", "datumctl-connect-system-prod-app"],
      ["sc.exe", "qc", "datumctl-connect-system-prod-app"],
    ]);
    expect(b.unitPath("system", "prod-app")).toBeNull();
    expect(b.render(spec)).toBeNull();
  });
});

describe("binPath quoting", () => {
  test.each([
    ["plain", "plain"],
    ["C:\\Program Files\\x.exe", '"C:\\Program Files\\x.exe"'],
    ['say "hi"', '"say \\"hi\\""'],
    ["C:\\dir with space\\", '"C:\\dir with space\\\\"'],
    ["", '""'],
  ])("%p → %p", (arg, quoted) => {
    expect(windowsArg(arg)).toBe(quoted);
  });

  test("reads back as the spec's argv", () => {
    const argv = ["C:\\Program Files\\a \"b\"\\datumctl-connect.exe", "tunnel", "run", "--name", "x y\\", "--system"];
    expect(argvW(binPath(argv))).toEqual(argv);
    expect(argvW(binPath(spec.argv))).toEqual([...spec.argv]);
  });
});

describe("sc.exe query / qc", () => {
  const query = [
    "SERVICE_NAME: datumctl-connect-system-prod-app",
    "        TYPE               : 10  WIN32_OWN_PROCESS",
    "        STATE              : 4  RUNNING",
    "                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)",
    "        WIN32_EXIT_CODE    : 0  (0x0)",
    "        SERVICE_EXIT_CODE  : 0  (0x0)",
    "        CHECKPOINT         : 0x0",
    "        WAIT_HINT          : 0x0",
  ].join("\r\n");
  const qc = ["[SC] QueryServiceConfig SUCCESS", "", "SERVICE_NAME: datumctl-connect-system-prod-app", "        START_TYPE         : 2   AUTO_START"].join("\r\n");

  test("running and auto-start", () => {
    expect(parseScOutput(query).STATE).toBe("4  RUNNING");
    expect(scState({ code: 0, stdout: query, stderr: "" }, { code: 0, stdout: qc, stderr: "" })).toMatchObject({
      reachable: true,
      loaded: true,
      enabled: true,
      active: "active",
      sub: "RUNNING",
      exitStatus: 0,
    });
  });

  test("stopped with an exit code", () => {
    const stopped = query.replace("4  RUNNING", "1  STOPPED").replace("WIN32_EXIT_CODE    : 0  (0x0)", "WIN32_EXIT_CODE    : 1066  (0x42a)").replace("SERVICE_EXIT_CODE  : 0  (0x0)", "SERVICE_EXIT_CODE  : 69  (0x45)");
    expect(scState({ code: 0, stdout: stopped, stderr: "" }, undefined)).toMatchObject({ active: "inactive", exitStatus: 69, enabled: null });
  });

  test("not installed (1060) is known, not an error", () => {
    const missing = { code: 1060, stdout: "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\r\n\r\nThe specified service does not exist as an installed service.", stderr: "" };
    expect(scState(missing, undefined)).toMatchObject({ reachable: true, loaded: false });
    expect(windowsBackend().registered?.([missing])).toBe(false);
    expect(windowsBackend().registered?.([{ code: 0, stdout: query, stderr: "" }])).toBe(true);
  });
});
