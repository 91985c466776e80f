/**
 * `bin/datumctl-connect`, the checkout's launcher (package.json "bin", what `npm link` puts on
 * PATH): run through a chain of symlinks like npm's, with a PATH that has no `bun`, it finds the
 * checkout, runs its Bun on `src/cli.ts`, passes every flag through (`--env-file` included, which
 * npm and Bun would otherwise take for themselves) and is the CLI's own process.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { REPO_ROOT } from "../helpers/cli.ts";
import { parseExports } from "../helpers/local-datum.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;
const LAUNCHER = join(REPO_ROOT, "bin", "datumctl-connect");
const started = new Set<Subprocess>();
afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill("SIGKILL");
});

/**
 * An npm-link-like layout: `<prefix>/bin/datumctl-connect` → (relative) `../lib/node_modules/
 * datumctl-connect/bin/datumctl-connect`, where `lib/node_modules/datumctl-connect` → the checkout;
 * plus a second, absolute symlink in front. PATH holds that and the few tools the launcher runs.
 */
function linkedLayout(): { dir: string; path: string; command: string } {
  const dir = mkdtempSync(join(root, "launcher-"));
  mkdirSync(join(dir, "prefix", "bin"), { recursive: true });
  mkdirSync(join(dir, "prefix", "lib", "node_modules"), { recursive: true });
  symlinkSync(REPO_ROOT, join(dir, "prefix", "lib", "node_modules", "datumctl-connect"));
  symlinkSync("../lib/node_modules/datumctl-connect/bin/datumctl-connect", join(dir, "prefix", "bin", "datumctl-connect"));
  mkdirSync(join(dir, "front"));
  symlinkSync(join(dir, "prefix", "bin", "datumctl-connect"), join(dir, "front", "datumctl-connect"));
  const tools = join(dir, "tools");
  mkdirSync(tools);
  for (const name of ["sh", "dirname", "readlink"]) {
    const found = Bun.which(name, { PATH: "/usr/bin:/bin" });
    if (!found) throw new Error(`${name} is needed on this machine`);
    symlinkSync(found, join(tools, name));
  }
  return { dir, path: `${join(dir, "front")}:${tools}`, command: "datumctl-connect" };
}

function run(args: string[], env: Record<string, string>, cwd: string) {
  const child = Bun.spawn(["/bin/sh", "-c", 'exec datumctl-connect "$@"', "sh", ...args], {
    env: { HOME: process.env.HOME as string, DATUM_CONNECT_DIR: process.env.DATUM_CONNECT_DIR as string, NO_COLOR: "1", ...env },
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  started.add(child);
  return child;
}

async function finished(child: Subprocess<"ignore", "pipe", "pipe">) {
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { stdout, stderr, code };
}

describe("bin/datumctl-connect", () => {
  test("through npm-link-style symlinks, with no bun on PATH: runs this checkout's CLI with the flags as given", async () => {
    const l = linkedLayout();
    const r = await finished(run(["version", "-o", "json"], { PATH: l.path }, l.dir));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: expect.any(String) });
  });

  test("`dev cloud --env-file F`: the flag reaches the CLI, and the launcher's PID is the CLI's", async () => {
    const l = linkedLayout();
    const envFile = join(l.dir, "datum.env");
    const child = run(["dev", "cloud", "--env-file", envFile, "--dir", join(l.dir, "cloud"), "--parent-pid", String(process.pid)], { PATH: l.path }, l.dir);
    const stderr = new Response(child.stderr).text();
    void new Response(child.stdout).text();
    const deadline = performance.now() + 20_000;
    while (!existsSync(envFile)) {
      if (child.exitCode !== null) throw new Error(`dev cloud exited ${child.exitCode}:\n${await stderr}`);
      if (performance.now() > deadline) throw new Error("dev cloud did not write its env file in time");
      await Bun.sleep(25);
    }
    const env = parseExports(readFileSync(envFile, "utf8"));
    expect(env.DATUM_API_HOST).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // `exec` all the way: the process we started is the CLI, which stops cleanly on SIGTERM.
    expect(readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0")).toContain(join(REPO_ROOT, "src", "cli.ts"));
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(await stderr).toContain("stopping local Datum");
  }, 60_000);

  test("a checkout without `npm install`: says so, with the command that fixes it", async () => {
    const dir = realpathSync(mkdtempSync(join(root, "launcher-bare-")));
    mkdirSync(join(dir, "checkout", "bin"), { recursive: true });
    copyFileSync(LAUNCHER, join(dir, "checkout", "bin", "datumctl-connect"));
    chmodSync(join(dir, "checkout", "bin", "datumctl-connect"), 0o755);
    const r = await finished(run(["version"], { PATH: `${join(dir, "checkout", "bin")}:/usr/bin:/bin` }, dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: ${join(dir, "checkout")}/node_modules/.bin/bun not found\nhint: run 'npm install' in ${join(dir, "checkout")}\n`);
  });

  test("package.json's bin is the launcher, so npm link and npx run it", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ "datumctl-connect": "bin/datumctl-connect" });
  });
});
