/**
 * Dispatcher mode of the datumctl double (docs/architecture.md#datumctl-double,
 * docs/wire-facts.md#datumctl, #plugin-environment): `datumctl <plugin> …` finds the plugin, applies the
 * trust gate, sets the six `DATUM_*` variables by datumctl v0.18.0's rules and passes argv and the exit
 * code through. A small sh plugin reports what it received; the compiled executable behind the dispatcher
 * is in compiled.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { installDatumctlDouble, updateDoubleState, type InstalledDatumctlDouble } from "../../src/devcloud/datumctl-double/install.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;
const SIX = ["DATUM_ORG", "DATUM_PROJECT", "DATUM_API_HOST", "DATUM_PLUGIN_API_VERSION", "DATUM_CREDENTIALS_HELPER", "DATUM_SESSION"];

/** Prints `argv<TAB>a<TAB>b…`, then `NAME=set:value` / `NAME=unset` per variable; exits $PLUGIN_EXIT. */
const REPORTER = `#!/bin/sh
printf 'argv'; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'
for v in ${[...SIX, "DATUMCTL_DOUBLE_SELF", "KEEP_ME"].join(" ")}; do
  if eval "[ \\"\\\${$v+x}\\" = x ]"; then eval "printf '%s=set:%s\\n' $v \\"\\$$v\\""; else printf '%s=unset\\n' $v; fi
done
if [ -n "\${PLUGIN_WAIT:-}" ]; then
  trap 'printf "got=TERM\\n"; exit 42' TERM
  printf 'waiting\n'
  i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
  exit 3
fi
if [ -n "\${PLUGIN_SELFKILL:-}" ]; then kill -TERM $$; sleep 5; fi
if [ -n "\${PLUGIN_TOKEN:-}" ]; then
  token=$("$DATUM_CREDENTIALS_HELPER" auth get-token --session "$DATUM_SESSION") || exit 9
  printf 'token=%s\\n' "$token"
fi
exit "\${PLUGIN_EXIT:-0}"
`;

interface Setup {
  dir: string;
  double: InstalledDatumctlDouble;
  /** A PATH directory holding `datumctl-connect` (a symlink to the reporter). */
  bin: string;
  /** A PATH directory holding only the system tools the reporter runs (`sh`, `sleep`). */
  tools: string;
  reporter: string;
}

/**
 * The tests' PATH is built from scratch: the given directories, then `s.tools`. Never the
 * caller's PATH, where a real `datumctl-connect` or `milo-connect` would change what is found.
 */
function pathOf(s: Setup, ...dirs: string[]): string {
  return [...dirs, s.tools].join(":");
}

function systemTool(name: string): string {
  const found = Bun.which(name, { PATH: "/usr/bin:/bin" }) ?? Bun.which(name);
  if (!found) throw new Error(`${name} is needed on this machine`);
  return found;
}

function setup(options: Parameters<typeof installDatumctlDouble>[1] = {}): Setup {
  const dir = mkdtempSync(join(root, "dispatch-"));
  const double = installDatumctlDouble(join(dir, "double"), options);
  const real = join(dir, "plugins-src");
  mkdirSync(real);
  const reporter = join(real, "reporter.sh");
  writeFileSync(reporter, REPORTER);
  chmodSync(reporter, 0o755);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  symlinkSync(reporter, join(bin, "datumctl-connect"));
  const tools = join(dir, "tools");
  mkdirSync(tools);
  for (const name of ["sh", "sleep"]) symlinkSync(systemTool(name), join(tools, name));
  return { dir, double, bin, tools, reporter };
}

interface Report {
  code: number | null;
  stdout: string;
  stderr: string;
  argv: string[];
  env: Record<string, string | undefined>;
}

