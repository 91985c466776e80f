/**
 * `tunnel install` validations through the real CLI, against the local control plane (in this
 * process, loopback HTTP) and the datumctl test double: for each check of issue 5, in its order,
 * the exit code, the message, and that nothing was written — no tunnel directory, no unit file,
 * and no call to the service manager (a fake `systemctl` first on PATH records any). The root
 * check needs a non-root user and is tested in-process (test/unit/service/install.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeServiceAccountKeyFile } from "../../src/devcloud/datumctl-double/config-files.ts";
import { installDatumctlDouble, updateDoubleState, type InstalledDatumctlDouble } from "../../src/devcloud/datumctl-double/install.ts";
import { startControlPlane, type ControlPlane } from "../../src/devcloud/server.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { serviceHarness, type ServiceHarness } from "../unit/service/harness.ts";

const SA = "ci-bot@example.com@api.datum.net";
const SA_KEY = "ci-bot@example.com@auth.datum.net";
const ALICE = "alice@example.com@api.datum.net";
const NO_KEY = "legacy@example.com@api.datum.net";
const PROJECT = "web";

let cp: ControlPlane;
let double: InstalledDatumctlDouble;
let h: ServiceHarness;

beforeAll(async () => {
  cp = await startControlPlane({ port: 0 });
  const sessions = [
    { name: SA, userKey: SA_KEY, email: "ci-bot@example.com", server: cp.url },
    { name: ALICE, userKey: "alice@example.com@auth.datum.net", email: "alice@example.com", server: cp.url },
    // A session written by an old datumctl: no user key, so its type cannot be probed ("unknown").
    { name: NO_KEY, userKey: "", email: "legacy@example.com", server: cp.url },
  ];
  h = serviceHarness({ base: {}, sessions, org: "acme", project: PROJECT });
  double = installDatumctlDouble(join(h.dir, "double"), {
    session: SA,
    type: "service_account",
    project: PROJECT,
    extraSessions: {
      [ALICE]: { userKey: "alice@example.com@auth.datum.net", type: "interactive" },
      [NO_KEY]: { userKey: "legacy@example.com@auth.datum.net", type: "service_account" },
    },
  });
  writeServiceAccountKeyFile(h.configDir, SA_KEY);
  // A service-account login that stopped half-way (docs/wire-facts.md#service-account-login): key, no session.
  writeServiceAccountKeyFile(h.configDir, "half@example.com@auth.datum.net");
});

afterAll(async () => {
  await cp.stop();
  h.cleanup();
});

beforeEach(() => {
  cp.cloud.faults.clear();
  rmSync(h.stateDir, { recursive: true, force: true });
  for (const f of h.units()) rmSync(join(h.unitDir, f), { force: true });
  updateDoubleState(double.statePath, (s) => {
    for (const session of Object.values(s.sessions)) session.fail = null;
  });
});

function install(args: string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(["tunnel", "install", "--name", "prod-app", "--endpoint", "127.0.0.1:3000", ...args], {
    exactEnv: Object.fromEntries(
      Object.entries(h.env({ DATUM_CREDENTIALS_HELPER: double.helperPath, NO_COLOR: "1", ...extra })).filter((e): e is [string, string] => e[1] !== undefined),
    ),
    timeoutMs: 45_000,
  });
}

/** The checks' common ground: nothing on disk, no manager call. */
function nothingWritten(): void {
  expect(existsSync(join(h.stateDir, "tunnels", "prod-app"))).toBe(false);
  expect(h.units()).toEqual([]);
  expect(h.systemctlCalls()).toEqual([]);
}

function errorLines(r: CliResult): { error: string; hint: string | undefined } {
  const lines = r.stderr.trim().split("\n");
  return { error: lines.find((l) => l.startsWith("error: ")) ?? "", hint: lines.find((l) => l.startsWith("hint: ")) };
}

const httpProxyPosts = () => cp.cloud.requests.entries().filter((e) => e.method === "POST" && e.path.endsWith("/httpproxies"));

