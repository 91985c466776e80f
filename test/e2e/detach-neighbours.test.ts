/**
 * `listen --detach` as a README reader meets it (issue 18): a restart changes nothing the user did
 * not ask for (the label set with `update` stays), `-o json` and `--error-format json` mean what
 * they say in the parent, and the daemon's log does not tell anyone to press Ctrl+C.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { updateDoubleState } from "../../src/devcloud/datumctl-double/install.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;
const names = ["nb-label", "nb-json", "nb-fail"];

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { env: { ...datum.env, ...env }, timeoutMs: 60_000 });
}

interface ListedTunnel {
  id: string;
  label: string;
  endpoint: string;
  hostnames: string[];
}

async function tunnels(): Promise<ListedTunnel[]> {
  const r = await cli(["tunnel", "list", "-o", "json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ListedTunnel[];
}

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("neighbour") });
});

afterAll(async () => {
  for (const name of names) await cli(["tunnel", "stop", "--name", name]).catch(() => undefined);
  origin?.stop(true);
  await datum?.stop();
});

describe("listen --detach keeps what the user set", () => {
  test("a label set with `update` survives `listen --detach --name` without --label", async () => {
    const endpoint = `127.0.0.1:${origin.port}`;
    const up = await cli(["tunnel", "listen", "--detach", "--name", "nb-label", "--endpoint", endpoint]);
    expect(up.stderr).not.toContain("error:");
    expect(up.code).toBe(0);
    const tunnel = (await tunnels()).find((t) => t.endpoint === `http://${endpoint}`);
    expect(tunnel).toBeDefined();
    const id = tunnel?.id as string;
    expect((await cli(["tunnel", "update", "--id", id, "--label", "My App"])).code).toBe(0);
    expect((await cli(["tunnel", "stop", "--name", "nb-label"])).code).toBe(0);

    // No --label: no change, whatever tunnel.yaml recorded at creation.
    const again = await cli(["tunnel", "listen", "--detach", "--name", "nb-label"]);
    expect(again.code).toBe(0);
    expect((await tunnels()).find((t) => t.id === id)?.label).toBe("My App");

    // The daemon's log talks to a log reader, not to a terminal.
    const stdio = readFileSync(join(datum.env.DATUM_CONNECT_DIR as string, "tunnels", "nb-label", "logs", "stdio.log"), "utf8");
    const logs = await cli(["tunnel", "logs", "--name", "nb-label", "--tail", "200"]);
    expect(`${stdio}\n${logs.stdout}`).not.toContain("Ctrl+C");
    expect(logs.stdout).toContain("tunnel stop --name nb-label");
    expect((await cli(["tunnel", "stop", "--name", "nb-label"])).code).toBe(0);

    // An explicit --label is the one way to change it.
    const relabel = await cli(["tunnel", "listen", "--detach", "--name", "nb-label", "--label", "Renamed"]);
    expect(relabel.code).toBe(0);
    expect((await tunnels()).find((t) => t.id === id)?.label).toBe("Renamed");
    expect((await cli(["tunnel", "stop", "--name", "nb-label"])).code).toBe(0);
  }, 120_000);
});

describe("listen --detach output formats", () => {
  test("-o json prints one JSON document on stdout", async () => {
    const up = await cli(["tunnel", "listen", "--detach", "--name", "nb-json", "--endpoint", `127.0.0.1:${origin.port}`, "-o", "json"]);
    expect(up.code).toBe(0);
    const doc = JSON.parse(up.stdout) as { name: string; status: string; pid: number; urls: string[]; id: string; hostnames: string[] };
    expect(doc).toMatchObject({ name: "nb-json", status: "ready", pid: expect.any(Number) });
    expect(doc.urls[0]).toMatch(/^http:\/\/[a-z0-9-]+\.datumproxy\.localhost:\d+$/);
    expect(doc.id).toMatch(/^tunnel-/);
    expect((await fetch(doc.urls[0] as string, { keepalive: false })).status).toBe(200);
    expect((await cli(["tunnel", "stop", "--name", "nb-json"])).code).toBe(0);
  }, 60_000);

  test("--error-format json: the daemon's failure as one envelope with its code and details, nothing human before it", async () => {
    const statePath = datum.env.DATUMCTL_DOUBLE_STATE as string;
    updateDoubleState(statePath, (state) => {
      state.fail = "network";
    });
    try {
      const r = await cli(["tunnel", "listen", "--detach", "--name", "nb-fail", "--endpoint", `127.0.0.1:${origin.port}`, "--error-format", "json"]);
      expect(r.code).toBe(77);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n");
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      const envelope = JSON.parse(lines.at(-1) as string) as { error: Record<string, unknown> };
      expect(envelope.error).toMatchObject({ code: "not_authenticated", retryable: false });
      expect(envelope.error.message).toContain("failed to get token");
      expect(envelope.error.details).toContain("dial tcp");
    } finally {
      updateDoubleState(statePath, (state) => {
        state.fail = null;
      });
    }
  }, 60_000);
});
