/**
 * `tunnel install -f FILE` of a group (docs/groups.md), against the local control plane (in this
 * process, loopback HTTP) and the datumctl test double, in a temp state root:
 * - what a successful install writes (in-process, the manager driven by a recording runner and no
 *   wait for ready, so no group has to run): `tunnel.yaml` with no endpoint or label, `group.yaml`
 *   a byte-for-byte copy of the file, a unit that runs `tunnel run --name G` from the state root
 *   (no working directory, no secret), reloads with SIGHUP and passes `systemd-analyze verify`;
 *   one server-side dry run per service; a group that fails before it is ready leaves nothing;
 * - through the real CLI: bad files exit 65, misused flags exit 2, a refused dry run keeps its
 *   exit code — each leaving nothing behind (no directory, no unit, no manager call).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeServiceAccountKeyFile } from "../../src/devcloud/datumctl-double/config-files.ts";
import { installDatumctlDouble, type InstalledDatumctlDouble } from "../../src/devcloud/datumctl-double/install.ts";
import { startControlPlane, type ControlPlane } from "../../src/devcloud/server.ts";
import { CliError, Exit } from "../../src/errors.ts";
import { readGroupFile } from "../../src/group/config.ts";
import { groupInstallRequest, installTunnel } from "../../src/service/install.ts";
import { CommandServiceManager } from "../../src/service/manager.ts";
import { systemdBackend } from "../../src/service/systemd.ts";
import { emptyRunState, writeRunState } from "../../src/state/run-state.ts";
import { parseTunnelConfig } from "../../src/state/tunnel-config.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { RecordingRunner } from "../unit/service/fixtures.ts";
import { serviceHarness, type ServiceHarness } from "../unit/service/harness.ts";

const SA = "ci-bot@example.com@api.datum.net";
const SA_KEY = "ci-bot@example.com@auth.datum.net";
const PROJECT = "web";
const GROUP = "web-stack";

/** Comments, odd spacing, quotes and a non-ASCII label: the copy must keep every byte. */
const FILE_TEXT = [
  "# the shop's services — kept in git next to the app",
  "name: web-stack",
  "tunnels:",
  "  - name: app",
  "    endpoint: 127.0.0.1:3000      # the storefront",
  '    label: "Storefront ✓"',
  "  - name: api",
  "    endpoint: http://127.0.0.1:8080",
  "",
  "  - name: admin",
  "    endpoint: localhost:9000",
].join("\n");

let cp: ControlPlane;
let double: InstalledDatumctlDouble;
let h: ServiceHarness;
/** Where the user keeps the file: not the state root, not the unit's working directory. */
let srcDir: string;

beforeAll(async () => {
  cp = await startControlPlane({ port: 0 });
  h = serviceHarness({ base: {}, sessions: [{ name: SA, userKey: SA_KEY, email: "ci-bot@example.com", server: cp.url }], org: "acme", project: PROJECT });
  double = installDatumctlDouble(join(h.dir, "double"), { session: SA, type: "service_account", project: PROJECT });
  writeServiceAccountKeyFile(h.configDir, SA_KEY);
  srcDir = mkdtempSync(join(h.dir, "checkout-"));
});

afterAll(async () => {
  await cp.stop();
  h.cleanup();
});

beforeEach(() => {
  cp.cloud.faults.clear();
  rmSync(h.stateDir, { recursive: true, force: true });
  for (const f of h.units()) rmSync(join(h.unitDir, f), { force: true });
  writeFileSync(join(h.fakeDir, "calls.jsonl"), "");
});

function writeSource(name: string, text: string): string {
  const path = join(srcDir, name);
  writeFileSync(path, text);
  return path;
}

const env = () => h.env({ DATUM_CREDENTIALS_HELPER: double.helperPath, NO_COLOR: "1" });
const groupDir = () => join(h.stateDir, "tunnels", GROUP);
const httpProxyPosts = () => cp.cloud.requests.entries().filter((e) => e.method === "POST" && e.path.endsWith("/httpproxies"));

