/**
 * `dev cloud` restarted on the same `--dir` is the same local Datum (issue 18): the same ports, the
 * same objects (uids, resourceVersions, hostnames), the same datumctl session — so a named tunnel
 * made before the restart still lists, still authenticates (no 77 `no session named …`), and a
 * detached `listen` that ran across the restart serves again with no operator action. A port the
 * cloud cannot have back, or a flag that would move it, is a plain error, never a silent new cloud.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { until as waitUntil } from "../helpers/wait.ts";

const base = mkdtempSync(join(tmpdir(), "devcloud-restart-"));
let datum: LocalDatum | undefined;
let origin: ReturnType<typeof Bun.serve>;

function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(args, { env, timeoutMs: 60_000 });
}

interface ObjectMeta {
  name: string;
  uid: string;
  resourceVersion: string;
}

async function objects(d: LocalDatum): Promise<Record<string, ObjectMeta[]>> {
  const state = (await (await d.admin("state")).json()) as { projects: Record<string, Record<string, { metadata: ObjectMeta }[]>> };
  const out: Record<string, ObjectMeta[]> = {};
  for (const [plural, items] of Object.entries(state.projects["local-project"] ?? {})) {
    out[plural] = items.map((o) => ({ name: o.metadata.name, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion }));
  }
  return out;
}

function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<unknown> {
  return waitUntil(check, timeoutMs, `waiting for ${what}`, { everyMs: 250 });
}

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { keepalive: false, signal: AbortSignal.timeout(15_000) })).status;
  } catch {
    return 0;
  }
}

beforeAll(() => {
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("still here") });
});

afterAll(async () => {
  if (datum) await cli(["tunnel", "stop", "--name", "rs-app"], datum.env).catch(() => undefined);
  await datum?.stop();
  origin?.stop(true);
  rmSync(base, { recursive: true, force: true });
});

describe("dev cloud on the same --dir", () => {
  test("a restart keeps ports, objects and sessions; the named tunnel lists, authenticates and serves again", async () => {
    const first = await startLocalDatum([], { dir: base });
    datum = first;
    const up = await cli(["tunnel", "listen", "--detach", "--name", "rs-app", "--endpoint", `127.0.0.1:${origin.port}`], first.env);
    expect(up.code).toBe(0);
    const url = up.stdout.trim().split("\n")[0] as string;
    expect(await status(url)).toBe(200);
    const listedBefore = JSON.parse((await cli(["tunnel", "list", "-o", "json"], first.env)).stdout) as { id: string; hostnames: string[] }[];
    const before = await objects(first);
    expect(before.httpproxies?.length).toBe(1);

    // Stop the whole local Datum; the detached listen keeps running without it.
    await first.stop();
    datum = undefined;

    const second = await startLocalDatum([], { dir: base });
    datum = second;
    for (const name of ["DATUM_API_HOST", "DATUM_SESSION", "DATUM_CONNECT_PUBLIC_URL", "DATUM_DEV_CLOUD_EDGE", "DATUM_CREDENTIALS_HELPER"]) {
      expect(second.env[name]).toBe(first.env[name] as string);
    }

    // The same objects: names and uids; the resourceVersion counter moves on, never back.
    const after = await objects(second);
    for (const plural of ["httpproxies", "connectors", "connectoradvertisements", "connectorclasses"]) {
      const uids = (list: ObjectMeta[] | undefined) => (list ?? []).map((o) => `${o.name}/${o.uid}`).sort();
      expect(uids(after[plural])).toEqual(uids(before[plural]));
    }
    const highest = (all: Record<string, ObjectMeta[]>) => Math.max(...Object.values(all).flat().map((o) => Number(o.resourceVersion)));
    expect(highest(after)).toBeGreaterThanOrEqual(highest(before));

    const listed = await cli(["tunnel", "list", "-o", "json"], second.env);
    expect(listed.code).toBe(0);
    const listedAfter = JSON.parse(listed.stdout) as { id: string; hostnames: string[] }[];
    expect(listedAfter.map((t) => [t.id, t.hostnames])).toEqual(listedBefore.map((t) => [t.id, t.hostnames]));

    // The listen that ran across the restart serves again on its own.
    await until("the detached tunnel to serve again", async () => (await status(url)) === 200, 60_000);

    // The named tunnel's recorded session still exists: stop and start it again, no 77.
    expect((await cli(["tunnel", "stop", "--name", "rs-app"], second.env)).code).toBe(0);
    const again = await cli(["tunnel", "listen", "--detach", "--name", "rs-app"], second.env);
    expect(again.stderr).not.toContain("no session named");
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(url);
    expect((await cli(["tunnel", "stop", "--name", "rs-app"], second.env)).code).toBe(0);
  }, 180_000);

  test("its port taken: a plain error naming the port, not a new cloud on another one", async () => {
    expect(datum).toBeDefined();
    const running = datum as LocalDatum;
    const port = new URL(running.apiUrl).port;
    const r = await runCli(["dev", "cloud", "--dir", join(base, "cloud"), "--parent-pid", String(process.pid)], { timeoutMs: 30_000 });
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`error: port ${port} (the local Datum's API`);
    expect(r.stderr).toContain("hint: is this local Datum already running?");
    // The saved identity is untouched.
    const saved = JSON.parse(readFileSync(join(base, "cloud", "cloud.json"), "utf8")) as { ports: { api: number } };
    expect(String(saved.ports.api)).toBe(port);
  }, 60_000);

  test("--port that would move it: exit 2 saying so", async () => {
    const r = await runCli(["dev", "cloud", "--dir", join(base, "cloud"), "--port", "1", "--parent-pid", String(process.pid)], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("another port would make it a different cloud");
    expect(r.stderr).toContain("hint: drop --port");
  }, 60_000);
});