async function dispatch(s: Setup, args: string[], env: Record<string, string | undefined> = {}): Promise<Report> {
  const full: Record<string, string | undefined> = {
    PATH: pathOf(s, s.bin),
    HOME: join(s.dir, "home"),
    DATUMCTL_PLUGINS_DIR: join(s.dir, "managed"),
    KEEP_ME: "inherited",
    ...env,
  };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  const child = Bun.spawn([s.double.helperPath, ...args], {
    env: full as Record<string, string>,
    cwd: s.dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const lines = stdout.split("\n");
  const argvLine = lines.find((l) => l.startsWith("argv"));
  const reportEnv: Record<string, string | undefined> = {};
  for (const line of lines) {
    const m = /^([A-Z_]+)=(set:(.*)|unset)$/.exec(line);
    if (m) reportEnv[m[1] as string] = m[2] === "unset" ? undefined : (m[3] as string);
  }
  return { code, stdout, stderr, argv: argvLine ? argvLine.split("\t").slice(1) : [], env: reportEnv };
}

const TRUST = { DATUMCTL_TRUSTED_PLUGINS: "connect" };

describe("ForwardPlugin: argv, environment and exit code", () => {
  test("a project context: the six DATUM_* variables by datumctl's rules, argv verbatim", async () => {
    const s = setup();
    const r = await dispatch(s, ["connect", "tunnel", "list", "-o", "wide", "--", "--plugin-arg", ""], TRUST);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.argv).toEqual(["tunnel", "list", "-o", "wide", "--", "--plugin-arg", ""]);
    expect(r.env).toEqual({
      DATUM_ORG: "",
      DATUM_PROJECT: "web",
      DATUM_API_HOST: "api.datum.net",
      DATUM_PLUGIN_API_VERSION: "1",
      DATUM_CREDENTIALS_HELPER: realpathSync(s.double.helperPath),
      DATUM_SESSION: "alice@example.com@api.datum.net",
      DATUMCTL_DOUBLE_SELF: undefined,
      KEEP_ME: "inherited",
    });
  });

  test("inherited DATUM_* values are overridden, not kept", async () => {
    const s = setup();
    const r = await dispatch(s, ["connect"], { ...TRUST, DATUM_SESSION: "mine", DATUM_API_HOST: "evil.example", DATUM_ORG: "mine", DATUM_CREDENTIALS_HELPER: "/bin/false" });
    expect(r.env.DATUM_SESSION).toBe("alice@example.com@api.datum.net");
    expect(r.env.DATUM_API_HOST).toBe("api.datum.net");
    expect(r.env.DATUM_ORG).toBe("");
    expect(r.env.DATUM_CREDENTIALS_HELPER).toBe(realpathSync(s.double.helperPath));
  });

  test.each([
    ["DATUM_PROJECT in the environment wins over the context", { DATUM_PROJECT: "other" }, { DATUM_PROJECT: "other", DATUM_ORG: "" }],
    ["DATUM_ORGANIZATION gives an org scope (read, never set)", { DATUM_ORGANIZATION: "initech" }, { DATUM_PROJECT: "", DATUM_ORG: "initech" }],
    ["both set: a scope error, both empty", { DATUM_PROJECT: "p", DATUM_ORGANIZATION: "o" }, { DATUM_PROJECT: "", DATUM_ORG: "" }],
  ] as [string, Record<string, string>, Record<string, string>][])("%s", async (_name, env, expected) => {
    const r = await dispatch(setup(), ["connect"], { ...TRUST, ...env });
    expect(r.env).toMatchObject(expected);
  });

  test("an org context gives DATUM_ORG and an empty DATUM_PROJECT", async () => {
    const s = setup();
    updateDoubleState(s.double.statePath, (st) => {
      st.currentContext = { session: s.double.session, org: "acme", project: null };
    });
    const r = await dispatch(s, ["connect"], TRUST);
    expect(r.env).toMatchObject({ DATUM_ORG: "acme", DATUM_PROJECT: "" });
  });

  test("DATUM_API_HOST follows the keyring's active user, not DATUM_SESSION's session", async () => {
    const s = setup({
      extraSessions: { "bob@example.com@api.staging.env.datum.net": { userKey: "bob@example.com@auth.staging.env.datum.net" } },
      keyringActiveUser: "bob@example.com@auth.staging.env.datum.net",
    });
    const r = await dispatch(s, ["connect"], TRUST);
    // bob's session records no apiHost: datumctl derives it from the auth host.
    expect(r.env.DATUM_API_HOST).toBe("api.staging.env.datum.net");
    expect(r.env.DATUM_SESSION).toBe("alice@example.com@api.datum.net");
  });

  test("never logged in: DATUM_API_HOST is empty", async () => {
    const r = await dispatch(setup({ keyringActiveUser: null }), ["connect"], TRUST);
    expect(r.env.DATUM_API_HOST).toBe("");
  });

  test("a local Datum on plain http keeps its scheme in DATUM_API_HOST", async () => {
    const r = await dispatch(setup({ session: "dev@local.datum@127.0.0.1:4000", server: "http://127.0.0.1:4000" }), ["connect"], TRUST);
    expect(r.env.DATUM_API_HOST).toBe("http://127.0.0.1:4000");
  });

  test("the exit code passes through", async () => {
    const r = await dispatch(setup(), ["connect", "tunnel", "delete"], { ...TRUST, PLUGIN_EXIT: "64" });
    expect(r.code).toBe(64);
  });

  test("DATUM_CREDENTIALS_HELPER is a working datumctl: the plugin gets a token from it", async () => {
    const r = await dispatch(setup(), ["connect"], { ...TRUST, PLUGIN_TOKEN: "1" });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^token=[\w-]+\.[\w-]+\.[\w-]*$/m);
  });

  test("milo-connect on PATH is found too", async () => {
    const s = setup();
    const bin2 = join(s.dir, "bin2");
    mkdirSync(bin2);
    symlinkSync(s.reporter, join(bin2, "milo-connect"));
    const r = await dispatch(s, ["connect", "x"], { ...TRUST, PATH: pathOf(s, bin2) });
    expect(r.code).toBe(0);
    expect(r.argv).toEqual(["x"]);
  });
});