/**
 * The group installed in-process, as `tunnel install -f FILE --session SA [--system]` would; by
 * default without waiting for it to run.
 */
async function installGroup(path: string, system: boolean, runner = new RecordingRunner(), waitMs = 0) {
  const e = env();
  const manager = new CommandServiceManager(systemdBackend({ env: e, home: h.home }), runner);
  const { group, text } = await readGroupFile(path);
  const req = groupInstallRequest({ file: group, text, source: path }, { session: SA, system }, path);
  const result = await installTunnel(req, { manager, env: e, waitMs, say: () => undefined, isRoot: () => true });
  return { result, runner };
}

/** `systemd-analyze verify` of a unit file, or null (with the reason printed) where it is not installed. */
function verify(scope: "user" | "system", file: string): { code: number; stderr: string } | null {
  const analyze = Bun.which("systemd-analyze");
  if (!analyze) {
    console.log("skip: systemd-analyze not found (Debian package 'systemd'; .ci/run installs it): the group unit is not verified here");
    return null;
  }
  const runtime = mkdtempSync(join(h.dir, "runtime-"));
  const r = Bun.spawnSync([analyze, ...(scope === "user" ? ["--user"] : []), "verify", "--man=no", file], {
    env: { ...process.env, XDG_RUNTIME_DIR: runtime, SYSTEMD_PAGER: "cat", SYSTEMD_COLORS: "0" },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
  });
  return { code: r.exitCode ?? -1, stderr: r.stderr.toString() };
}

