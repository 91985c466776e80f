/**
 * README "Run as a service", as written, against the local Datum: `dev cloud --login DIR` (the
 * README's local login), then every line of the service block through `datumctl` — the datumctl
 * double the login put first on PATH, dispatching `connect` to this checkout's `datumctl-connect`
 * (bin/) — with the user service on alice's login and the `--system` one on ci-bot's
 * service-account session and key file. The service manager is test/unit/service/fake-systemctl.ts
 * (the existing service harness; no systemd runs here). The test runs as root, so `sudo -H` is
 * dropped; the lines the local login stands for (`datumctl login`, `auth list`), the endless
 * `logs --follow`, and the plain `uninstall` (the `--purge` line after it is its alternative, and
 * runs) are left out, each with the reason in the table below.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOGIN_SERVICE_ACCOUNT, LOGIN_USER } from "../../src/devcloud/login.ts";
import { serviceAccountKeyPath } from "../../src/context/session-type.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { commandLines, shellWords } from "../helpers/readme-walkthrough.ts";
import { serviceHarness, type ServiceHarness } from "../unit/service/harness.ts";

const README = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const root = process.getuid?.() === 0;
if (!root) console.log("skip: README service examples: --system needs root (the test drops sudo -H)");

/** The ```sh block right after the comment that contains `marker`, as command lines. */
function block(marker: string): { line: number; text: string }[] {
  const lines = README.split("\n");
  const at = lines.findIndex((l) => l.includes(marker));
  if (at < 0) throw new Error(`README.md: no block marked with ${marker}`);
  const open = lines.findIndex((l, i) => i > at && l.startsWith("```sh"));
  const close = lines.findIndex((l, i) => i > open && l.startsWith("```"));
  return commandLines(lines.slice(open + 1, close), open + 2);
}

/** README lines the local Datum does not run, and why. */
const LEFT_OUT: [RegExp, string][] = [
  [/datumctl login --credentials/, "dev cloud --login made this session and its key file"],
  [/datumctl auth list/, "the datumctl double has no auth list; the session name is the README's"],
  [/tunnel logs .*--follow/, "follows until Ctrl+C"],
  [/tunnel uninstall --name prod-app --system$/, "the --purge line after it is the alternative this test runs"],
];

let datum: LocalDatum;
let h: ServiceHarness;
let home = "";
let env: Record<string, string> = {};
const origins: Server<undefined>[] = [];
const urls = new Map<string, string>();