describe("signals", () => {
  test("SIGTERM sent to datumctl reaches the plugin, whose exit code is datumctl's", async () => {
    const s = setup();
    const child = Bun.spawn([s.double.helperPath, "connect"], {
      env: { PATH: pathOf(s, s.bin), HOME: join(s.dir, "home"), ...TRUST, PLUGIN_WAIT: "1" },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    // Wait until the plugin has set its trap and said so.
    let text = "";
    const reading = (async () => {
      for await (const chunk of child.stdout) text += new TextDecoder().decode(chunk);
    })();
    const deadline = performance.now() + 10_000;
    while (!text.includes("waiting")) {
      if (performance.now() > deadline) throw new Error(`the plugin never started: ${text}`);
      await Bun.sleep(25);
    }
    child.kill("SIGTERM");
    expect(await child.exited).toBe(42);
    await reading;
    expect(text).toContain("got=TERM");
  });

  test("a plugin killed by a signal takes datumctl down with the same signal", async () => {
    const s = setup();
    const child = Bun.spawn([s.double.helperPath, "connect"], {
      env: { PATH: pathOf(s, s.bin), HOME: join(s.dir, "home"), ...TRUST, PLUGIN_SELFKILL: "1" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    await child.exited;
    expect(child.signalCode).toBe("SIGTERM");
  });
});

describe("trust gate (docs/wire-facts.md#datumctl)", () => {
  test("an untrusted PATH plugin is refused with datumctl's message, exit 1, and never runs", async () => {
    const r = await dispatch(setup(), ["connect", "tunnel", "list"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "error: 'datumctl-connect' is an unmanaged plugin that has not been trusted.\n" +
        "  To allow it: datumctl plugin trust connect\n" +
        "  To install as a managed plugin: datumctl plugin install connect\n",
    );
  });

  test("DATUMCTL_TRUSTED_PLUGINS is a comma-separated list with spaces trimmed", async () => {
    expect((await dispatch(setup(), ["connect"], { DATUMCTL_TRUSTED_PLUGINS: "ipam, connect ,dns" })).code).toBe(0);
    expect((await dispatch(setup(), ["connect"], { DATUMCTL_TRUSTED_PLUGINS: "connector" })).code).toBe(1);
  });

  test("plugins.json trusted.<name> with the resolved path and current hash trusts it", async () => {
    const s = setup();
    const managed = join(s.dir, "managed");
    mkdirSync(managed);
    const sha256 = createHash("sha256").update(readFileSync(s.reporter)).digest("hex");
    writeFileSync(join(managed, "plugins.json"), JSON.stringify({ plugins: {}, trusted: { connect: { path: realpathSync(s.reporter), sha256 } } }));
    expect((await dispatch(s, ["connect"])).code).toBe(0);
    writeFileSync(join(managed, "plugins.json"), JSON.stringify({ plugins: {}, trusted: { connect: { path: realpathSync(s.reporter), sha256: "00" } } }));
    expect((await dispatch(s, ["connect"])).code).toBe(1);
  });

  test("a managed plugin runs when its plugins.json sha256 matches, without any trust", async () => {
    const s = setup();
    const managed = join(s.dir, "managed");
    mkdirSync(managed);
    writeFileSync(join(managed, "connect"), REPORTER);
    chmodSync(join(managed, "connect"), 0o755);
    const sha256 = createHash("sha256").update(REPORTER).digest("hex").toUpperCase();
    writeFileSync(join(managed, "plugins.json"), JSON.stringify({ plugins: { connect: { sha256 } } }));
    const ok = await dispatch(s, ["connect", "a"]);
    expect(ok.code).toBe(0);
    expect(ok.env.DATUM_PROJECT).toBe("web");

    writeFileSync(join(managed, "connect"), `${REPORTER}# changed\n`);
    const tampered = await dispatch(s, ["connect", "a"], TRUST);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toBe("error: plugin connect binary has been modified since install; run 'datumctl plugin install connect' to reinstall\n");

    writeFileSync(join(managed, "plugins.json"), JSON.stringify({ plugins: {} }));
    const unrecorded = await dispatch(s, ["connect", "a"], TRUST);
    expect(unrecorded.code).toBe(1);
    expect(unrecorded.stderr).toBe("error: plugin connect is not a recorded managed plugin; run 'datumctl plugin install connect' to install it\n");
  });
});

describe("ForwardHelp and ForwardCompletion", () => {
  test("-h/--help anywhere after the name: the plugin runs with the plain environment, no DATUM_*", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await dispatch(setup(), ["connect", "tunnel", "--", flag], TRUST);
      expect(r.code).toBe(0);
      expect(r.argv).toEqual(["tunnel", "--", flag]);
      for (const name of SIX) expect(r.env[name]).toBeUndefined();
      expect(r.env.KEEP_ME).toBe("inherited");
    }
  });

  test("help of an untrusted PATH plugin is refused too, naming the file behind the symlink", async () => {
    const r = await dispatch(setup(), ["connect", "--help"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("error: 'reporter.sh' is an unmanaged plugin that has not been trusted; run: datumctl plugin trust connect\n");
  });

  test("__complete connect <words> runs `<plugin> __complete <words>` with DATUM_*", async () => {
    const r = await dispatch(setup(), ["__complete", "connect", "tunnel", ""], TRUST);
    expect(r.code).toBe(0);
    expect(r.argv).toEqual(["__complete", "tunnel", ""]);
    expect(r.env.DATUM_PROJECT).toBe("web");
  });

  test("not a plugin: the double's own commands still answer", async () => {
    const r = await dispatch(setup(), ["auth", "get-token"], TRUST);
    expect(r.code).toBe(0);
    expect(r.stdout.split(".")).toHaveLength(3);
  });
});
