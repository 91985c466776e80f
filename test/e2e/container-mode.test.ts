/**
 * What the container image runs, from source, without a container (the image itself:
 * test/system/container.test.ts, real root): `tunnel listen --log-format json` logs only JSON lines
 * on stdout, ready line and `Tunnel disabled.` included; `tunnel status --probe` exits 0 only while
 * the tunnel runs verified ready; SIGTERM → exit 0; misuse exits 2.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { runCli } from "../helpers/cli.ts";
import { killAllListens, startListen } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("container mode origin") });
});

afterAll(async () => {
  await killAllListens();
  origin?.stop(true);
  await datum?.stop();
});

interface Line {
  time: string;
  level: string;
  msg: string;
  tunnel: string;
}

const lines = (stdout: string): Line[] =>
  stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Line);

describe("tunnel listen --log-format json and tunnel status --probe", () => {
  test("JSON lines only on stdout; probe 0 while ready; SIGTERM → Tunnel disabled. → exit 0; probe 64 after", async () => {
    const before = await runCli(["tunnel", "status", "--name", "boxed", "--probe"], { env: datum.env });
    expect(before.code).toBe(64);
    expect(before.stdout).toBe("");
    expect(before.stderr).toMatch(/^error: tunnel "boxed" has never run here\n/);

    const listen = await startListen(["--name", "boxed", "--endpoint", `127.0.0.1:${origin.port}`, "--log-format", "json"], { env: datum.env, waitForReady: false });
    const readyLine = () => lines(listen.stdout().slice(0, listen.stdout().lastIndexOf("\n") + 1)).find((l) => l.msg.startsWith("Tunnel ready after"));
    await listen.waitFor(() => readyLine() !== undefined || listen.exitCode() !== null, 30_000, "the ready log line");
    const url = /: (\S+)$/.exec(readyLine()?.msg ?? "")?.[1] as string;
    expect(url).toMatch(/^https?:\/\//);

    const probe = await runCli(["tunnel", "status", "--name", "boxed", "--probe"], { env: datum.env });
    expect(probe).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await (await fetch(url)).text()).toBe("container mode origin");

    const exit = await listen.stop("SIGTERM");
    expect(exit.code).toBe(0);
    const records = lines(exit.stdout);
    expect(records.every((r) => r.tunnel === "boxed" && ["error", "warn", "info", "debug"].includes(r.level) && !Number.isNaN(Date.parse(r.time)))).toBe(true);
    const msgs = records.map((r) => r.msg);
    expect(msgs.at(-1)).toBe("Tunnel disabled.");
    expect(msgs).toContain("Disabling tunnel...");
    // Nothing of the terminal view: no ready line or teardown text on stderr.
    expect(exit.stderr).not.toContain("Tunnel disabled.");
    expect(exit.stderr).not.toContain("Tunnel ready");

    const after = await runCli(["tunnel", "status", "--name", "boxed", "--probe"], { env: datum.env });
    expect(after.code).toBe(64);
    expect(after.stderr).toMatch(/^error: tunnel "boxed" is not running \(stopped\)\n/);
  }, 60_000);

  test.each([
    [["-o", "json"], "-o json"],
    [["--detach"], "--detach"],
  ])("--log-format json with %p is misuse (exit 2)", async (extra, named) => {
    const r = await runCli(["tunnel", "listen", "--name", "other", "--endpoint", `127.0.0.1:${origin.port}`, "--log-format", "json", ...extra], { env: datum.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --log-format json cannot be combined with ${named}`);
  });
});