describe("a successful install -f (in-process, not waiting for the group to run)", () => {
  for (const scope of ["user", "system"] as const) {
    test(`${scope} scope: tunnel.yaml, a verbatim group.yaml, a unit that runs the group from its state and verifies`, async () => {
      const source = writeSource(`datum-tunnels-${scope}.yaml`, FILE_TEXT);
      const before = httpProxyPosts().length;
      const { result, runner } = await installGroup(source, scope === "system");
      const dir = groupDir();
      expect(result.dir).toBe(dir);

      // One server-side dry run per service, each the service's endpoint and label; nothing created.
      const posts = httpProxyPosts().slice(before);
      expect(posts.map((p) => p.query)).toEqual([{ dryRun: "All" }, { dryRun: "All" }, { dryRun: "All" }]);
      expect(posts.map((p) => p.body ?? "").map((b) => [b.includes("127.0.0.1:3000") || b.includes("127.0.0.1:8080") || b.includes("localhost:9000")])).toEqual([[true], [true], [true]]);
      expect(cp.cloud.snapshot().projects[PROJECT]?.httpproxies ?? []).toEqual([]);

      // tunnel.yaml: the group's settings, no endpoint and no label of its own; where the file came from.
      const config = parseTunnelConfig(readFileSync(join(dir, "tunnel.yaml"), "utf8"), "tunnel.yaml");
      expect(config).toMatchObject({ name: GROUP, endpoint: null, label: null, project: PROJECT, session: SA, scope, group_file: source, helper: double.helperPath });

      // group.yaml: byte for byte the file; the source can go away.
      expect(Buffer.compare(readFileSync(join(dir, "group.yaml")), Buffer.from(FILE_TEXT, "utf8"))).toBe(0);
      rmSync(source);

      // The unit: `tunnel run --name G` by absolute paths, a SIGHUP reload, nothing from the working directory.
      const unitPath = result.unitPath as string;
      expect(unitPath).toBe(join(h.unitDir, `datumctl-connect-${scope}-${GROUP}.service`));
      const unit = readFileSync(unitPath, "utf8");
      const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
      expect(exec).toBe(`${config.executable} tunnel run --name ${GROUP}${scope === "system" ? " --system" : ""}`);
      expect(config.executable?.startsWith("/")).toBe(true);
      expect(unit).toContain("\nExecReload=/bin/kill -HUP $MAINPID\n");
      expect(unit).toContain(`\nDescription=Datum tunnel group ${GROUP} (3 services) via datumctl-connect\n`);
      expect(unit).not.toMatch(/^WorkingDirectory=/m);
      expect(unit).not.toContain(srcDir);
      expect(unit).not.toContain("datum-tunnels");
      const envLines = [...unit.matchAll(/^Environment="([A-Z_]+)=/gm)].map((m) => m[1]);
      expect(envLines).toEqual(scope === "system" ? ["DATUM_CREDENTIALS_HELPER", "DATUM_CONNECT_DIR", "HOME"] : ["DATUM_CREDENTIALS_HELPER", "DATUM_CONNECT_DIR"]);
      expect(unit).toContain(`Environment="DATUM_CONNECT_DIR=${h.stateDir}"`);

      // No secret anywhere in what was written: the token the dry runs carried is in none of it.
      const bearer = (posts[0]?.headers.authorization ?? "").replace(/^Bearer /, "");
      expect(bearer.length).toBeGreaterThan(10);
      for (const text of [unit, readFileSync(join(dir, "tunnel.yaml"), "utf8"), readFileSync(join(dir, "group.yaml"), "utf8")]) {
        expect(text).not.toContain(bearer);
        expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
      }

      const flag = scope === "user" ? ["--user"] : [];
      expect(runner.calls).toEqual([
        ["systemctl", ...flag, "daemon-reload"],
        ["systemctl", ...flag, "enable", `datumctl-connect-${scope}-${GROUP}.service`],
        ["systemctl", ...flag, "--no-block", "start", `datumctl-connect-${scope}-${GROUP}.service`],
      ]);

      const verified = verify(scope, unitPath);
      if (verified) expect(verified).toEqual({ code: 0, stderr: "" });
    });
  }
});

test("the group fails before it is ready: its exit code, and the unit, group.yaml and the directory removed again", async () => {
  const source = writeSource("datum-tunnels.yaml", FILE_TEXT);
  // The "service" writes a failed run.json when started, as a group whose login expired does.
  const runner = new RecordingRunner((argv) => {
    if (argv.includes("start")) {
      const failed = { ...emptyRunState({ pid: 999_999, startTime: undefined, name: GROUP, project: PROJECT }), phase: "failed" as const, exitCode: 77 };
      void writeRunState(join(groupDir(), "run.json"), { ...failed, lastError: { message: "Authentication failed for project web.", exit: 77, at: new Date().toISOString() } });
    }
    return {};
  });
  const err = (await installGroup(source, false, runner, 5_000).catch((e: unknown) => e)) as CliError;
  expect(err).toBeInstanceOf(CliError);
  expect([err.exit, err.message]).toEqual([Exit.noAuth, "the service failed before it was ready: Authentication failed for project web."]);
  expect(runner.calls.map((c) => c.at(-1))).toContain(`datumctl-connect-user-${GROUP}.service`);
  expect(existsSync(groupDir())).toBe(false);
  expect(h.units()).toEqual([]);
});

// ---------- through the CLI: nothing left behind ----------

function install(args: string[]): Promise<CliResult> {
  return runCli(["tunnel", "install", ...args], {
    exactEnv: Object.fromEntries(Object.entries(env()).filter((e): e is [string, string] => e[1] !== undefined)),
    cwd: srcDir,
    timeoutMs: 45_000,
  });
}

function nothingWritten(): void {
  expect(existsSync(groupDir())).toBe(false);
  expect(h.units()).toEqual([]);
  expect(h.systemctlCalls()).toEqual([]);
}

function errorLine(r: CliResult): string {
  return r.stderr.split("\n").find((l) => l.startsWith("error: ")) ?? "";
}

describe("bad files exit 65, naming the file and the problem, and leave nothing", () => {
  test.each<[string, string, RegExp]>([
    ["a YAML syntax error", "name: web-stack\ntunnels:\n  - name: app\n    endpoint: [127.0.0.1:3000\n", /line \d+/],
    ["an unknown key", "name: web-stack\ntunnels:\n  - name: app\n    endpont: 127.0.0.1:3000\n", /endpont/],
    ["two services of one name", "name: web-stack\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:3000\n  - name: app\n    endpoint: 127.0.0.1:3001\n", /app/],
    ["an endpoint the platform refuses", "name: web-stack\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:99999\n", /tunnels\[0\] \(app\): endpoint/],
    ["an empty list", "name: web-stack\ntunnels: []\n", /tunnels/],
    ["two services on one endpoint", "name: web-stack\ntunnels:\n  - name: a\n    endpoint: 127.0.0.1:3000\n  - name: b\n    endpoint: http://127.0.0.1:3000\n", /127\.0\.0\.1:3000/],
  ])("%s", async (_what, text, problem) => {
    const path = writeSource("bad.yaml", text);
    const before = httpProxyPosts().length;
    const r = await install(["-f", path, "--session", SA]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 65, stdout: "" });
    expect(errorLine(r)).toStartWith(`error: ${path}: `);
    expect(errorLine(r)).toMatch(problem);
    expect(httpProxyPosts().length).toBe(before);
    nothingWritten();
  });
});

describe("misuse exits 2 and leaves nothing", () => {
  test.each<[string, (good: string) => string[], string]>([
    // The CLI runs in the file's directory: a relative -f is read from there.
    ["a file that does not exist", () => ["-f", "nope.yaml", "--session", SA], "error: group file nope.yaml does not exist"],
    ["-f with --endpoint (checked before the file is read)", () => ["-f", "nope.yaml", "--endpoint", "127.0.0.1:3000", "--session", SA], "error: -f cannot be combined with --endpoint"],
    ["-f with --name", (good) => ["-f", good, "--name", GROUP, "--session", SA], "error: -f cannot be combined with --name"],
    ["a --session that disagrees with the file's", () => ["-f", writeSource("with-session.yaml", `session: ${SA}\n${FILE_TEXT}`), "--session", "someone@example.com@api.datum.net"], '--session "someone@example.com@api.datum.net" disagrees'],
    ["no session at all", (good) => ["-f", good], "error: --session is required"],
    ["no -f and no --name", () => ["--endpoint", "127.0.0.1:3000", "--session", SA], "error: --name is required"],
  ])("%s", async (_what, args, message) => {
    const good = writeSource("datum-tunnels.yaml", FILE_TEXT);
    const r = await install(args(good));
    expect(r.code).toBe(2);
    expect(errorLine(r)).toContain(message);
    nothingWritten();
  });
});

describe("later refusals leave nothing either", () => {
  test("the platform refuses a service (quota) → 64, at the first dry run", async () => {
    const path = writeSource("datum-tunnels.yaml", FILE_TEXT);
    cp.cloud.faults.add({ match: { resource: "httpproxies", method: "POST" }, quota: "exceeded" }, cp.cloud.now());
    const before = httpProxyPosts().length;
    const r = await install(["-f", path, "--session", SA]);
    expect(r.code).toBe(64);
    expect(errorLine(r)).toMatch(/Quota limit exceeded/);
    expect(httpProxyPosts().length - before).toBe(1);
    nothingWritten();
  }, 30_000);

  test("a group of that name exists → 64, its hint about the file's name, and it is left as it was", async () => {
    const path = writeSource("datum-tunnels.yaml", FILE_TEXT);
    mkdirSync(groupDir(), { recursive: true });
    writeFileSync(join(groupDir(), "keep.txt"), "mine");
    const r = await install(["-f", path, "--session", SA]);
    expect(r.code).toBe(64);
    expect(errorLine(r)).toBe(`error: a named tunnel "${GROUP}" already exists (${groupDir()})`);
    expect(r.stderr).toContain("hint: give the group another name in its file, or remove it first");
    expect(readFileSync(join(groupDir(), "keep.txt"), "utf8")).toBe("mine");
    expect(existsSync(join(groupDir(), "group.yaml"))).toBe(false);
    expect(h.units()).toEqual([]);
    expect(h.systemctlCalls()).toEqual([]);
  });
});
