/**
 * A group (docs/groups.md) as a system service under a real systemd: the machine of
 * test/helpers/systemd-datum.ts (a Debian booted with systemd-nspawn, the compiled executable, the
 * local Datum as a unit, root's service-account session) plus origins of its own inside it.
 *
 *   a group file of 3 services in a working directory → `tunnel install -f FILE --session S --system`
 *   → READY=1 only after every service was verified (ActiveEnterTimestamp against each origin's log
 *   of the probe that came through its tunnel) → the working directory deleted, the unit restarted:
 *   ready again on the same URLs → `tunnel ps --system --wide` and `tunnel status` show the services
 *   → an edit applied by `systemctl reload` (SIGHUP; the recorded file is gone, so the state's copy
 *   is read) and another by `tunnel reload -f FILE`: each adds, removes and moves a service while
 *   steady requests to the untouched one all succeed → a bad file at the recorded path is refused
 *   on `systemctl reload` and the group keeps serving → `tunnel stop` withdraws every advertisement
 *   → `tunnel uninstall --purge` leaves no unit, no state and none of the group's tunnels.
 *
 * Needs real root: `npm run test:system` (scripts/test-system.sh). Elsewhere it is skipped, saying why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunState } from "../../src/state/run-state.ts";
import { systemMachineUnavailable, type SystemdMachine } from "../helpers/systemd-machine.ts";
import { bootDatumMachine, EXE, scopeOf, SESSION, STATE, SYSTEM_STATE, tsMs, type DatumMachine, type LoggedRequest, type OriginHit } from "../helpers/systemd-datum.ts";

const unavailable = systemMachineUnavailable();
if (unavailable) console.log(`skip: test/system/systemd-group.test.ts: ${unavailable}`);

const GROUP = "stack";
const s = scopeOf("system", GROUP);
/** The working directory the group is installed from, deleted after the install. */
const WORK = "/root/stack-checkout";
const SOURCE = `${WORK}/datum-tunnels.yaml`;
/** Where the second edit is kept (`tunnel reload -f`). */
const KEPT = "/root/stack.yaml";
const DIR = `${SYSTEM_STATE}/tunnels/${GROUP}`;
const ORIGINS_LOG = "/var/lib/origin/group.jsonl";
/** One origin per port, each answering `hello from <name>`. */
const ORIGINS = { keep: 18201, gone: 18202, moved: 18203, moved2: 18204, new: 18205, moved3: 18206, extra: 18207 } as const;
type OriginName = keyof typeof ORIGINS;

let sys: DatumMachine;
let m: SystemdMachine;
const started = performance.now();

function log(line: string): void {
  console.log(line);
}

interface Service {
  readonly name: string;
  readonly origin: OriginName;
  readonly label?: string;
}

function groupText(comment: string, services: readonly Service[]): string {
  const items = services.map((x) => `  - name: ${x.name}\n    endpoint: 127.0.0.1:${ORIGINS[x.origin]}\n${x.label ? `    label: ${x.label}\n` : ""}`).join("");
  return `# ${comment}\nname: ${GROUP}\ntunnels:\n${items}`;
}

const V1 = groupText("the stack on this host, as checked out", [
  { name: "keep", origin: "keep" },
  { name: "gone", origin: "gone" },
  { name: "moved", origin: "moved", label: "Moved service" },
]);
/** Applied by `systemctl reload`: gone removed, moved to another origin, new added. */
const V2 = groupText("first edit", [
  { name: "keep", origin: "keep" },
  { name: "moved", origin: "moved2", label: "Moved service" },
  { name: "new", origin: "new" },
]);
/** Applied by `tunnel reload -f`: new removed, moved again, extra added. */
const V3 = groupText("second edit", [
  { name: "keep", origin: "keep" },
  { name: "moved", origin: "moved3", label: "Moved service" },
  { name: "extra", origin: "extra" },
]);
/** A port the platform refuses: the whole file is refused. */
const BAD = `name: ${GROUP}\ntunnels:\n  - name: keep\n    endpoint: 127.0.0.1:99999\n`;

