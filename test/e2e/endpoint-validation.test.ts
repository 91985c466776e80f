/**
 * Endpoints the platform would refuse (docs/wire-facts.md#platform-validation) are refused by every
 * command that writes one, before anything happens: the real CLI against the local Datum exits 2 with the
 * rule's `error:` line and a `hint:`, the local Datum's request log records no request from that
 * invocation, the credentials helper (the datumctl double) is never run, and no tunnel directory is
 * written. A stored endpoint the platform would refuse (a hand-edited `tunnel.yaml`) is malformed data:
 * exit 65 naming the file, again with no request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCallLog } from "../../src/devcloud/datumctl-double/call-log.ts";
import { stateRoot, tunnelDir, tunnelFiles } from "../../src/state/paths.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;

beforeAll(async () => {
  datum = await startLocalDatum();
});

afterAll(async () => {
  await datum?.stop();
});

interface Seen {
  readonly requests: readonly { method: string; path: string }[];
  readonly helperCalls: number;
}

/** The highest request sequence number so far and the double's finished calls. */
async function mark(): Promise<{ seq: number; calls: number }> {
  const { items } = (await (await datum.admin("requests")).json()) as { items: { seq: number }[] };
  const log = readCallLog(datum.env.DATUMCTL_DOUBLE_LOG as string);
  return { seq: items.reduce((m, e) => Math.max(m, e.seq), 0), calls: log.calls.length + log.unfinished.length };
}

/** Run the CLI and collect what it caused on the local Datum and the credentials helper. */
async function invoke(args: string[]): Promise<CliResult & Seen> {
  const before = await mark();
  const r = await runCli(args, { env: datum.env });
  const { items } = (await (await datum.admin(`requests?since=${before.seq}`)).json()) as { items: { method: string; path: string }[] };
  const after = await mark();
  return { ...r, requests: items.map((e) => ({ method: e.method, path: e.path })), helperCalls: after.calls - before.calls };
}

// [what, --endpoint, the error line, a piece of the hint]
const CASES: [string, string, string, string][] = [
  ["a scheme other than http/https", "tcp://127.0.0.1:3000", 'error: unsupported endpoint scheme "tcp": supported values: "http", "https"', "http://host:port"],
  ["userinfo", "http://user:pw@127.0.0.1:3000", "error: endpoint must not have a userinfo component", "http://127.0.0.1:3000"],
  ["a trailing slash", "http://127.0.0.1:3000/", "error: endpoint must not have a path component", "drop the trailing slash: http://127.0.0.1:3000"],
  ["a path", "http://127.0.0.1:3000/api", "error: endpoint must not have a path component", "give only scheme://host:port, e.g. http://127.0.0.1:3000"],
  ["a query", "http://127.0.0.1:3000?x=1", "error: endpoint must not have a query component", "http://127.0.0.1:3000"],
  ["a fragment", "http://127.0.0.1:3000#top", "error: endpoint must not have a fragment component", "http://127.0.0.1:3000"],
  ["port 0", "127.0.0.1:0", 'error: invalid port "0": must be between 1 and 65535, inclusive', "127.0.0.1:3000"],
  ["port 65536", "127.0.0.1:65536", 'error: invalid port "65536": must be between 1 and 65535, inclusive', "127.0.0.1:3000"],
  ["no port", "localhost", "error: missing port", "127.0.0.1:3000"],
  ["the unspecified address", "0.0.0.0:3000", "error: endpoint host may not be unspecified (0.0.0.0)", "use 127.0.0.1"],
  ["the unspecified IPv6 address", "[::]:3000", "error: endpoint host may not be unspecified (::)", "127.0.0.1"],
  ["a link-local address", "169.254.169.254:8080", "error: endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", "loopback"],
  ["a link-local IPv6 address", "[fe80::1]:8080", "error: endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", "loopback"],
  ["a link-local multicast address", "224.0.0.251:5353", "error: endpoint host may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)", "loopback"],
  ["a single-label name", "devbox:8080", 'error: endpoint host "devbox" must be a fully qualified domain name (at least two labels) or localhost', "use 127.0.0.1 or localhost"],
  ["another single-label name", "my-laptop:3000", 'error: endpoint host "my-laptop" must be a fully qualified domain name (at least two labels) or localhost', "fully qualified name"],
  ["https to an IP address", "https://127.0.0.1:8443", "error: https to an IP address (127.0.0.1) needs a TLS server name, which datumctl-connect does not set", "use http:// to the local service"],
  ["an IPv6 origin", "[::1]:3000", "error: IPv6 origins are not supported: the platform dials the origin as host:port without brackets", "listen on 127.0.0.1"],
];

