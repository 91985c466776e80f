/**
 * Groups end to end (docs/groups.md), real everything: `dev cloud` as a child process, `tunnel up`
 * as a child process (one ListenNode, one heartbeat), local origins (Bun.serve), traffic through the
 * local edge. Runs in the loopback-only namespace (scripts/test.sh).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import type { HTTPProxy } from "../../src/controlplane/schemas.ts";
import { proxyConnectorName } from "../../src/tunnel/objects.ts";
import { stateRoot, tunnelDir, tunnelFiles } from "../../src/state/paths.ts";
import { readRunState, type RunState } from "../../src/state/run-state.ts";
import { runCli } from "../helpers/cli.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { addFault } from "../helpers/faults.ts";
import { until } from "../helpers/wait.ts";

const PROJECT = "local-project";

interface Origin {
  readonly name: string;
  server: Server<undefined> | undefined;
  port: number;
  start(): void;
  stop(): void;
}

/** An origin that answers `hello from <name>`; `start()` again on the same port after `stop()`. */
function origin(name: string, running = true): Origin {
  const o: Origin = {
    name,
    server: undefined,
    port: 0,
    start: () => {
      o.server = Bun.serve({ hostname: "127.0.0.1", port: o.port, fetch: () => new Response(`hello from ${name}`) });
      o.port = o.server.port as number;
    },
    stop: () => {
      o.server?.stop(true);
      o.server = undefined;
    },
  };
  o.start();
  if (!running) o.stop();
  return o;
}

let datum: LocalDatum;
const origins: Origin[] = [];
let work: string;

function groupFile(name: string, services: readonly { name: string; port: number; label?: string }[], extra = ""): string {
  const items = services.map((s) => `  - name: ${s.name}\n    endpoint: 127.0.0.1:${s.port}\n${s.label ? `    label: ${s.label}\n` : ""}`).join("");
  return `name: ${name}\n${extra}tunnels:\n${items}`;
}

function write(file: string, text: string): string {
  const path = join(work, file);
  writeFileSync(path, text);
  return path;
}

function up(args: readonly string[]): Promise<ListenProcess> {
  return startListen(args, { env: datum.env, command: ["tunnel", "up"], cwd: work, waitForReady: false });
}

function cli(args: readonly string[]) {
  return runCli(args, { env: datum.env, cwd: work, timeoutMs: 60_000 });
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = server.port as number;
  server.stop(true);
  return port;
}

async function runState(name: string): Promise<RunState | undefined> {
  return await readRunState(tunnelFiles(tunnelDir(stateRoot("user", { env: datum.env }), name)).run).catch(() => undefined);
}

async function body(url: string): Promise<string> {
  const res = await fetch(url, { keepalive: false });
  return `${res.status} ${await res.text()}`;
}

async function snapshot(): Promise<Record<string, { metadata: { name: string } }[]>> {
  const res = await datum.admin("state");
  return ((await res.json()) as { projects: Record<string, Record<string, { metadata: { name: string } }[]>> }).projects[PROJECT] ?? {};
}

/** The `name url` lines `up` prints on stdout once the group has settled. */
function urlLines(stdout: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const m = /^([a-z0-9-]+) (https?:\/\/\S+)$/.exec(line.trim());
    if (m?.[1] && m[2]) lines.set(m[1], m[2]);
  }
  return lines;
}

beforeAll(async () => {
  datum = await startLocalDatum();
  work = mkdtempSync(join(tmpdir(), "group-e2e-"));
});

afterAll(async () => {
  await killAllListens();
  for (const o of origins) o.stop();
  await datum?.stop();
});