/** Write a file in the machine (its directory made). */
async function put(path: string, text: string): Promise<void> {
  await m.must(`mkdir -p "$(dirname ${path})" && cat > ${path} <<'EOF_GROUP_FILE'\n${text}EOF_GROUP_FILE\n`);
  expect(await m.must(`cat ${path}`)).toBe(text);
}

async function runJson(): Promise<RunState> {
  return JSON.parse(await m.must(`cat ${DIR}/run.json`)) as RunState;
}

function serviceOf(run: RunState, name: string) {
  const found = run.services?.find((x) => x.name === name);
  if (!found) throw new Error(`no service ${name} in run.json: ${JSON.stringify(run.services?.map((x) => x.name))}`);
  return found;
}

/** Poll run.json until `ok` holds (bounded). */
async function untilRun(what: string, timeoutMs: number, ok: (run: RunState) => boolean): Promise<RunState> {
  const deadline = Date.now() + timeoutMs;
  let last: RunState | undefined;
  for (;;) {
    last = await runJson().catch(() => undefined);
    if (last && ok(last)) return last;
    if (Date.now() > deadline) {
      const journal = (await m.sh(`${s.journal} | tail -n 40; tail -n 40 ${DIR}/logs/tunnel.log`)).stdout;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last run.json group: ${JSON.stringify(last?.group)}\n${journal}`);
    }
    await Bun.sleep(200);
  }
}

/** GET `url` from inside the machine until it answers `hello from <origin>` (bounded). */
async function untilServes(url: string, origin: OriginName, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const r = await sys.get(url).catch((err: unknown) => ({ status: 0, body: String(err) }));
    last = `${r.status} ${r.body}`;
    if (last === `200 hello from ${origin}`) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} to serve ${origin}; last: ${last}`);
    await Bun.sleep(250);
  }
}

async function advertised(): Promise<Set<string>> {
  return new Set(((await sys.datumState()).connectoradvertisements ?? []).map((a) => a.metadata.name));
}

async function proxies(): Promise<Set<string>> {
  return new Set(((await sys.datumState()).httpproxies ?? []).map((a) => a.metadata.name));
}

/**
 * Steady requests to one URL from inside the machine, in a loop of its own (bounded: 2000 requests
 * or 240 s), until `stop()`. `progress()` is how many answered right so far.
 */
function steadyTraffic(url: string, origin: OriginName, tag: string) {
  const stopFile = `/run/traffic-${tag}.stop`;
  const progressFile = `/run/traffic-${tag}.json`;
  const script = [
    `const fs = require("node:fs");`,
    `const [url, want, stopFile, progressFile] = process.argv.slice(1);`,
    `let ok = 0, n = 0; const failures = []; const deadline = Date.now() + 240000;`,
    `while (!fs.existsSync(stopFile) && Date.now() < deadline && n < 2000) {`,
    `  n++;`,
    `  try { const r = await fetch(url, { keepalive: false, signal: AbortSignal.timeout(10000) }); const b = await r.text();`,
    `    if (r.status === 200 && b === want) ok++; else failures.push(r.status + " " + b.slice(0, 200)); }`,
    `  catch (e) { failures.push(String(e)); }`,
    `  fs.writeFileSync(progressFile, JSON.stringify({ ok, failed: failures.length }));`,
    `}`,
    `console.log(JSON.stringify({ ok, n, failed: failures.length, failures: failures.slice(0, 20), stopped: fs.existsSync(stopFile) }));`,
  ].join("\n");
  const done = m
    .must(`rm -f ${stopFile} ${progressFile}; exec bun -e '${script}' '${url}' 'hello from ${origin}' '${stopFile}' '${progressFile}'`, { timeoutMs: 270_000 })
    .then((out) => JSON.parse(out.trim()) as { ok: number; n: number; failed: number; failures: string[]; stopped: boolean });
  let seen = 0;
  const progress = async (): Promise<number> => {
    const text = (await m.sh(`cat ${progressFile} 2>/dev/null`)).stdout;
    try {
      seen = (JSON.parse(text) as { ok: number }).ok;
    } catch {
      // not written yet, or read while being written: the last count stands
    }
    return seen;
  };
  return {
    progress,
    async untilMore(than: number, what: string): Promise<number> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const now = await progress();
        if (now >= than + 5) return now;
        if (Date.now() > deadline) throw new Error(`steady traffic stalled (${now} answered) waiting for ${what}`);
        await Bun.sleep(100);
      }
    },
    async stop() {
      await m.must(`touch ${stopFile}`);
      return await done;
    },
  };
}

