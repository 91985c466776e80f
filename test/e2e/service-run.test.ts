/**
 * `tunnel run --name N` end to end against `dev cloud`, exactly as a systemd unit runs it: the
 * environment holds only what a rendered unit sets (the credentials helper, the state root, HOME)
 * plus the local Datum's relay and public-URL templates, and a `NOTIFY_SOCKET` this test holds
 * (a unix datagram socket, read through bun:ffi) with `WATCHDOG_USEC` = 1 s. Checked in order:
 * READY=1 arrives only after the "verifying" status and the public URL answers at that moment;
 * WATCHDOG=1 arrives every ~500 ms; SIGTERM brings STOPPING=1 and exit 0 with the advertisement
 * disabled. (The watchdog going silent on a wedged data plane is tested with an injected
 * `healthy()` in test/unit/service/sd-notify.test.ts.) Needs the loopback-only namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 60000 test/e2e/service-run.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server, Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCallLog } from "../../src/devcloud/datumctl-double/call-log.ts";
import { readRunState, type RunState } from "../../src/state/run-state.ts";
import { tunnelDir, tunnelFiles } from "../../src/state/paths.ts";
import { BUN, CLI, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { harnessWithTunnel, type ServiceHarness } from "../unit/service/harness.ts";
import { bindNotifySocket, type NotifyReceiver } from "../unit/service/notify-socket.ts";

const PROJECT = "local-project";
const NAME = "svc-run";

let datum: LocalDatum;
let origin: Server<undefined>;
let h: ServiceHarness;
let receiver: NotifyReceiver;
let child: Subprocess<"ignore", "pipe", "pipe"> | undefined;
let stderr = "";
let runPath: string;
let readyAt = 0;

/** What a rendered unit puts in the environment (and the local Datum's templates), nothing else. */
function unitEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: h.home,
    DATUM_CONNECT_DIR: h.stateDir,
    DATUM_CREDENTIALS_HELPER: datum.env.DATUM_CREDENTIALS_HELPER as string,
    DATUM_CONNECT_RELAY_URLS: datum.env.DATUM_CONNECT_RELAY_URLS as string,
    DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: datum.env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY as string,
    DATUM_CONNECT_PUBLIC_URL: datum.env.DATUM_CONNECT_PUBLIC_URL as string,
    NO_COLOR: "1",
    ...extra,
  };
}

async function snapshot(): Promise<Record<string, { metadata: { name: string } }[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, Record<string, { metadata: { name: string } }[]>> }).projects[PROJECT] ?? {};
}

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("served by the service") });
  const installed = await harnessWithTunnel(datum, { project: PROJECT, name: NAME, label: "service run", endpoint: `http://127.0.0.1:${origin.port}` });
  h = installed.h;
  runPath = installed.files.run;
  receiver = bindNotifySocket(join(h.dir, "notify.sock"));
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  receiver?.close();
  origin?.stop(true);
  await datum?.stop();
  h?.cleanup();
});