describe("flags (exit 2)", () => {
  test.each([
    ["an unsafe name", ["--name", "../etc", "--session", SA], /invalid tunnel name/],
    ["no --session", [], /session/i],
    ["a bad endpoint", ["--endpoint", "127.0.0.1:notaport", "--session", SA], /port/i],
  ])("%s", async (_what, args, message) => {
    const r = await install(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    nothingWritten();
  });
});

describe("1. the session exists and mints a token now", () => {
  test("no such session → 77", async () => {
    const r = await install(["--session", "nobody@example.com@api.datum.net"]);
    expect(r.code).toBe(77);
    expect(errorLines(r).error).toBe(`error: no datumctl session named "nobody@example.com@api.datum.net" in ${join(h.home, ".datumctl", "config")}`);
    expect(errorLines(r).hint).toContain("datumctl auth list");
    nothingWritten();
  });

  test("a service-account login that never saved its session → 77 naming that", async () => {
    const r = await install(["--session", "half@example.com@api.datum.net"]);
    expect(r.code).toBe(77);
    expect(errorLines(r).error).toContain("its service-account key is stored");
    expect(errorLines(r).hint).toContain("datumctl login --credentials");
    nothingWritten();
  });

  test("the helper cannot mint a token (expired login) → 77 with datumctl's words", async () => {
    updateDoubleState(double.statePath, (s) => {
      (s.sessions[ALICE] as { fail: string | null }).fail = "interactive-expired";
    });
    const r = await install(["--session", ALICE]);
    expect(r.code).toBe(77);
    expect(errorLines(r).error).toStartWith("error: datumctl auth get-token failed:");
    nothingWritten();
  });

  test("no credentials helper at all → 78", async () => {
    const r = await install(["--session", SA], { DATUM_CREDENTIALS_HELPER: undefined });
    expect(r.code).toBe(78);
    expect(errorLines(r).error).toBe("error: no credentials helper: datumctl is not on PATH and DATUM_CREDENTIALS_HELPER is unset");
    nothingWritten();
  });
});

describe("2. --system needs a service-account session", () => {
  test("an interactive session → 78 with how to create one", async () => {
    const r = await install(["--session", ALICE, "--system"]);
    expect(r.code).toBe(78);
    expect(errorLines(r).error).toBe(`error: session "${ALICE}" is not a service-account session (it has no service-account key file); a system service cannot use an interactive login`);
    expect(errorLines(r).hint).toContain("datumctl login --credentials <key.json>");
    nothingWritten();
  });

  test("a session whose type cannot be probed counts as interactive → 78", async () => {
    const r = await install(["--session", NO_KEY, "--system"]);
    expect(r.code).toBe(78);
    expect(errorLines(r).error).toContain(`session "${NO_KEY}" has no user key`);
    nothingWritten();
  });
});

describe("4. the server-side dry run", () => {
  test("it is a real dry run: one POST with dryRun=All, and nothing created", async () => {
    const before = httpProxyPosts().length;
    // Past every check but the name (taken by a directory), so the dry run is the last call made.
    mkdirSync(join(h.stateDir, "tunnels", "prod-app"), { recursive: true });
    const r = await install(["--session", SA]);
    expect(r.code).toBe(64);
    const posts = httpProxyPosts().slice(before);
    expect(posts).toHaveLength(1);
    expect(posts[0]?.query).toEqual({ dryRun: "All" });
    expect(posts[0]?.status).toBe(201);
    const snapshot = cp.cloud.snapshot().projects[PROJECT] ?? {};
    expect(snapshot.httpproxies ?? []).toEqual([]);
  });

  test.each([
    ["permission denied (403) → 77", { status: 403, message: "httpproxies.networking.datumapis.com is forbidden" }, 77, /Permission denied/],
    ["quota exhausted → 64", { quota: "exceeded" as const }, 64, /Quota limit exceeded/],
    ["control plane down (503s) → 69", { status: 503 }, 69, /unreachable/],
  ])("%s", async (_what, fault, code, message) => {
    cp.cloud.faults.add({ match: { resource: "httpproxies", method: "POST" }, ...fault }, cp.cloud.now());
    const r = await install(["--session", SA]);
    expect(r.code).toBe(code);
    expect(errorLines(r).error).toMatch(message);
    nothingWritten();
  }, 30_000);
});

describe("5. the name is free", () => {
  test("a named tunnel of that name exists → 64, and it is left as it was", async () => {
    const dir = join(h.stateDir, "tunnels", "prod-app");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "keep.txt"), "mine");
    const r = await install(["--session", SA]);
    expect(r.code).toBe(64);
    expect(errorLines(r).error).toBe(`error: a named tunnel "prod-app" already exists (${dir})`);
    expect(readdirSync(dir)).toEqual(["keep.txt"]);
    expect(h.units()).toEqual([]);
    expect(h.systemctlCalls()).toEqual([]);
  });

  test("a service of that name is installed → 64", async () => {
    writeFileSync(join(h.unitDir, "datumctl-connect-user-prod-app.service"), "[Service]\n");
    const r = await install(["--session", SA]);
    expect(r.code).toBe(64);
    expect(errorLines(r).error).toBe(`error: a systemd service for tunnel "prod-app" is already installed (${join(h.unitDir, "datumctl-connect-user-prod-app.service")})`);
    expect(h.units()).toEqual(["datumctl-connect-user-prod-app.service"]);
    expect(existsSync(join(h.stateDir, "tunnels", "prod-app"))).toBe(false);
    expect(h.systemctlCalls()).toEqual([]);
  });
});
