/**
 * `tunnel list|update|enable|disable|delete` as a user runs them: the real CLI as a child process,
 * against `dev cloud` (a real process) over HTTP, authenticating through the datumctl double.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { TokenSource } from "../../src/auth/token-source.ts";
import { ControlPlaneClient } from "../../src/controlplane/client.ts";
import { loadOrCreateIdentity } from "../../src/state/identity.ts";
import { projectDir, slotFiles } from "../../src/state/paths.ts";
import { TunnelService } from "../../src/tunnel/service.ts";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let service: TunnelService;
let tokens: TokenSource;

/** Run the CLI with the local Datum's environment. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { env: { ...datum.env, ...env } });
}

async function resetFaults(): Promise<void> {
  await datum.admin("faults", { method: "DELETE" });
}

/** Seed a tunnel the way `listen` creates one, with this device's identity for the project. */
async function seed(label: string, endpoint: string): Promise<string> {
  const t = await service.create({ label, endpoint, details: { homeRelay: "http://127.0.0.1:9/", addresses: [{ address: "127.0.0.1", port: 4433 }] } });
  return t.id;
}

beforeAll(async () => {
  datum = await startLocalDatum();
  tokens = new TokenSource({ helper: datum.env.DATUM_CREDENTIALS_HELPER, session: datum.env.DATUM_SESSION, env: { ...process.env, ...datum.env } });
  const client = new ControlPlaneClient({ apiBase: datum.apiUrl, project: datum.env.DATUM_PROJECT as string, tokens });
  const slot = projectDir(datum.env.DATUM_CONNECT_DIR as string, datum.env.DATUM_PROJECT as string);
  const identity = await loadOrCreateIdentity(slot);
  service = new TunnelService({ client, endpointId: identity.endpointIdHex, allowListPath: slotFiles(slot).allowList });
});

afterAll(async () => {
  await datum?.stop();
});

beforeEach(resetFaults);

