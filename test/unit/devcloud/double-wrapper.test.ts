/**
 * The datumctl double's wrapper, per platform: a sh script elsewhere, a batch file on Windows (a
 * Windows process cannot start a sh script). Pure text; the Wine smoke test
 * (test/e2e/windows-wine.test.ts) runs the batch file for real.
 */
import { describe, expect, test } from "bun:test";
import { cmdWrapperScript, wrapperFor } from "../../../src/devcloud/datumctl-double/install.ts";

describe("wrapperFor", () => {
  test.each([
    ["linux", "datumctl", "#!/bin/sh\n"],
    ["darwin", "datumctl", "#!/bin/sh\n"],
    ["win32", "datumctl.cmd", "@echo off\r\n"],
  ] as const)("%s → %s", (platform, file, start) => {
    const w = wrapperFor(platform, ["/x/bun", "main.ts"], "/s/state.json", "/s/calls.jsonl");
    expect(w.file).toBe(file);
    expect(w.text.startsWith(start)).toBe(true);
  });
});

describe("cmdWrapperScript", () => {
  test("defaults the state and log paths, names itself, runs the command with every argument, keeps its exit code", () => {
    const text = cmdWrapperScript(["C:\\Program Files\\dc\\datumctl-connect.exe", "dev", "datumctl", "--"], "C:\\d\\state.json", "C:\\d\\calls.jsonl");
    expect(text.split("\r\n")).toEqual([
      "@echo off",
      "rem datumctl test double (src/devcloud/datumctl-double), written by installDatumctlDouble().",
      "setlocal",
      'if not defined DATUMCTL_DOUBLE_STATE set "DATUMCTL_DOUBLE_STATE=C:\\d\\state.json"',
      'if not defined DATUMCTL_DOUBLE_LOG set "DATUMCTL_DOUBLE_LOG=C:\\d\\calls.jsonl"',
      'set "DATUMCTL_DOUBLE_SELF=%~f0"',
      '"C:\\Program Files\\dc\\datumctl-connect.exe" "dev" "datumctl" "--" %*',
      "exit /b %ERRORLEVEL%",
      "",
    ]);
  });

  test.each([
    ["a % in a path is doubled (else it starts a variable)", "C:\\100%\\state.json", 'set "DATUMCTL_DOUBLE_STATE=C:\\100%%\\state.json"'],
    ["& and ^ stay literal inside the quotes", "C:\\a&b^c\\state.json", 'set "DATUMCTL_DOUBLE_STATE=C:\\a&b^c\\state.json"'],
  ])("%s", (_name, state, line) => {
    expect(cmdWrapperScript(["C:\\x.exe"], state, "C:\\l")).toContain(line);
  });

  test("a double quote cannot be carried: refused, not mangled", () => {
    expect(() => cmdWrapperScript(['C:\\a"b.exe'], "C:\\s", "C:\\l")).toThrow("double quote");
  });
});