describe("tunnel up", () => {
  test("one process serves every service; a service whose origin is down is degraded and does not hold the others; Ctrl+C disables all", async () => {
    const app = origin("app");
    const api = origin("api");
    const db = origin("db", false);
    origins.push(app, api, db);
    const file = write("web.yaml", groupFile("web-stack", [{ name: "app", port: app.port, label: "Storefront" }, { name: "api", port: api.port }, { name: "db", port: db.port }]));
    const p = await up(["-f", file]);
    await p.waitFor(() => urlLines(p.stdout()).size === 2 || p.exitCode() !== null, 45_000, "the settled lines");
    const urls = urlLines(p.stdout());
    expect(p.stderr()).toMatch(/db: .*origin .* does not answer/);
    expect(await body(urls.get("app") as string)).toBe("200 hello from app");
    expect(await body(urls.get("api") as string)).toBe("200 hello from api");

    // One identity, one Connector, three tunnels on it.
    const state = (await runState("web-stack")) as RunState;
    expect(state.pid).toBe(p.pid);
    expect(state.services?.map((s) => s.name)).toEqual(["app", "api", "db"]);
    expect(state.services?.find((s) => s.name === "db")?.readiness.state).toBe("degraded");
    expect(state.readiness.ready).toBe(false);
    expect(state.readiness.reason).toMatch(/^db: origin/);
    const snap = await snapshot();
    const ids = state.services?.map((s) => s.tunnelId as string) ?? [];
    const proxies = (snap.httpproxies ?? []) as unknown as HTTPProxy[];
    const used = new Set(proxies.filter((x) => ids.includes(x.metadata.name as string)).map((x) => proxyConnectorName(x)));
    expect(used.size).toBe(1);
    expect(ids).toHaveLength(3);

    // The origin comes up: the service turns ready without a restart, and the group with it.
    db.start();
    await until(async () => (await runState("web-stack"))?.readiness.ready === true, 90_000, "the group ready once db's origin answers");
    const dbUrl = (await runState("web-stack"))?.services?.find((s) => s.name === "db")?.publicUrls[0] as string;
    expect(await body(dbUrl)).toBe("200 hello from db");

    const exit = await p.stop("SIGINT");
    expect(exit.code).toBe(0);
    const after = await snapshot();
    const advertised = new Set((after.connectoradvertisements ?? []).map((a) => a.metadata.name));
    for (const id of ids) expect(advertised.has(id)).toBe(false);
    // Kept in Datum: a restart finds the same tunnels (services.json), hence the same hostnames.
    const again = await up(["-f", file]);
    await again.waitFor(() => urlLines(again.stdout()).size === 3 || again.exitCode() !== null, 45_000, "the settled lines again");
    expect(urlLines(again.stdout())).toEqual(new Map([["app", urls.get("app") as string], ["api", urls.get("api") as string], ["db", dbUrl]]));
    expect((await again.stop("SIGINT")).code).toBe(0);
  }, 240_000);

  test("a changed file is applied while running: added created, removed disabled (kept), endpoint changed in place, the untouched one never fails a request", async () => {
    const [a, b, c, d, c2] = ["keep", "gone", "moved", "new", "moved2"].map((n) => origin(n));
    origins.push(a as Origin, b as Origin, c as Origin, d as Origin, c2 as Origin);
    const spec = (moved: Origin) => [{ name: "keep", port: (a as Origin).port }, { name: "gone", port: (b as Origin).port }, { name: "moved", port: moved.port }];
    const file = write("reload.yaml", groupFile("reload-stack", spec(c as Origin)));
    const p = await up(["-f", file]);
    await p.waitFor(() => urlLines(p.stdout()).size === 3 || p.exitCode() !== null, 45_000, "the settled lines");
    const urls = urlLines(p.stdout());
    const goneId = (await runState("reload-stack"))?.services?.find((s) => s.name === "gone")?.tunnelId as string;

    // Steady traffic on the untouched service through the whole reload.
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const got = await body(urls.get("keep") as string).catch((err: unknown) => String(err));
        if (got === "200 hello from keep") ok++;
        else failures.push(got);
      }
    })();
    await until(() => ok >= 5, 10_000, "traffic before the reload");

    write("reload.yaml", groupFile("reload-stack", [{ name: "keep", port: (a as Origin).port }, { name: "moved", port: (c2 as Origin).port }, { name: "new", port: (d as Origin).port }]));
    await until(async () => (await runState("reload-stack"))?.group?.lastReload?.ok === true, 45_000, "the reload applied");
    const state = (await runState("reload-stack")) as RunState;
    const okBefore = ok;
    await until(() => ok >= okBefore + 5, 10_000, "traffic after the reload");
    stop = true;
    await traffic;
    expect(failures).toEqual([]);

    expect(state.group?.lastReload).toMatchObject({ added: ["new"], removed: ["gone"], changed: ["moved"], deleted: [] });
    expect(state.services?.map((s) => s.name)).toEqual(["keep", "moved", "new"]);
    await until(async () => (await body(urls.get("moved") as string)) === "200 hello from moved2", 15_000, "moved serves its new origin");
    const newUrl = state.services?.find((s) => s.name === "new")?.publicUrls[0] as string;
    await until(async () => (await body(newUrl)) === "200 hello from new", 15_000, "the added service answers");
    const snap = await snapshot();
    expect((snap.httpproxies ?? []).some((x) => x.metadata.name === goneId)).toBe(true);
    expect((snap.connectoradvertisements ?? []).some((x) => x.metadata.name === goneId)).toBe(false);
    await p.waitFor(() => /reloaded: \+new -gone ~moved \(unchanged: 1\)/.test(p.stderr()), 5_000, "the reload shown");

    // A bad file on reload is refused whole: logged with its reason, everything keeps serving.
    write("reload.yaml", "name: reload-stack\ntunnels:\n  - name: keep\n    endpoint: 127.0.0.1:99999\n");
    await until(async () => (await runState("reload-stack"))?.group?.lastReload?.ok === false, 20_000, "the bad file refused");
    expect((await runState("reload-stack"))?.group?.lastReload?.message).toMatch(/tunnels\[0\] \(keep\): endpoint/);
    await p.waitFor(() => /reload refused/.test(p.stderr()), 5_000, "the refusal shown");
    expect(await body(urls.get("keep") as string)).toBe("200 hello from keep");
    expect(await body(newUrl)).toBe("200 hello from new");

    // tunnel reload --prune from another terminal: the removed service's tunnel is deleted.
    const pruneFile = write("prune.yaml", groupFile("reload-stack", [{ name: "keep", port: (a as Origin).port }, { name: "moved", port: (c2 as Origin).port }]));
    const r = await cli(["tunnel", "reload", "--name", "reload-stack", "-f", pruneFile, "--prune"]);
    expect(r.stderr).toBe(`Reloading group reload-stack (PID ${p.pid}) from ${pruneFile}…\n`);
    expect(r.stdout).toBe("deleted: new\nunchanged: 2\n");
    expect(r.code).toBe(0);
    const newId = state.services?.find((s) => s.name === "new")?.tunnelId as string;
    expect(((await snapshot()).httpproxies ?? []).some((x) => x.metadata.name === newId)).toBe(false);

    // tunnel reload with a bad file: exit 65 naming the problem, nothing sent.
    const bad = write("bad.yaml", "name: reload-stack\ntunnels: []\n");
    const refused = await cli(["tunnel", "reload", "--name", "reload-stack", "-f", bad]);
    expect(refused.code).toBe(65);
    expect(refused.stderr).toMatch(/^error: .*bad\.yaml: .*tunnels/m);
    expect(await body(urls.get("keep") as string)).toBe("200 hello from keep");
    expect((await p.stop("SIGINT")).code).toBe(0);
  }, 240_000);
});