describe("tunnel run under a notify socket", () => {
  test("READY=1 only once the public URL answers, after the setup and verify statuses", async () => {
    const started = performance.now();
    child = Bun.spawn([BUN, CLI, "tunnel", "run", "--name", NAME], {
      cwd: REPO_ROOT,
      env: unitEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: "1000000" }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    void (async () => {
      for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
    })();
    void new Response(child.stdout).text();

    await receiver.waitFor((d) => d.some((x) => x.text === "READY=1") || child?.exitCode !== null, 30_000, "READY=1");
    readyAt = performance.now();
    expect(child.exitCode).toBeNull();
    // At the moment READY=1 arrives, the tunnel really serves.
    const state = (await readRunState(runPath)) as RunState;
    expect(state.phase).toBe("ready");
    const url = state.publicUrls[0] as string;
    const res = await fetch(url);
    expect([res.status, await res.text()]).toEqual([200, "served by the service"]);

    const texts = receiver.datagrams.map((d) => d.text);
    const ready = texts.indexOf("READY=1");
    expect(texts.filter((t) => t === "READY=1")).toHaveLength(1);
    expect(texts.slice(0, ready)).toContain("STATUS=setting up the tunnel");
    expect(texts.slice(0, ready)).toContain("STATUS=verifying the public URL");
    expect(texts[ready + 1]).toBe(`STATUS=ready: ${url}`);
    console.log(`note: tunnel run was ready ${((readyAt - started) / 1000).toFixed(1)} s after start`);
  }, 45_000);

  // The schedule itself (every half WATCHDOG_USEC, none while wedged) is unit-tested on timers moved
  // by hand (test/unit/service/sd-notify.test.ts); here: the real agent's pings reach the socket.
  test("WATCHDOG=1 keeps coming while the data plane answers, and no faster than every half WATCHDOG_USEC", async () => {
    const after = () => receiver.datagrams.filter((d) => d.text === "WATCHDOG=1" && d.at >= readyAt).map((d) => d.at);
    await receiver.waitFor(() => after().length >= 5, 20_000, "five watchdog pings after READY=1");
    const pings = after();
    // A slow machine makes pings later, never more: at most one per 500 ms (and the first), doubled for slack.
    expect(pings.length).toBeLessThanOrEqual(2 * (Math.floor(((pings.at(-1) as number) - readyAt) / 500) + 1));
  });

  test("everything came from tunnel.yaml: the helper was asked for the recorded session", () => {
    const calls = readCallLog(datum.env.DATUMCTL_DOUBLE_LOG as string).calls.filter((c) => c.argv.includes("get-token"));
    expect(calls.length).toBeGreaterThan(0);
    const last = calls.at(-1);
    expect(last?.argv).toContain(datum.env.DATUM_SESSION as string);
    expect(last?.env.DATUM_SESSION).toBeNull();
    expect(last?.env.DATUM_API_HOST).toBeNull();
  });

  // After the tunnel.yaml check: the CLI calls here ask the helper too. STATUS= follows readiness; the watchdog does not (it tracks only this process's own health, so a
  // platform-side problem never makes systemd restart the agent).
  test("STATUS= says degraded with the reason while the tunnel is disabled elsewhere, ready again after; WATCHDOG=1 never stops", async () => {
    const state = (await readRunState(runPath)) as RunState;
    const id = state.tunnelId as string;
    const url = state.publicUrls[0] as string;
    const since = performance.now();
    const statuses = () => receiver.datagrams.filter((d) => d.at >= since && d.text.startsWith("STATUS=")).map((d) => d.text);
    expect((await runCli(["tunnel", "disable", "--id", id], { env: datum.env })).code).toBe(0);
    await receiver.waitFor(() => statuses().some((t) => t.startsWith("STATUS=degraded: ")), 30_000, "STATUS=degraded");
    expect(statuses().find((t) => t.startsWith("STATUS=degraded: "))).toContain("the tunnel is disabled");
    const degradedAt = performance.now();
    await receiver.waitFor(() => receiver.datagrams.filter((d) => d.text === "WATCHDOG=1" && d.at >= degradedAt).length >= 2, 10_000, "watchdog pings while degraded");
    expect((await runCli(["tunnel", "enable", "--id", id], { env: datum.env })).code).toBe(0);
    await receiver.waitFor(() => statuses().includes(`STATUS=ready: ${url}`), 30_000, "STATUS=ready again");
    expect(child?.exitCode).toBeNull();
  }, 75_000);

  test("SIGTERM: STOPPING=1, exit 0, the advertisement disabled, JSON log lines", async () => {
    const state = (await readRunState(runPath)) as RunState;
    const tunnelId = state.tunnelId as string;
    expect(tunnelId).toMatch(/^tunnel-/);
    expect((await snapshot()).connectoradvertisements?.map((a) => a.metadata.name)).toContain(tunnelId);

    child?.kill("SIGTERM");
    const code = await child?.exited;
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    expect(receiver.datagrams.map((d) => d.text)).toContain("STOPPING=1");
    expect((await snapshot()).connectoradvertisements?.map((a) => a.metadata.name) ?? []).not.toContain(tunnelId);
    expect((await readRunState(runPath))?.phase).toBe("stopped");
    expect((await readRunState(runPath))?.exitCode).toBe(0);

    const lines = readFileSync(tunnelFiles(tunnelDir(h.stateDir, NAME)).log, "utf8").trim().split("\n");
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.some((l) => (JSON.parse(l) as { msg: string }).msg.includes("Tunnel ready"))).toBe(true);
    expect(lines.join("\n")).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  }, 45_000);

  test("a name with no tunnel.yaml → 64, saying so", async () => {
    const r = await runCli(["tunnel", "run", "--name", "not-installed"], { exactEnv: unitEnv() });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`error: no tunnel named "not-installed": ${join(h.stateDir, "tunnels", "not-installed", "tunnel.yaml")} does not exist`);
  });
});