const COMMANDS: [string, (endpoint: string, n: number) => string[], (n: number) => string | undefined][] = [
  ["tunnel listen", (e) => ["tunnel", "listen", "--endpoint", e], () => undefined],
  ["tunnel listen --name", (e, n) => ["tunnel", "listen", "--name", `fg-${n}`, "--endpoint", e], (n) => `fg-${n}`],
  ["tunnel listen --detach", (e, n) => ["tunnel", "listen", "--detach", "--name", `bg-${n}`, "--endpoint", e, "--wait", "1s"], (n) => `bg-${n}`],
  ["tunnel update", (e) => ["tunnel", "update", "--id", "tunnel-x", "--endpoint", e], () => undefined],
  ["tunnel install", (e, n) => ["tunnel", "install", "--name", `svc-${n}`, "--endpoint", e, "--session", datum.env.DATUM_SESSION as string], (n) => `svc-${n}`],
];

describe.each(COMMANDS)("%s refuses before any request", (_command, argv, named) => {
  test.each(CASES.map((c, i) => [...c, i] as const))("%s (%s)", async (_what, endpoint, errorLine, hint, n) => {
    const r = await invoke(argv(endpoint, n));
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.find((l) => l.startsWith("error: "))?.startsWith(errorLine)).toBe(true);
    expect(lines.find((l) => l.startsWith("hint: "))).toContain(hint);
    expect(r.stdout).toBe("");
    expect(r.requests).toEqual([]);
    expect(r.helperCalls).toBe(0);
    const name = named(n);
    if (name !== undefined) expect(existsSync(tunnelDir(stateRoot("user", { env: datum.env }), name))).toBe(false);
  });
});

describe("a stored endpoint the platform refuses", () => {
  function writeConfig(name: string, endpoint: string): string {
    const dir = tunnelDir(stateRoot("user", { env: datum.env }), name);
    mkdirSync(dir, { recursive: true });
    const path = tunnelFiles(dir).config;
    writeFileSync(
      path,
      Bun.YAML.stringify({
        name,
        label: name,
        endpoint,
        project: datum.env.DATUM_PROJECT,
        session: datum.env.DATUM_SESSION,
        org: null,
        api_host: datum.apiUrl,
        executable: null,
        helper: null,
        created_at: new Date(0).toISOString(),
        scope: "user",
        health: null,
      }),
    );
    return path;
  }

  test.each([
    ["tunnel run", (name: string) => ["tunnel", "run", "--name", name]],
    ["tunnel listen --name", (name: string) => ["tunnel", "listen", "--name", name]],
    ["tunnel listen --detach --name", (name: string) => ["tunnel", "listen", "--detach", "--name", name, "--wait", "1s"]],
  ])("%s exits 65 naming tunnel.yaml, with no request", async (command, argv) => {
    const name = `stored-${command.replace(/\W+/g, "-")}`;
    const path = writeConfig(name, "http://127.0.0.1:3000/api");
    const r = await invoke(argv(name));
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`error: ${path}: endpoint 'http://127.0.0.1:3000/api' is not one the platform accepts: endpoint must not have a path component`);
    expect(r.stderr).toContain(`hint: fix the endpoint in ${path}`);
    expect(r.requests).toEqual([]);
    expect(r.helperCalls).toBe(0);
    expect(existsSync(join(tunnelDir(stateRoot("user", { env: datum.env }), name), "run.json"))).toBe(false);
  });
});