async function run(text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const words = shellWords(text.replace(/^sudo -H /, ""));
  expect(words[0]).toBe("datumctl");
  const datumctl = Bun.which("datumctl", { PATH: env.PATH as string });
  expect(datumctl).toBe(join(datum.dir, "cloud", "datumctl", "bin", "datumctl"));
  const child = Bun.spawn([datumctl as string, ...words.slice(1)], { env, cwd: h.dir, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 90_000, killSignal: "SIGKILL" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

describe.skipIf(!root)("README: Run as a service, against the local Datum after dev cloud --login", () => {
  beforeAll(async () => {
    const login = block("service-readme.test.ts logs in like this");
    expect(login.map((l) => l.text)).toEqual(["datumctl-connect dev cloud --login /tmp/datum-home --env-file /tmp/datum.env &", ". /tmp/datum.env"]);
    home = mkdtempSync(join(tmpdir(), "datum-home-"));
    // The README's line, with this test's directories (the helper adds --dir, --env-file, --parent-pid).
    datum = await startLocalDatum(["--login", home]);
    h = serviceHarness({ base: {}, sessions: [{ name: "unused@example.com@api.datum.net", userKey: "unused@example.com@auth.datum.net", server: datum.apiUrl }], org: "local-org", project: "local-project" });
    const fake = h.env().PATH as string;
    env = {
      ...datum.env,
      // The fake systemctl first, then the double (as the env file has it), then this checkout's datumctl-connect.
      PATH: `${fake.split(":")[0]}:${datum.env.PATH}:${join(REPO_ROOT, "bin")}`,
      DATUM_CONNECT_UNIT_DIR: h.unitDir,
      FAKE_SYSTEMCTL_DIR: h.fakeDir,
      NO_COLOR: "1",
    };
    for (const port of [3000, 8080]) origins.push(Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response(`origin ${port}`) }));
  }, 60_000);

  afterAll(async () => {
    h?.cleanup();
    for (const o of origins) o.stop(true);
    await datum?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test("the login: HOME, the double first on PATH, connect trusted; the config and the key file", () => {
    expect(datum.env).toMatchObject({ HOME: home, XDG_CONFIG_HOME: join(home, ".config"), DATUMCTL_TRUSTED_PLUGINS: "connect" });
    expect(datum.env.PATH?.startsWith(`${join(datum.dir, "cloud", "datumctl", "bin")}:`)).toBe(true);
    const config = readFileSync(join(home, ".datumctl", "config"), "utf8");
    for (const a of [LOGIN_USER, LOGIN_SERVICE_ACCOUNT]) expect(config).toContain(`name: ${a.session}`);
    expect(config).toContain(`server: ${datum.apiUrl}`);
    expect(existsSync(serviceAccountKeyPath(LOGIN_SERVICE_ACCOUNT.userKey, { HOME: home, XDG_CONFIG_HOME: join(home, ".config") }) as string)).toBe(true);
    expect(existsSync(serviceAccountKeyPath(LOGIN_USER.userKey, { HOME: home, XDG_CONFIG_HOME: join(home, ".config") }) as string)).toBe(false);
  });

  test("every line of the service block, as written", async () => {
    const steps = block("service-readme.test.ts runs it after dev cloud --login");
    expect(steps.length).toBeGreaterThan(8);
    const ran: string[] = [];
    for (const step of steps) {
      const out = LEFT_OUT.find(([re]) => re.test(step.text));
      if (out) {
        console.log(`README.md:${step.line}: left out (${out[1]}): ${step.text}`);
        continue;
      }
      const r = await run(step.text);
      const where = `README.md:${step.line}: ${step.text}`;
      expect({ where, code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ where, code: 0, stderr: "" });
      ran.push(step.text.replace(/^sudo -H /, "").split(" ").slice(2, 4).join(" "));
      const name = /--name (\S+)/.exec(step.text)?.[1] as string;
      if (/tunnel (install|start) /.test(step.text)) {
        const url = r.stdout.trim();
        expect(url).toMatch(/^http:\/\/[a-z]+-[a-z]+-[a-z0-9]+\.datumproxy\.localhost:\d+$/);
        if (urls.has(name)) expect(url).toBe(urls.get(name) as string);
        urls.set(name, url);
        const port = /--endpoint 127\.0\.0\.1:(\d+)/.exec(step.text)?.[1] ?? (name === "prod-app" ? "8080" : "3000");
        const res = await fetch(url);
        expect([res.status, await res.text()]).toEqual([200, `origin ${port}`]);
      }
      if (/tunnel install .*--system/.test(step.text)) {
        const unit = readFileSync(join(h.unitDir, "datumctl-connect-system-prod-app.service"), "utf8");
        expect(unit).toContain(`Environment="HOME=${home}"`);
        expect(unit).toContain("User=root\n");
        expect(r.stderr).not.toContain("interactive login");
      } else if (/tunnel install /.test(step.text)) {
        expect(r.stderr).toContain("is an interactive login: this service stops working when that login expires");
      }
      if (/tunnel status /.test(step.text)) {
        expect(r.stdout).toContain(LOGIN_SERVICE_ACCOUNT.session);
        expect(r.stdout).toContain("datumctl-connect-system-prod-app.service");
      }
      if (/tunnel stop /.test(step.text)) expect((await fetch(urls.get(name) as string)).status).toBe(503);
    }
    expect(ran).toEqual(["tunnel install", "tunnel install", "tunnel status", "tunnel stop", "tunnel start", "tunnel uninstall"]);
    // The purge deleted prod-app upstream; dev-app (the user service) still runs.
    const state = (await (await datum.admin("state")).json()) as { projects: Record<string, { httpproxies?: unknown[] }> };
    expect(state.projects["local-project"]?.httpproxies ?? []).toHaveLength(1);
    expect((await fetch(urls.get("dev-app") as string)).status).toBe(200);
  }, 240_000);
});
