/** The CLI as a user meets it: help, version, misuse, the plugin manifest and completion. */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, CLI, REPO_ROOT, runCli } from "../helpers/cli.ts";

describe("version and help", () => {
  test("version prints one line on stdout, nothing on stderr", async () => {
    const r = await runCli(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^datumctl-connect \d+\.\d+\.\d+ \(\S+\) \S+ bun \S+\n$/);
    expect(r.stderr).toBe("");
  });

  test("version -o json parses", async () => {
    const r = await runCli(["version", "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: expect.any(String), commit: expect.any(String) });
  });

  test("no arguments prints usage and succeeds, without colour when piped", async () => {
    const r = await runCli([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("USAGE datumctl connect");
    expect(r.stdout).toContain("tunnel");
    expect(r.stdout).not.toContain("\u001b[");
  });

  test("--help of a leaf shows its options", async () => {
    const r = await runCli(["version", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--output");
  });
});

describe("misuse exits 2 with an error line", () => {
  test.each([
    [["verson"], 'error: unknown command "verson" for "datumctl connect"', 'did you mean "version"'],
    [["version", "--bogus"], "error: unknown flag: --bogus", "--help"],
    [["version", "-o", "xml"], 'error: invalid --output "xml"', "use one of: text, json, yaml"],
    [["--error-format", "xml", "version"], 'error: invalid --error-format "xml"', "human, json, yaml"],
  ] as [string[], string, string | undefined][])("%j", async (argv, line, hint) => {
    const r = await runCli(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(line);
    if (hint) expect(r.stderr).toContain(hint);
  });

  test("--error-format json renders the envelope only", async () => {
    const r = await runCli(["verson", "--error-format", "json"]);
    expect(r.code).toBe(2);
    const parsed = JSON.parse(r.stderr.trim());
    expect(parsed.error.code).toBe("usage");
    expect(parsed.error.message).toContain("verson");
  });
});

describe("--plugin-manifest (docs/wire-facts.md#plugin-manifest)", () => {
  test("answers JSON only from a temp copy under a scrubbed environment, well under 5 s", async () => {
    // datumctl copies the binary to a temp file and runs it with PATH, HOME and TMPDIR only.
    const dir = mkdtempSync(join(tmpdir(), "datumctl-plugin-verify-"));
    try {
      mkdirSync(join(dir, "src"));
      for (const f of ["cli.ts", "manifest.ts", "stdout.ts", "version.ts"]) copyFileSync(join(REPO_ROOT, "src", f), join(dir, "src", f));
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, TMPDIR: tmpdir() };
      const started = performance.now();
      const child = Bun.spawn([BUN, join(dir, "src", "cli.ts"), "--plugin-manifest"], {
        env,
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
        timeout: 5_000,
        killSignal: "SIGKILL",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      const ms = performance.now() - started;
      expect(code).toBe(0);
      expect(stderr).toBe("");
      const manifest = JSON.parse(stdout);
      expect(manifest).toEqual({
        name: "connect",
        version: expect.stringMatching(/^v\d+\.\d+\.\d+/),
        description: expect.any(String),
        min_datumctl_version: expect.stringMatching(/^v\d+\.\d+\.\d+$/),
        api_version: 1,
        min_api_version: 1,
      });
      expect(stdout.endsWith("}\n")).toBe(true);
      expect(ms).toBeLessThan(5_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("wins over any other argument, even invalid ones", async () => {
    const r = await runCli(["tunnel", "--bogus", "--plugin-manifest"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).name).toBe("connect");
  });

  test("the CLI entry is the one package.json exposes (through the bin/ launcher)", async () => {
    const pkg = await Bun.file(join(REPO_ROOT, "package.json")).json();
    const launcher = join(REPO_ROOT, pkg.bin["datumctl-connect"]);
    // The launcher runs the checkout's Bun on exactly this entry.
    const text = await Bun.file(launcher).text();
    expect(text).toContain('exec "$bun" --no-env-file "$root/src/cli.ts" "$@"');
    expect(join(REPO_ROOT, "src", "cli.ts")).toBe(CLI);
  });
});

describe("__complete (cobra protocol)", () => {
  test.each([
    [["__complete", ""], ["tunnel\t", "version\t"], ":4"],
    [["__complete", "tun"], ["tunnel\t"], ":4"],
    [["__complete", "version", "-o", ""], ["text", "json", "yaml"], ":4"],
    [["__complete", "version", "--o"], ["--output\t"], ":4"],
  ] as [string[], string[], string][])("%j", async (argv, expected, directive) => {
    const r = await runCli(argv);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.at(-1)).toBe(directive);
    for (const e of expected) expect(lines.some((l) => l.startsWith(e))).toBe(true);
  });
});
