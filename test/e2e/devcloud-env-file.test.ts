/**
 * `dev cloud --env-file F` writes F private (0600) but leaves F's directory as it was: the README
 * puts it in /tmp, and tightening /tmp to 0700 as root breaks every other user and service.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, CLI, REPO_ROOT } from "../helpers/cli.ts";

const root = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "env-file-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("the env file is 0600 and its directory keeps its mode (a sticky, world-writable one like /tmp)", async () => {
  const shared = join(root, "tmp");
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const envFile = join(shared, "datum.env");
  const child = Bun.spawn([BUN, CLI, "dev", "cloud", "--dir", join(root, "cloud"), "--env-file", envFile, "--no-relay", "--parent-pid", String(process.pid)], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  try {
    for (let i = 0; i < 800 && !existsSync(envFile) && child.exitCode === null; i++) await Bun.sleep(25);
    expect(existsSync(envFile)).toBe(true);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(statSync(shared).mode & 0o7777).toBe(0o1777);
  } finally {
    child.kill("SIGTERM");
    await child.exited;
  }
}, 30_000);