describe("list", () => {
  test("an empty project says so on stderr and prints nothing on stdout", async () => {
    const r = await cli(["tunnel", "list"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("No tunnels found in project local-project.");
  });

  test("table, json and yaml show the same tunnel", async () => {
    const id = await seed("list-me", "127.0.0.1:3101");
    const table = await cli(["tunnel", "list"]);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s{3,}LABEL\s{3,}ENDPOINT\s{3,}HOSTNAME\s{3,}STATUS\s{3,}ENABLED/);
    const row = rows.find((r) => r.startsWith(id));
    expect(row).toBeDefined();
    expect(row).toContain("list-me");
    expect(row).toContain("http://127.0.0.1:3101");

    const json = await cli(["tunnel", "list", "-o", "json"]);
    expect(json.code).toBe(0);
    const docs = JSON.parse(json.stdout) as { id: string; label: string; endpoint: string; enabled: boolean; status: string; hostnames: string[] }[];
    const doc = docs.find((d) => d.id === id);
    expect(doc).toMatchObject({ label: "list-me", endpoint: "http://127.0.0.1:3101", enabled: true });
    expect(["ready", "accepted", "pending"]).toContain(doc?.status as string);

    const yaml = await cli(["tunnel", "list", "--output=yaml"]);
    expect(yaml.code).toBe(0);
    expect((Bun.YAML.parse(yaml.stdout) as { id: string }[]).map((d) => d.id)).toContain(id);
  });
});

describe("update", () => {
  test.each([
    ["127.0.0.1:3000", "http://127.0.0.1:3000"],
    ["localhost:8080", "http://localhost:8080"],
    ["api.example.com:9000", "http://api.example.com:9000"],
    ["https://api.local:8443", "https://api.local:8443"],
  ])("--endpoint %s is normalized to %s", async (input, normalized) => {
    const id = await seed("upd", "127.0.0.1:3102");
    const r = await cli(["tunnel", "update", "--id", id, "--endpoint", input, "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id, endpoint: normalized });
  });

  test.each([
    ["localhost", "missing port"],
    ["http://host", "missing port"],
    ["[::1", "invalid IPv6 address"],
    ["", "missing host"],
  ])("--endpoint %p is rejected with %p (exit 2)", async (input, message) => {
    const id = await seed("bad", "127.0.0.1:3103");
    const r = await cli(["tunnel", "update", "--id", id, "--endpoint", input]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });

  test("the table form prints the upstream lines; a no-op update writes nothing", async () => {
    const id = await seed("same", "127.0.0.1:3104");
    const r = await cli(["tunnel", "update", "--id", id, "--label", "renamed"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Updated tunnel ${id}:\n  label: renamed\n  endpoint: http://127.0.0.1:3104\n  hostnames:`);

    await datum.admin("requests", { method: "DELETE" });
    const again = await cli(["tunnel", "update", "--id", id, "--label", "renamed"]);
    expect(again.code).toBe(0);
    const log = (await (await datum.admin("requests")).json()) as { items?: { method: string }[] } | { method: string }[];
    const items = Array.isArray(log) ? log : (log.items ?? []);
    expect(items.filter((r) => r.method === "PATCH")).toHaveLength(0);
  });

  test("nothing to update is misuse", async () => {
    const r = await cli(["tunnel", "update", "--id", "tunnel-x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: nothing to update");
  });
});

describe("enable, disable, delete", () => {
  test("disable removes the advertisement, enable brings it back, delete removes the tunnel", async () => {
    const id = await seed("toggle", "127.0.0.1:3105");
    const off = await cli(["tunnel", "disable", "--id", id]);
    expect(off.code).toBe(0);
    expect(off.stdout).toBe(`Disabled tunnel ${id}\n`);
    expect((await service.get(id))?.enabled).toBe(false);

    const on = await cli(["tunnel", "enable", "--id", id, "-o", "yaml"]);
    expect(on.code).toBe(0);
    expect(Bun.YAML.parse(on.stdout)).toMatchObject({ id, enabled: true });

    const del = await cli(["tunnel", "delete", "--id", id, "-o", "json"]);
    expect(del.code).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ type: "tunnel_deleted", id, deleted: true, proxyDeleted: true });
    expect(await service.get(id)).toBeUndefined();
  });

  test.each([[["update", "--label", "x"]], [["enable"]], [["disable"]], [["delete"]]])("%j of an unknown --id → 64", async (argv) => {
    const [verb, ...rest] = argv;
    const r = await cli(["tunnel", verb as string, "--id", "tunnel-nope0", ...rest]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("error: Tunnel tunnel-nope0 not found");
  });

  test("--id is required", async () => {
    const r = await cli(["tunnel", "delete"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--id");
  });
});

describe("control-plane failures", () => {
  test("malformed JSON from the server → 65", async () => {
    await datum.admin("faults", { body: { match: { resource: "httpproxies", method: "GET" }, status: 200, body: "{not json", count: 20 } });
    const r = await cli(["tunnel", "list"]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^error: /m);
  });

  test("a burst of 10 × 503 is ridden over", async () => {
    await seed("burst", "127.0.0.1:3106");
    await datum.admin("faults", { body: { match: { resource: "httpproxies" }, status: 503, count: 9 } });
    const r = await cli(["tunnel", "list", "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).length).toBeGreaterThan(0);
  });

  test("a long outage → 69 naming the host", async () => {
    await datum.admin("faults", { body: { status: 503, forMs: 60_000 } });
    const r = await cli(["tunnel", "list"]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("127.0.0.1");
  });

  test("a permission error → 77 and does not look like a login problem", async () => {
    await datum.admin("faults", { body: { status: 403, reason: "Forbidden", message: "forbidden", count: 50 } });
    const r = await cli(["tunnel", "list"]);
    expect(r.code).toBe(77);
    expect(r.stderr).toContain("error: ");
  });
});

describe("credentials helper", () => {
  const state = () => datum.env.DATUMCTL_DOUBLE_STATE as string;
  const setFail = (fail: string | null, delayMs = 0) =>
    updateDoubleState(state(), (s) => {
      s.fail = fail as never;
      s.delayMs = delayMs;
    });

  test("missing helper → 78 with a remediation", async () => {
    const r = await cli(["tunnel", "list"], { DATUM_CREDENTIALS_HELPER: "/nonexistent/datumctl" });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("/nonexistent/datumctl");
    expect(r.stderr).toContain("hint:");
  });

  test("unset helper → 78 naming the variable", async () => {
    const r = await cli(["tunnel", "list"], { DATUM_CREDENTIALS_HELPER: undefined });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("DATUM_CREDENTIALS_HELPER");
  });

  test("a failing helper → 77 with its stderr", async () => {
    setFail("interactive-expired");
    try {
      const r = await cli(["tunnel", "list"]);
      expect(r.code).toBe(77);
      expect(r.stderr).toContain("Authentication session has expired");
    } finally {
      setFail(null);
    }
  });

  test("a slow helper still succeeds", async () => {
    setFail(null, 1_500);
    try {
      const r = await cli(["tunnel", "list", "-o", "json"]);
      expect(r.code).toBe(0);
    } finally {
      setFail(null);
    }
  });

  test("the token never appears in any output", async () => {
    await seed("secret", "127.0.0.1:3107");
    const token = await tokens.token();
    for (const args of [["tunnel", "list", "-o", "json"], ["tunnel", "list", "-o", "yaml"], ["tunnel", "delete", "--id", "tunnel-zzzzz"]]) {
      const r = await cli(args, { CONSOLA_LEVEL: "5" });
      expect(r.stdout).not.toContain(token);
      expect(r.stderr).not.toContain(token);
    }
    // The double logs the argv and environment it was given: no token there either.
    const log = readFileSync(datum.env.DATUMCTL_DOUBLE_LOG as string, "utf8");
    expect(log).not.toContain(token);
  });
});
