/**
 * The executable and credentials-helper paths install records: PATH first and un-resolved, the
 * source-checkout launcher (which must really start this CLI, from any directory, keeping its
 * PID), the helper rule when PATH and `DATUM_CREDENTIALS_HELPER` disagree, and the "does it still
 * resolve" check behind `tunnel status`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPath, launcherScript, planExecutable, recordedHelper, writeLauncher } from "../../../src/service/executable.ts";
import { VERSION } from "../../../src/version.ts";

const dir = mkdtempSync(join(tmpdir(), "executable-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function program(path: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\nexit 0\n");
  chmodSync(path, 0o755);
  return path;
}

describe("the executable", () => {
  test("compiled: datumctl-connect as found on PATH (a symlink stays a symlink)", () => {
    const plan = planExecutable({ tunnelDir: "/t", compiled: true, which: (n) => (n === "datumctl-connect" ? "/usr/local/bin/datumctl-connect" : null), self: ["/opt/dc/datumctl-connect-1.2.3"] });
    expect(plan).toEqual({ path: "/usr/local/bin/datumctl-connect", how: "path" });
  });

  test("compiled and not on PATH (run from datumctl's plugin directory): its own path", () => {
    const plan = planExecutable({ tunnelDir: "/t", compiled: true, which: () => null, self: ["/home/a/.datumctl/plugins/datumctl-connect"] });
    expect(plan).toEqual({ path: "/home/a/.datumctl/plugins/datumctl-connect", how: "self" });
  });

  test("from source: a launcher in the tunnel's directory, whatever PATH holds", () => {
    const plan = planExecutable({ tunnelDir: "/state/tunnels/x", compiled: false, which: () => "/usr/local/bin/datumctl-connect", self: ["/opt/bun/bun", "/src/it's/cli.ts"], platform: "linux" });
    expect(plan.path).toBe("/state/tunnels/x/bin/datumctl-connect");
    expect(plan.how).toBe("launcher");
    expect(plan.launcher).toBe(
      "#!/bin/sh\n# datumctl-connect launcher for a checkout run from source (written by `tunnel install`).\nexec '/opt/bun/bun' --no-env-file '/src/it'\\''s/cli.ts' \"$@\"\n",
    );
    expect(launcherScript("C:\\bun\\bun.exe", "C:\\src\\cli.ts", "win32")).toContain('"C:\\bun\\bun.exe" --no-env-file "C:\\src\\cli.ts" %*');
  });

  test("the launcher really runs this CLI (0700, from another directory)", async () => {
    const plan = planExecutable({ tunnelDir: join(dir, "tunnels", "x"), compiled: false });
    await writeLauncher(plan);
    expect(statSync(plan.path).mode & 0o777).toBe(0o700);
    const r = Bun.spawnSync([plan.path, "version"], { cwd: "/", env: { PATH: "/usr/bin:/bin", HOME: dir }, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toContain(VERSION);
    expect(readFileSync(plan.path, "utf8")).toStartWith("#!/bin/sh\n");
  });
});

describe("the credentials helper", () => {
  const real = program(join(dir, "cellar", "datumctl-0.18.0", "datumctl"));
  const linkDir = join(dir, "bin");
  mkdirSync(linkDir, { recursive: true });
  const link = join(linkDir, "datumctl");
  symlinkSync(real, link);
  const other = program(join(dir, "other", "datumctl"));

  test.each([
    ["datumctl's own (resolved) path and PATH's symlink to it: PATH's, un-resolved", { DATUM_CREDENTIALS_HELPER: real }, link, link],
    ["a different datumctl on PATH: the helper install validated with", { DATUM_CREDENTIALS_HELPER: other }, link, other],
    ["no datumctl on PATH: the helper", { DATUM_CREDENTIALS_HELPER: real }, null, real],
    ["no helper variable: PATH's", {}, link, link],
    ["neither", {}, null, undefined],
  ] as const)("%s", (_what, env, onPath, expected) => {
    expect(recordedHelper(env, () => onPath)).toBe(expected);
  });
});

describe("does a recorded path still resolve", () => {
  test.each([
    ["an executable file", (): string => program(join(dir, "ok", "x")), { resolves: true, problem: null }],
    ["a missing file", (): string => join(dir, "gone", "x"), { resolves: false, problem: "no such file (moved or uninstalled?)" }],
    ["a directory", (): string => dir, { resolves: false, problem: "not a file" }],
    [
      "a file without x bit",
      (): string => {
        const p = join(dir, "plain.txt");
        writeFileSync(p, "x");
        return p;
      },
      { resolves: false, problem: "not executable" },
    ],
    ["a bare name on PATH", (): string => "sh", { resolves: true, problem: null }],
    ["a bare name not on PATH", (): string => "datumctl-connect-nowhere", { resolves: false, problem: "not found on PATH" }],
  ] as const)("%s", (_what, make, expected) => {
    const path = make();
    expect(checkPath(path)).toEqual({ path, ...expected });
  });

  test("nothing recorded", () => {
    expect(checkPath(null)).toEqual({ path: null, resolves: false, problem: "none recorded" });
  });
});