beforeAll(async () => {
  if (unavailable) return;
  sys = await bootDatumMachine(log);
  m = sys.m;
  // The group's origins: one process serving every port, logging when and with which Host each was reached.
  const script = [
    `const fs = require("node:fs");`,
    `for (const [name, port] of Object.entries(JSON.parse(process.argv[1])))`,
    `  Bun.serve({ hostname: "127.0.0.1", port, fetch(req) {`,
    `    fs.appendFileSync("${ORIGINS_LOG}", JSON.stringify({ at: Date.now(), origin: name, headers: Object.fromEntries(req.headers) }) + "\\n");`,
    `    return new Response("hello from " + name); } });`,
  ].join("\n");
  await m.must(`systemd-run --unit=group-origins /usr/local/bin/bun -e '${script}' '${JSON.stringify(ORIGINS)}'`);
  for (const name of Object.keys(ORIGINS) as OriginName[]) {
    const deadline = Date.now() + 20_000;
    while ((await sys.get(`http://127.0.0.1:${ORIGINS[name]}/`).catch(() => undefined))?.body !== `hello from ${name}`) {
      if (Date.now() > deadline) throw new Error(`origin ${name} did not come up`);
      await Bun.sleep(100);
    }
  }
}, 900_000);

afterAll(async () => {
  if (sys) {
    await sys.stop();
    log(`system: whole file took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}, 60_000);

describe("a group under a real systemd (system scope)", () => {
  const skip = unavailable !== undefined;
  /** service → public URL, from install's stdout. */
  const urls = new Map<string, string>();
  /** service → tunnel id, every one the group ever had. */
  const ids = new Map<string, string>();

  test.skipIf(skip)("install -f FILE → READY=1 only after every service was verified → each URL answers through its tunnel", async () => {
    await put(SOURCE, V1);
    const installedAt = Date.now();
    const r = await m.sh(`cd ${WORK} && . /run/localdatum/env.sh && unset DATUM_CONNECT_DIR && exec ${EXE} tunnel install -f datum-tunnels.yaml --session '${SESSION}' --system`, { timeoutMs: 180_000 });
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    for (const line of r.stdout.trim().split("\n")) {
      const match = /^([a-z0-9-]+) (http:\/\/\S+)$/.exec(line);
      if (match?.[1] && match[2]) urls.set(match[1], match[2]);
    }
    expect([...urls.keys()].sort()).toEqual(["gone", "keep", "moved"]);
    expect(r.stderr).toContain(`Installed group ${GROUP} (3 services) as systemd service ${s.unit.replace(/\.service$/, "")} (/etc/systemd/system/${s.unit})`);

    const p = await sys.show(s, STATE);
    expect([p.ActiveState, p.SubState, p.NRestarts, p.StatusText]).toEqual(["active", "running", "0", "ready: 3 services"]);

    // READY=1 came after each service's verifier probe reached its origin through the edge (Host:
    // the service's hostname), and after every service recorded itself ready.
    const readyAt = tsMs(p.ActiveEnterTimestamp);
    const hits = (await sys.originHits(ORIGINS_LOG)) as (OriginHit & { origin: string })[];
    const run = await runJson();
    for (const name of ["keep", "gone", "moved"]) {
      const host = new URL(urls.get(name) as string).host;
      const through = hits.filter((h) => h.at >= installedAt && h.headers.host === host);
      expect({ name, origins: [...new Set(through.map((h) => h.origin))] }).toEqual({ name, origins: [name] });
      expect(readyAt).toBeGreaterThanOrEqual((through[0] as OriginHit).at);
      const record = serviceOf(run, name);
      expect(record.readiness.ready).toBe(true);
      expect(readyAt).toBeGreaterThanOrEqual(Date.parse(record.readyAt as string));
      expect(record.publicUrls).toEqual([urls.get(name) as string]);
      ids.set(name, record.tunnelId as string);
    }
    const published = (await sys.requestLog()).filter((q: LoggedRequest) => Date.parse(q.time) >= installedAt && q.method === "PATCH" && /\/connectors\/[^/]+\/status$/.test(q.path) && q.status < 300);
    expect(published.length).toBeGreaterThan(0);
    expect(readyAt).toBeGreaterThan(Date.parse((published[0] as LoggedRequest).time));
    expect(run.pid).toBe(Number(p.MainPID));
    expect(run.group?.source).toBe(SOURCE);

    // What the unit runs from: the state's copy, byte for byte, and the recorded source.
    expect(await m.must(`cat ${DIR}/group.yaml`)).toBe(V1);
    expect(await m.must(`cat ${DIR}/tunnel.yaml`)).toMatch(new RegExp(`group_file: "?${SOURCE}"?\n`));
    for (const [name, url] of urls) expect(await sys.get(url)).toEqual({ status: 200, body: `hello from ${name}` });
  }, 240_000);

  test.skipIf(skip)("the working directory deleted, the unit restarted: ready again on the same URLs", async () => {
    await m.must(`rm -rf ${WORK}`);
    const before = await sys.show(s, STATE);
    await m.must(`systemctl restart --no-block ${s.unit}`);
    const after = await sys.until(s, "ready again after a restart without the working directory", 120_000, STATE, (q) => q.MainPID !== before.MainPID && q.ActiveState === "active" && q.StatusText === "ready: 3 services");
    expect(after.NRestarts).toBe("0"); // a restart asked for, not a failure
    const run = await runJson();
    for (const [name, url] of urls) {
      expect(serviceOf(run, name).publicUrls).toEqual([url]);
      expect(serviceOf(run, name).tunnelId).toBe(ids.get(name) as string);
      expect(await sys.get(url)).toEqual({ status: 200, body: `hello from ${name}` });
    }
  }, 180_000);

  test.skipIf(skip)("tunnel ps --system --wide lists the group and its services; tunnel status --name G --system shows them", async () => {
    const pid = (await sys.show(s, ["MainPID"])).MainPID as string;
    const ps = await sys.cli(s, "tunnel ps --system --wide");
    expect({ code: ps.code, stderr: ps.stderr }).toEqual({ code: 0, stderr: "" });
    const rows = ps.stdout.split("\n").map((l) => l.trim().split(/\s{2,}/));
    const groupRow = rows.find((row) => row[0] === GROUP);
    expect(groupRow?.slice(0, 4)).toEqual([GROUP, pid, "ready", "3/3 ready"]);
    for (const [name, url] of urls) {
      const row = rows.find((r) => r[0] === `${GROUP}/${name}`);
      expect({ name, row: row?.slice(0, 5) }).toEqual({ name, row: [`${GROUP}/${name}`, "-", "ready", "-", url] });
    }

    const st = await sys.cli(s, `tunnel status --name ${GROUP} --system`);
    expect({ code: st.code, stderr: st.stderr }).toEqual({ code: 0, stderr: "" });
    expect(st.stdout).toContain(`Group ${GROUP}\n`);
    expect(st.stdout).toMatch(/\nServices: +3\/3 ready\n/);
    expect(st.stdout).toContain(`copied from:  ${SOURCE}`);
    for (const [name, url] of urls) {
      expect(st.stdout).toMatch(new RegExp(`\\n  ${name} +ready\\n    URL: +${url.replace(/[.]/g, "\\.")}\\n    endpoint: +\\S*127\\.0\\.0\\.1:${ORIGINS[name as OriginName]}`));
    }
  }, 60_000);

  /**
   * Apply an edit by `act()` (a SIGHUP, or `tunnel reload`) and check that the same process converged to
   * `expected.text`, while steady requests to the untouched `keep` all succeed.
   */
  async function reloadWhileServing(act: () => Promise<void>, expected: { added: OriginName; removed: string; movedTo: OriginName; text: string; tag: string }) {
    const before = (await runJson()).group?.lastReload?.seq ?? 0;
    const pid = (await sys.show(s, ["MainPID"])).MainPID;
    const traffic = steadyTraffic(urls.get("keep") as string, "keep", expected.tag);
    let result: Awaited<ReturnType<typeof traffic.stop>> | undefined;
    try {
      const atStart = await traffic.untilMore(0, "the traffic to start");
      await act();
      const run = await untilRun(`lastReload to advance past ${before}`, 150_000, (r) => (r.group?.lastReload?.seq ?? 0) > before);
      // Requests went on while it converged, and after.
      await traffic.untilMore(atStart, "requests during and after the reload");
      expect(run.group?.lastReload).toMatchObject({ ok: true, message: null, added: [expected.added], removed: [expected.removed], deleted: [], changed: ["moved"], seq: before + 1 });
      expect(run.services?.map((x) => x.name)).toEqual(["keep", "moved", expected.added]);
      // The added service was verified before the reload answered: its URL answers at once.
      const added = serviceOf(run, expected.added);
      expect(added.readiness.ready).toBe(true);
      expect(added.publicUrls).toHaveLength(1);
      const addedUrl = added.publicUrls[0] as string;
      urls.set(expected.added, addedUrl);
      ids.set(expected.added, added.tunnelId as string);
      expect(await sys.get(addedUrl)).toEqual({ status: 200, body: `hello from ${expected.added}` });
      // The changed one keeps its tunnel and hostname and serves its new origin.
      expect(serviceOf(run, "moved").tunnelId).toBe(ids.get("moved") as string);
      expect(serviceOf(run, "moved").publicUrls).toEqual([urls.get("moved") as string]);
      await untilServes(urls.get("moved") as string, expected.movedTo, 30_000);
      // The removed one: its advertisement withdrawn, its tunnel kept in Datum (a later return keeps its hostname).
      const removedId = ids.get(expected.removed) as string;
      expect((await advertised()).has(removedId)).toBe(false);
      expect((await proxies()).has(removedId)).toBe(true);
      for (const name of ["keep", "moved", expected.added]) expect((await advertised()).has(ids.get(name) as string)).toBe(true);
      // The state's copy is now the accepted file; the same process, no restart.
      expect(await m.must(`cat ${DIR}/group.yaml`)).toBe(expected.text);
      expect((await m.sh(`ls ${DIR}/reload.json`)).code).not.toBe(0);
      const p = await sys.show(s, STATE);
      expect([p.ActiveState, p.MainPID, p.NRestarts, p.StatusText]).toEqual(["active", pid, "0", "reloaded: 1 added, 1 removed, 1 changed"]);
    } finally {
      result = await traffic.stop();
    }
    log(`system: steady traffic to keep through the reload: ${result.ok} answered, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    expect(result.stopped).toBe(true);
    expect(result.ok).toBeGreaterThan(10);
  }

  test.skipIf(skip)("systemctl reload (SIGHUP; the recorded file is gone, so the state's copy is read): added, removed, moved, and the untouched service never fails a request", async () => {
    await reloadWhileServing(
      async () => {
        await put(`${DIR}/group.yaml`, V2);
        await m.must(`systemctl reload ${s.unit}`);
      },
      { added: "new", removed: "gone", movedTo: "moved2", text: V2, tag: "sighup" },
    );
  }, 240_000);

  test.skipIf(skip)("tunnel reload --name G --system -f FILE: added, removed, moved again, and the untouched service never fails a request", async () => {
    await put(KEPT, V3);
    let out: { code: number | null; stdout: string; stderr: string } | undefined;
    await reloadWhileServing(
      async () => {
        out = await sys.cli(s, `tunnel reload --name ${GROUP} --system -f ${KEPT}`, 180_000);
      },
      { added: "extra", removed: "new", movedTo: "moved3", text: V3, tag: "reload" },
    );
    expect(out?.code).toBe(0);
    expect(out?.stdout).toBe("added: extra\nremoved (disabled, kept in Datum): new\nchanged: moved\nunchanged: 1\n");
  }, 240_000);

  test.skipIf(skip)("a bad file at the recorded path on systemctl reload is refused: logged, still active, still serving, the state's copy kept", async () => {
    const before = await runJson();
    const seq = before.group?.lastReload?.seq ?? 0;
    const p0 = await sys.show(s, STATE);
    await put(SOURCE, BAD); // the path install recorded exists again, readable: SIGHUP reads it
    try {
      await m.must(`systemctl reload ${s.unit}`);
      const run = await untilRun("the bad file refused", 60_000, (r) => (r.group?.lastReload?.seq ?? 0) > seq);
      expect(run.group?.lastReload).toMatchObject({ ok: false, seq: seq + 1 });
      expect(run.group?.lastReload?.message).toMatch(/tunnels\[0\] \(keep\): endpoint/);
      expect(run.group?.lastReload?.message).toContain(SOURCE);
      const logged = (await m.must(`cat ${DIR}/logs/tunnel.log`)).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
      expect(logged.filter((l) => l.msg.startsWith("reload refused: ") && l.msg.includes(SOURCE)).length).toBe(1);
      expect((await m.sh(`systemctl is-active ${s.unit}`)).stdout.trim()).toBe("active");
      const p = await sys.show(s, STATE);
      expect([p.MainPID, p.NRestarts]).toEqual([p0.MainPID, p0.NRestarts]);
      // systemctl reload has no exit code for it: the unit's status line says it was refused.
      expect(p.StatusText).toMatch(/^reload refused: .*tunnels\[0\] \(keep\): endpoint/);
      expect(await m.must(`cat ${DIR}/group.yaml`)).toBe(V3);
      expect(run.services?.map((x) => x.name)).toEqual(["keep", "moved", "extra"]);
      expect(await sys.get(urls.get("keep") as string)).toEqual({ status: 200, body: "hello from keep" });
      expect(await sys.get(urls.get("moved") as string)).toEqual({ status: 200, body: "hello from moved3" });
      expect(await sys.get(urls.get("extra") as string)).toEqual({ status: 200, body: "hello from extra" });
    } finally {
      await m.must(`rm -rf ${WORK}`);
    }
  }, 120_000);

  test.skipIf(skip)("tunnel stop withdraws every advertisement; uninstall --purge leaves no unit, no state and none of the group's tunnels", async () => {
    expect([...ids.keys()].sort()).toEqual(["extra", "gone", "keep", "moved", "new"]);
    const stop = await sys.cli(s, `tunnel stop --name ${GROUP} --system`);
    expect({ code: stop.code, stderr: stop.code === 0 ? "" : stop.stderr }).toEqual({ code: 0, stderr: "" });
    const p = await sys.show(s, STATE);
    expect([p.ActiveState, p.Result, p.ExecMainStatus]).toEqual(["inactive", "success", "0"]);
    const ads = await advertised();
    for (const [name, id] of ids) expect({ name, advertised: ads.has(id) }).toEqual({ name, advertised: false });

    const un = await sys.cli(s, `tunnel uninstall --name ${GROUP} --system --purge`);
    expect({ code: un.code, stderr: un.code === 0 ? "" : un.stderr }).toEqual({ code: 0, stderr: "" });
    const gone = await sys.show(s, ["LoadState", "ActiveState"]);
    expect([gone.LoadState, gone.ActiveState]).toEqual(["not-found", "inactive"]);
    expect((await m.sh(`ls /etc/systemd/system/${s.unit} ${DIR} 2>&1`)).code).not.toBe(0);
    const left = await proxies();
    for (const [name, id] of ids) expect({ name, inDatum: left.has(id) }).toEqual({ name, inDatum: false });
  }, 120_000);
});
