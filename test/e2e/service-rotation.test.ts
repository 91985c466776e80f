/**
 * Credential rotation under `tunnel run`: the datumctl double issues a new token every 3 s
 * (`rotateEverySec: 3`) with a 15 s lifetime, so the agent must keep fetching new ones, and the
 * local Datum refuses any token past its `exp`. With a 3 s Lease, the heartbeat renews with
 * whatever token is current; if it ever fell behind, the Connector would go un-Ready and the edge
 * would answer 503. Meanwhile requests go through the public URL back to back: none may fail.
 *
 * The run lasts 35 s here to keep CI fast (several rotations and ~12 lease durations); the
 * 2-minute run of the acceptance criteria is `DATUM_CONNECT_SOAK=1`. Needs the loopback-only
 * namespace:
 *   sh scripts/netns.sh ./node_modules/.bin/bun test --timeout 60000 test/e2e/service-rotation.test.ts
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server, Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import { readRunState, type RunState } from "../../src/state/run-state.ts";
import { tunnelDir, tunnelFiles } from "../../src/state/paths.ts";
import { BUN, CLI, REPO_ROOT } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { harnessWithTunnel, type ServiceHarness } from "../unit/service/harness.ts";

const PROJECT = "local-project";
const NAME = "svc-rotate";
/**
 * test/preload.ts clears every inherited DATUM_* variable before tests run, so the soak request is
 * read from the process's initial environment as well.
 */
function soakRequested(): boolean {
  if (process.env.DATUM_CONNECT_SOAK === "1") return true;
  try {
    return readFileSync("/proc/self/environ", "utf8").split("\0").includes("DATUM_CONNECT_SOAK=1");
  } catch {
    return false;
  }
}
const SOAK = soakRequested();
const RUN_MS = SOAK ? 120_000 : 35_000;
const LEASE_S = 3;

let datum: LocalDatum;
let origin: Server<undefined>;
let h: ServiceHarness;
let child: Subprocess<"ignore", "pipe", "pipe"> | undefined;
let stderr = "";

interface Logged {
  seq: number;
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
}

beforeAll(async () => {
  datum = await startLocalDatum();
  expect((await datum.admin("config", { body: { leaseDurationSeconds: LEASE_S } })).status).toBe(200);
  updateDoubleState(datum.env.DATUMCTL_DOUBLE_STATE as string, (s) => {
    const session = s.sessions[datum.env.DATUM_SESSION as string];
    if (!session) throw new Error("the double has no session for DATUM_SESSION");
    session.token = { ...session.token, mode: "sticky", lifetimeSec: 15, rotateEverySec: 3 };
  });
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("still here") });
  ({ h } = await harnessWithTunnel(datum, { project: PROJECT, name: NAME, label: "rotation", endpoint: `http://127.0.0.1:${origin.port}` }));
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  origin?.stop(true);
  await datum?.stop();
  h?.cleanup();
});

test(`tunnel run keeps serving through credential rotation for ${RUN_MS / 1000} s with no failed request`, async () => {
  if (!SOAK) console.log(`note: a ${RUN_MS / 1000} s run; the full 2-minute soak is DATUM_CONNECT_SOAK=1`);
  child = Bun.spawn([BUN, CLI, "tunnel", "run", "--name", NAME], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: h.home,
      DATUM_CONNECT_DIR: h.stateDir,
      DATUM_CREDENTIALS_HELPER: datum.env.DATUM_CREDENTIALS_HELPER as string,
      DATUM_CONNECT_RELAY_URLS: datum.env.DATUM_CONNECT_RELAY_URLS as string,
      DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: datum.env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY as string,
      DATUM_CONNECT_PUBLIC_URL: datum.env.DATUM_CONNECT_PUBLIC_URL as string,
      NO_COLOR: "1",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  void (async () => {
    for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  void new Response(child.stdout).text();
  const runPath = tunnelFiles(tunnelDir(h.stateDir, NAME)).run;
  let state: RunState | undefined;
  const readyBy = performance.now() + 30_000;
  while (state?.phase !== "ready") {
    if (performance.now() > readyBy || child.exitCode !== null) throw new Error(`not ready: exit ${child.exitCode}\n${stderr}`);
    await Bun.sleep(100);
    state = await readRunState(runPath).catch(() => undefined);
  }
  const url = state.publicUrls[0] as string;
  const mark = ((await (await datum.admin("requests")).json()) as { items: Logged[] }).items.at(-1)?.seq ?? 0;

  // Requests back to back (one in flight at a time) for the whole run.
  const failures: string[] = [];
  let requests = 0;
  const until = performance.now() + RUN_MS;
  while (performance.now() < until) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const body = await res.text();
      if (res.status !== 200 || body !== "still here") failures.push(`${res.status} ${body.slice(0, 80)}`);
    } catch (err) {
      failures.push(String(err));
    }
    requests++;
    await Bun.sleep(50);
  }
  expect(child.exitCode).toBeNull();
  expect(failures).toEqual([]);
  expect(requests).toBeGreaterThan(RUN_MS / 1_000 * 5);

  // The rotation really happened, and the control plane never had to refuse a stale token.
  const log = ((await (await datum.admin(`requests?since=${mark}`)).json()) as { items: Logged[] }).items;
  const tokens = new Set(log.map((r) => r.headers.authorization).filter(Boolean));
  expect(tokens.size).toBeGreaterThanOrEqual(Math.floor(RUN_MS / 15_000));
  expect(log.filter((r) => r.status === 401)).toEqual([]);
  const renewals = log.filter((r) => r.method === "PATCH" && /\/leases\/[^/]+$/.test(r.path) && r.status < 300);
  expect(renewals.length).toBeGreaterThanOrEqual(Math.floor(RUN_MS / 1_000 / LEASE_S));
  const final = (await readRunState(runPath)) as RunState;
  expect(final.auth.refreshes.refresh_failed).toBe(0);
  expect(final.auth.refreshes.refreshed).toBeGreaterThanOrEqual(tokens.size - 1);
  console.log(`note: ${requests} requests, ${tokens.size} tokens used, ${renewals.length} lease renewals, ${final.auth.refreshes.refreshed} refreshes`);

  child.kill("SIGTERM");
  expect(await child.exited).toBe(0);
}, RUN_MS + 60_000);