describe("bad files", () => {
  // [what, file text, what the error line must say]
  const CASES: [string, string, RegExp][] = [
    ["a YAML syntax error", "name: broken\ntunnels:\n  - name: app\n    endpoint: [127.0.0.1:3000\n", /bad\.yaml: line \d+: /],
    ["an unknown key", "name: broken\ntunnels:\n  - name: app\n    endpont: 127.0.0.1:3000\n", /tunnels\[0\] \(app\).*endpont/],
    ["duplicate service names", "name: broken\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:3000\n  - name: app\n    endpoint: 127.0.0.1:3001\n", /tunnels\[1\] \(app\).*name/],
    ["an invalid endpoint", "name: broken\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:99999\n", /tunnels\[0\] \(app\): endpoint/],
    ["an empty list", "name: broken\ntunnels: []\n", /bad\.yaml: .*tunnels/],
    ["two services on one endpoint", "name: broken\ntunnels:\n  - name: a\n    endpoint: 127.0.0.1:3000\n  - name: b\n    endpoint: http://127.0.0.1:3000\n", /tunnels\[1\] \(b\): endpoint/],
  ];
  for (const [what, text, message] of CASES) {
    test(`${what}: exit 65 naming the problem; nothing written, nothing requested`, async () => {
      const file = write("bad.yaml", text);
      const { items } = (await (await datum.admin("requests")).json()) as { items: { seq: number }[] };
      const before = items.reduce((m, e) => Math.max(m, e.seq), 0);
      for (const args of [["tunnel", "up", "-f", file], ["tunnel", "up", "-f", file, "--detach"], ["tunnel", "install", "-f", file, "--session", "s"]]) {
        const r = await cli(args);
        expect(r.code).toBe(65);
        expect(r.stderr.split("\n")[0]).toMatch(/^error: /);
        expect(r.stderr.split("\n")[0]).toMatch(message);
        expect(r.stdout).toBe("");
      }
      const since = (await (await datum.admin(`requests?since=${before}`)).json()) as { items: unknown[] };
      expect(since.items).toEqual([]);
      expect(existsSync(tunnelDir(stateRoot("user", { env: datum.env }), "broken"))).toBe(false);
    });
  }

  test("a name is a group or a single tunnel, never both", async () => {
    const o = origin("solo");
    origins.push(o);
    const solo = await cli(["tunnel", "listen", "--detach", "--name", "solo", "--endpoint", `127.0.0.1:${o.port}`]);
    expect(solo.code).toBe(0);
    const asGroup = await cli(["tunnel", "up", "-f", write("solo.yaml", groupFile("solo", [{ name: "a", port: o.port }]))]);
    expect(asGroup.code).toBe(64);
    expect(asGroup.stderr).toMatch(/^error: "solo" is a single tunnel on this machine, not a group$/m);
    expect((await cli(["tunnel", "reload", "--name", "solo"])).stderr).toMatch(/^error: "solo" is a single tunnel, not a group$/m);
    expect((await cli(["tunnel", "stop", "--name", "solo"])).code).toBe(0);

    const g = await cli(["tunnel", "up", "-f", write("grp.yaml", groupFile("grp", [{ name: "a", port: o.port }])), "--detach"]);
    expect(g.code).toBe(0);
    const asSingle = await cli(["tunnel", "listen", "--detach", "--name", "grp", "--endpoint", `127.0.0.1:${o.port}`]);
    expect(asSingle.code).toBe(64);
    expect(asSingle.stderr).toMatch(/^error: "grp" is a group of tunnels, not a single tunnel$/m);
    expect((await cli(["tunnel", "stop", "--name", "grp"])).stdout).toBe("Stopped group grp\n");
  }, 90_000);

  test("a missing file is a usage error naming it", async () => {
    const r = await cli(["tunnel", "up"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(join(work, "datum-tunnels.yaml"));
  });
});

describe("tunnel up --detach", () => {
  test("in the background: exit 0 once every service answers; ps, ps --wide, status, logs, reload and stop work on the group by its name", async () => {
    const one = origin("one");
    const two = origin("two");
    const three = origin("three");
    origins.push(one, two, three);
    const file = write("bg.yaml", groupFile("bg-stack", [{ name: "one", port: one.port }, { name: "two", port: two.port }]));
    const started = await cli(["tunnel", "up", "-f", file, "--detach"]);
    expect(started.code).toBe(0);
    const urls = urlLines(started.stdout);
    expect([...urls.keys()]).toEqual(["one", "two"]);
    expect(started.stderr).toMatch(/^Group bg-stack is ready in the background \(PID \d+\)/m);
    expect(await body(urls.get("one") as string)).toBe("200 hello from one");
    expect(await body(urls.get("two") as string)).toBe("200 hello from two");

    const again = await cli(["tunnel", "up", "-f", file, "--detach"]);
    expect(again.code).toBe(64);
    expect(again.stderr).toMatch(/^error: group "bg-stack" is already running/m);

    const ps = await cli(["tunnel", "ps"]);
    expect(ps.code).toBe(0);
    const row = ps.stdout.split("\n").find((l) => l.startsWith("bg-stack "));
    expect(row).toMatch(/\bready\b.*2\/2 ready/);
    const wide = await cli(["tunnel", "ps", "--wide"]);
    expect(wide.stdout).toMatch(/^bg-stack\/one\s+-\s+ready/m);
    expect(wide.stdout).toMatch(/^bg-stack\/two\s+-\s+ready/m);
    const doc = JSON.parse((await cli(["tunnel", "ps", "-o", "json"])).stdout) as { name: string; services?: { name: string; url: string }[] }[];
    expect(doc.find((e) => e.name === "bg-stack")?.services?.map((x) => [x.name, x.url])).toEqual([["one", urls.get("one") as string], ["two", urls.get("two") as string]]);

    const status = await cli(["tunnel", "status", "--name", "bg-stack"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(urls.get("one") as string);
    expect(status.stdout).toContain(urls.get("two") as string);
    expect((await cli(["tunnel", "status", "--name", "bg-stack", "--probe"])).code).toBe(0);

    // Edit the file and reload by name: it re-reads the file the group was started from.
    write("bg.yaml", groupFile("bg-stack", [{ name: "one", port: one.port }, { name: "two", port: two.port }, { name: "three", port: three.port }]));
    const reloaded = await cli(["tunnel", "reload", "--name", "bg-stack"]);
    expect(reloaded.code).toBe(0);
    expect(reloaded.stdout).toBe("added: three\nunchanged: 2\n");
    const threeUrl = (await runState("bg-stack"))?.services?.find((x) => x.name === "three")?.publicUrls[0] as string;
    await until(async () => (await body(threeUrl)) === "200 hello from three", 15_000, "the added service answers");

    const logs = await cli(["tunnel", "logs", "--name", "bg-stack", "--tail", "200"]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/three: Tunnel ready/);

    // doctor checks every service's hops, each titled with its name.
    const doctor = await cli(["tunnel", "doctor", "--name", "bg-stack", "-o", "json"]);
    const report = JSON.parse(doctor.stdout) as { hops: { id: string; title: string; status: string }[] };
    for (const svc of ["one", "two", "three"]) {
      expect(report.hops.filter((h) => h.title.startsWith(`${svc}: `)).map((h) => [h.id, h.status])).toEqual([
        ["tunnel.objects", "pass"],
        ["tunnel.dns", "pass"],
        ["tunnel.edge", "pass"],
        ["tunnel.origin", "pass"],
      ]);
    }

    const stopped = await cli(["tunnel", "stop", "--name", "bg-stack"]);
    expect(stopped.code).toBe(0);
    const state = (await runState("bg-stack")) as RunState;
    expect(state.phase).toBe("stopped");
    const advertised = new Set(((await snapshot()).connectoradvertisements ?? []).map((a) => a.metadata.name));
    for (const svc of state.services ?? []) expect(advertised.has(svc.tunnelId as string)).toBe(false);
    const after = await cli(["tunnel", "ps"]);
    expect(after.stdout.split("\n").find((l) => l.startsWith("bg-stack "))).toMatch(/\bstopped\b/);
  }, 180_000);
});

describe("tunnel up: restarts, --prune, -o json and /metrics", () => {
  test("a restart without a service leaves its tunnel disabled and kept; with --prune it is deleted", async () => {
    const x = origin("x");
    const y = origin("y");
    origins.push(x, y);
    const file = write("prune-start.yaml", groupFile("prune-start", [{ name: "x", port: x.port }, { name: "y", port: y.port }]));
    const first = await up(["-f", file]);
    await first.waitFor(() => urlLines(first.stdout()).size === 2 || first.exitCode() !== null, 45_000, "the settled lines");
    const yId = (await runState("prune-start"))?.services?.find((svc) => svc.name === "y")?.tunnelId as string;
    expect((await first.stop("SIGINT")).code).toBe(0);

    write("prune-start.yaml", groupFile("prune-start", [{ name: "x", port: x.port }]));
    const kept = await up(["-f", file]);
    await kept.waitFor(() => urlLines(kept.stdout()).size === 1 || kept.exitCode() !== null, 45_000, "the settled line");
    expect(((await snapshot()).httpproxies ?? []).some((h) => h.metadata.name === yId)).toBe(true);
    expect((await kept.stop("SIGINT")).code).toBe(0);

    const pruned = await up(["-f", file, "--prune"]);
    await pruned.waitFor(() => urlLines(pruned.stdout()).size === 1 || pruned.exitCode() !== null, 45_000, "the settled line");
    expect(((await snapshot()).httpproxies ?? []).some((h) => h.metadata.name === yId)).toBe(false);
    expect(pruned.stderr()).toContain(`y: deleted tunnel ${yId}`);
    const connector = (await runState("prune-start"))?.heartbeat.connector;
    expect((await pruned.stop("SIGINT")).code).toBe(0);

    // Every service replaced, with --prune: the old tunnels go, the group's Connector stays (its agent serves on it).
    const xId = (await runState("prune-start"))?.services?.find((svc) => svc.name === "x")?.tunnelId as string;
    write("prune-start.yaml", groupFile("prune-start", [{ name: "z", port: y.port }]));
    const replaced = await up(["-f", file, "--prune"]);
    await replaced.waitFor(() => urlLines(replaced.stdout()).has("z") || replaced.exitCode() !== null, 45_000, "z settled");
    expect(((await snapshot()).httpproxies ?? []).some((h) => h.metadata.name === xId)).toBe(false);
    const zId = (await runState("prune-start"))?.services?.[0]?.tunnelId;
    const zProxy = ((await snapshot()).httpproxies ?? []).find((h) => h.metadata.name === zId) as unknown as HTTPProxy;
    expect(proxyConnectorName(zProxy)).toBe(connector as string);
    expect((await replaced.stop("SIGINT")).code).toBe(0);
  }, 120_000);

  test("-o json: every service's events carry its name; the group settles once; /metrics labels each service", async () => {
    const m = origin("m");
    const n = origin("n");
    origins.push(m, n);
    const healthPort = await freePort();
    const file = write("json.yaml", groupFile("json-stack", [{ name: "m", port: m.port }, { name: "n", port: n.port }], `health: 127.0.0.1:${healthPort}\n`));
    const p = await up(["-f", file, "-o", "json"]);
    const events = () =>
      p
        .stdout()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { type: string; service?: string; ready?: number; total?: number; urls?: string[] });
    await p.waitFor(() => events().some((e) => e.type === "group_settled") || p.exitCode() !== null, 45_000, "group_settled");
    const ready = events().filter((e) => e.type === "tunnel_ready");
    expect(ready.map((e) => e.service).sort()).toEqual(["m", "n"]);
    expect(events().filter((e) => e.type === "group_settled")).toMatchObject([{ ready: 2, total: 2 }]);
    for (const e of events()) if (e.type.startsWith("tunnel_")) expect(["m", "n"]).toContain(e.service as string);

    const mUrl = ready.find((e) => e.service === "m")?.urls?.[0] as string;
    expect(await body(mUrl)).toBe("200 hello from m");
    const readyz = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(readyz.status).toBe(200);
    await until(async () => /service="m"/.test(await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text()), 15_000, "per-service metrics");
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    expect(metrics).toMatch(/datum_connect_service_ready\{service="m"\} 1/);
    expect(metrics).toMatch(/datum_connect_service_ready\{service="n"\} 1/);
    expect((await p.stop("SIGINT")).code).toBe(0);
    expect(events().some((e) => e.type === "tunnel_disabled" && e.service === "m")).toBe(true);
  }, 120_000);
});

describe("tunnel stop of a group that could not disable", () => {
  test("control plane down: exit 69 naming the group, the advertisement that may still be up and how to take it down", async () => {
    const w = origin("w");
    origins.push(w);
    const file = write("down.yaml", groupFile("down-stack", [{ name: "w", port: w.port }]));
    const started = await cli(["tunnel", "up", "-f", file, "--detach"]);
    expect(started.code).toBe(0);
    const id = (await runState("down-stack"))?.services?.[0]?.tunnelId as string;
    await addFault(datum, { status: 503, forMs: 120_000 });
    const r = await cli(["tunnel", "stop", "--name", "down-stack"]);
    await datum.admin("faults", { method: "DELETE" });
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/^error: group down-stack's process stopped, but a tunnel of it could not be disabled: its advertisement may still be up \(w: /m);
    expect(r.stderr).toContain(`tunnel disable --id ${id}`);
    expect(((await snapshot()).connectoradvertisements ?? []).some((a) => a.metadata.name === id)).toBe(true);
    const off = await cli(["tunnel", "disable", "--id", id, "--project", PROJECT]);
    expect(off.code).toBe(0);
  }, 120_000);
});

describe("a service that cannot start", () => {
  test("one refused by the platform does not hold the other; when every service is refused the group exits with the platform's answer", async () => {
    const f = origin("f");
    const g = origin("g");
    origins.push(f, g);
    const project = "group-quota";
    await addFault(datum, { match: { method: "POST", resource: "httpproxies", project }, quota: "exceeded", count: 1 });
    const file = write("quota.yaml", groupFile("quota-stack", [{ name: "f", port: f.port }, { name: "g", port: g.port }], `project: ${project}\n`));
    const p = await up(["-f", file]);
    await p.waitFor(() => /Ready: 1 of 2 services verified/.test(p.stderr()) || p.exitCode() !== null, 45_000, "the group settled");
    expect(urlLines(p.stdout()).size).toBe(1);
    expect(p.stderr()).toMatch(/^[fg]: .*failed to start: Quota limit exceeded for HTTPProxy resources/m);
    expect((await runState("quota-stack"))?.readiness.reason).toMatch(/^[fg]: failed to start: Quota limit exceeded/);
    expect((await p.stop("SIGINT")).code).toBe(0);

    await addFault(datum, { match: { method: "POST", resource: "httpproxies", project: "group-quota-all" }, quota: "exceeded" });
    const all = write("quota-all.yaml", groupFile("quota-all", [{ name: "f", port: f.port }, { name: "g", port: g.port }], "project: group-quota-all\n"));
    const refused = await up(["-f", all]);
    const exit = await refused.done;
    expect(exit.code).toBe(64);
    expect(exit.stderr).toMatch(/^error: Quota limit exceeded for HTTPProxy resources\.$/m);
    expect((await runState("quota-all"))?.phase).toBe("failed");
  }, 120_000);
});

describe("renaming a service", () => {
  test("a service renamed in the file keeps its tunnel and hostname; the old name no longer leads to it", async () => {
    const r = origin("renamed");
    origins.push(r);
    const file = write("rename.yaml", groupFile("rename-stack", [{ name: "before", port: r.port }]));
    const p = await up(["-f", file]);
    await p.waitFor(() => urlLines(p.stdout()).has("before") || p.exitCode() !== null, 45_000, "the settled line");
    const url = urlLines(p.stdout()).get("before") as string;
    const id = (await runState("rename-stack"))?.services?.[0]?.tunnelId as string;
    write("rename.yaml", groupFile("rename-stack", [{ name: "after", port: r.port }]));
    await until(async () => (await runState("rename-stack"))?.group?.lastReload?.ok === true, 30_000, "the reload applied");
    const state = (await runState("rename-stack")) as RunState;
    expect(state.group?.lastReload).toMatchObject({ added: ["after"], removed: ["before"] });
    expect(state.services?.map((x) => [x.name, x.tunnelId])).toEqual([["after", id]]);
    await until(async () => (await body(url)) === "200 hello from renamed", 15_000, "the same URL answers under the new name");
    const ids = JSON.parse(readFileSync(tunnelFiles(tunnelDir(stateRoot("user", { env: datum.env }), "rename-stack")).services, "utf8")) as Record<string, string>;
    expect(ids).toEqual({ after: id });
    expect((await p.stop("SIGINT")).code).toBe(0);
  }, 90_000);
});

