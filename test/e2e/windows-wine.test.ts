/**
 * Windows, as far as it goes today (README "Platforms"): the windows-x64 executable run under Wine
 * the way a new user would, with nothing set up — `version`, `--help`, `--plugin-manifest` — then
 * the local Datum, `dev cloud`, run by that same executable, and `tunnel list` against it (over
 * 127.0.0.1, through the datumctl double's batch-file wrapper, as a Windows process must start it),
 * and `tunnel listen`, which has no data plane there: exit 69, `"retryable": false`.
 *
 * Wine, its prefix and the bcryptprimitives.dll stand-in: test/helpers/wine.ts. Skipped, saying
 * why, where wine64 or mingw-w64 is missing (.ci/run installs both).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pluginManifest } from "../../src/manifest.ts";
import { ensureWindowsBinary, windowsRuntimePath } from "../../scripts/release/windows-binary.ts";
import { parseExports } from "../helpers/local-datum.ts";
import { linuxPath, waitWineserver, wineBinary, wineEnv, winePrefix, wineUnavailable, windowsPath } from "../helpers/wine.ts";

const why = wineUnavailable() ?? (existsSync(windowsRuntimePath()) ? undefined : `Bun's Windows runtime is not cached (${windowsRuntimePath()}): scripts/test.sh fetches it outside the test namespace`);
if (why) console.log(`skip: Windows under Wine: ${why}`);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

let exe = "";
let prefix = "";
let dir = "";
let cloud: Subprocess<"ignore", "pipe", "pipe"> | undefined;
let cloudEnv: Record<string, string> = {};

async function wine(args: string[], extra: Record<string, string> = {}): Promise<Ran> {
  const child = Bun.spawn([wineBinary() as string, exe, ...args], {
    env: wineEnv(prefix, { NO_COLOR: "1", ...extra }),
    cwd: dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout: stdout.replace(/\r\n/g, "\n"), stderr: stderr.replace(/\r\n/g, "\n") };
}

describe.skipIf(why !== undefined)("windows-x64 under Wine", () => {
  beforeAll(async () => {
    const started = performance.now();
    const built = await ensureWindowsBinary();
    exe = built.path;
    const p = winePrefix();
    prefix = p.path;
    dir = mkdtempSync(join(tmpdir(), "wine-smoke-"));
    console.log(
      `wine: executable ${built.cached ? "cached" : `built in ${Math.round(built.buildMs)} ms`}, prefix ${p.cached ? "cached" : `booted in ${Math.round(p.bootMs)} ms`}; setup ${Math.round(performance.now() - started)} ms`,
    );
  }, 300_000);

  afterAll(async () => {
    if (cloud && cloud.exitCode === null) {
      cloud.kill("SIGKILL");
      await cloud.exited;
    }
    if (prefix) waitWineserver(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("version: the Windows build says what it is", async () => {
    const r = await wine(["version"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/^datumctl-connect \S+ \(\w+\) win32-x64 bun \S+\n$/);
  });

  test("--help lists the commands", async () => {
    const r = await wine(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("tunnel");
    expect(r.stdout).toContain("USAGE");
  });

  test("--plugin-manifest: the manifest datumctl reads at install time", async () => {
    const r = await wine(["--plugin-manifest"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toEqual(pluginManifest());
  });

  test("dev cloud runs under Windows; tunnel list reaches it through the batch-file helper", async () => {
    const envFile = join(dir, "datum.env");
    cloud = Bun.spawn([wineBinary() as string, exe, "dev", "cloud", "--dir", windowsPath(join(dir, "cloud")), "--env-file", windowsPath(envFile)], {
      env: wineEnv(prefix, { NO_COLOR: "1" }),
      cwd: dir,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let stderr = "";
    void (async () => {
      for await (const chunk of cloud!.stderr) stderr += new TextDecoder().decode(chunk);
    })();
    void new Response(cloud.stdout).text();
    const deadline = Date.now() + 60_000;
    while (!existsSync(envFile)) {
      if (cloud.exitCode !== null || Date.now() > deadline) throw new Error(`dev cloud under Wine did not get ready (exit ${cloud.exitCode}):\n${stderr}`);
      await Bun.sleep(50);
    }
    cloudEnv = parseExports(readFileSync(envFile, "utf8"));
    expect(cloudEnv.DATUM_API_HOST).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const helper = cloudEnv.DATUM_CREDENTIALS_HELPER as string;
    expect(helper).toEndWith("\\datumctl.cmd");
    expect(readFileSync(linuxPath(helper), "utf8")).toStartWith("@echo off\r\n");

    const r = await wine(["tunnel", "list"], cloudEnv);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "", stderr: "No tunnels found in project local-project.\n" });

    // The token came from the double, started by the batch file as a Windows process.
    const calls = readFileSync(linuxPath(cloudEnv.DATUMCTL_DOUBLE_LOG as string), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { argv: string[]; exitCode?: number });
    expect(calls.at(-1)).toMatchObject({ argv: ["auth", "get-token", "--session", cloudEnv.DATUM_SESSION], exitCode: 0, envWithIssuedToken: [] });
  }, 120_000);

  test('tunnel listen: no data plane on windows-x64, exit 69, "retryable": false', async () => {
    expect(cloudEnv.DATUM_API_HOST).toBeDefined();
    const r = await wine(["tunnel", "listen", "--endpoint", "127.0.0.1:3000", "--error-format", "json"], cloudEnv);
    expect(r.code).toBe(69);
    const doc = JSON.parse(r.stderr.trim()) as { error: Record<string, unknown> };
    expect(doc.error).toMatchObject({
      code: "unsupported_platform",
      message: "the tunnel data plane is not available on win32-x64: @number0/iroh publishes no native module for it",
      retryable: false,
    });
  }, 60_000);
});
