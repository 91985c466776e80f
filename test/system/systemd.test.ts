/**
 * The README's service flow under a real systemd (issue 15): a minimal Debian booted with
 * systemd-nspawn (test/helpers/systemd-machine.ts), its own loopback-only network holding the
 * compiled executable (bound read-only), the local Datum (`dev cloud`, a unit of its own), an
 * origin (all set up by test/helpers/systemd-datum.ts), and the tunnel's unit — for a system unit
 * (root, a service-account session) and a user unit (a lingering user). For each: install → the
 * manager starts it → READY=1 only after the public URL answered (systemd's ActiveEnterTimestamp
 * against the origin's log of the probe that came through the tunnel, and the local Datum's request
 * log) → `systemctl status` shows our STATUS= → traffic → a frozen agent (SIGSTOP) is killed by the
 * watchdog and restarted serving → `kill -9` → restarted → `tunnel stop` stays stopped with exit 0
 * → `tunnel start` → `tunnel status` shows the manager's state and last exit → `uninstall` leaves no
 * unit and no state. Then a unit started before the local Datum is up keeps retrying until it is,
 * and a setup longer than two watchdog periods (a slow certificate) is not killed.
 *
 * Needs real root: `npm run test:system` (scripts/test-system.sh; CI runs it after `npm test`).
 * Elsewhere — including inside the user namespace `npm test` runs in — it is skipped, saying why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RESTART_SEC, WATCHDOG_SEC } from "../../src/service/spec.ts";
import { systemMachineUnavailable, type SystemdMachine } from "../helpers/systemd-machine.ts";
import { API_PORT, bootDatumMachine, EDGE_PORT, ORIGIN_BODY, ORIGIN_PORT, scopeOf, SESSION, STATE, tsMs, type DatumMachine, type LoggedRequest, type OriginHit } from "../helpers/systemd-datum.ts";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const unavailable = systemMachineUnavailable();
if (unavailable) console.log(`skip: test/system/systemd.test.ts: ${unavailable}`);
else if (!existsSync("/sys/fs/cgroup/freezer/tasks")) console.log("skip: the wedged-data-plane test: no cgroup v1 freezer hierarchy to freeze one thread in");

let sys: DatumMachine;
let m: SystemdMachine;
const started = performance.now();

function log(line: string): void {
  console.log(line);
}

/** Threads can be frozen one by one only in cgroup v1's freezer hierarchy. */
const FREEZER = "/sys/fs/cgroup/freezer";
const freezerUnavailable = existsSync(`${FREEZER}/tasks`) ? undefined : "no cgroup v1 freezer hierarchy to freeze one thread in";

/** The host's TID of the thread named `comm` in the machine's process `pid` (a PID in the machine). */
function hostThread(pid: number, comm: string): number {
  const ns = readlinkSync(`/proc/${m.pid}/ns/pid`);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      const nspid = /^NSpid:\s+(.+)$/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]?.trim().split(/\s+/);
      if (nspid?.at(-1) !== String(pid)) continue;
      for (const task of readdirSync(`/proc/${entry}/task`)) {
        if (readFileSync(`/proc/${entry}/task/${task}/comm`, "utf8").trim() === comm) return Number(task);
      }
    } catch {
      // exited meanwhile
    }
  }
  throw new Error(`no thread ${comm} in the machine's process ${pid}`);
}

/** Freeze one thread (cgroup v1 freezer); the returned function thaws it and removes the group. */
function freezeThread(tid: number): () => void {
  const dir = join(FREEZER, `datumctl-connect-wedge-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tasks"), String(tid));
  writeFileSync(join(dir, "freezer.state"), "FROZEN");
  return () => {
    writeFileSync(join(dir, "freezer.state"), "THAWED");
    try {
      writeFileSync(join(FREEZER, "tasks"), String(tid)); // back where it was, if it still exists
    } catch {
      // gone already
    }
    rmdirSync(dir);
  };
}

beforeAll(async () => {
  if (unavailable) return;
  sys = await bootDatumMachine(log);
  m = sys.m;
}, 900_000);

afterAll(async () => {
  if (sys) {
    await sys.stop();
    log(`system: whole file took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}, 60_000);

/** The whole life of one unit. */
function lifecycle(scope: "system" | "user", name: string): void {
  const s = scopeOf(scope, name);
  let url = "";
  let installedAt = 0;

  test.skipIf(unavailable !== undefined)(`${scope} unit: install → ready only after the public URL answered → status shows our STATUS=`, async () => {
    installedAt = Date.now();
    const r = await sys.cli(s, `tunnel install --name ${s.name} --endpoint 127.0.0.1:${ORIGIN_PORT} --session '${SESSION}'${s.flag}`);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    url = r.stdout.trim();
    expect(url).toMatch(new RegExp(`^http://[a-z0-9-]+\\.datumproxy\\.localhost:${EDGE_PORT}$`));

    const p = await sys.show(s, STATE);
    expect([p.ActiveState, p.SubState, p.NRestarts]).toEqual(["active", "running", "0"]);
    expect(p.StatusText).toBe(`ready: ${url}`);
    const status = await m.sh(`${s.systemctl} status --no-pager ${s.unit}`, s.as);
    expect(status.stdout).toContain(`Status: "ready: ${url}"`);

    // READY=1 (systemd's ActiveEnterTimestamp) came after the public URL answered: the verifier's
    // probe reached the origin through the edge (not the direct origin probe), and after the agent
    // published the Connector's connection details to the local Datum.
    const readyAt = tsMs(p.ActiveEnterTimestamp);
    const host = new URL(url).host;
    const throughTunnel = (await sys.originHits()).filter((h) => h.at >= installedAt && h.headers.host === host);
    expect(throughTunnel.length).toBeGreaterThan(0);
    expect(readyAt).toBeGreaterThanOrEqual((throughTunnel[0] as OriginHit).at);
    const published = (await sys.requestLog()).filter((q) => Date.parse(q.time) >= installedAt && q.method === "PATCH" && /\/connectors\/[^/]+\/status$/.test(q.path) && q.status < 300);
    expect(published.length).toBeGreaterThan(0);
    expect(readyAt).toBeGreaterThan(Date.parse((published[0] as LoggedRequest).time));

    // The service's own state: the public URL recorded in tunnel.yaml, not taken from a shell.
    const yaml = await m.must(`cat ${scope === "system" ? "/var/lib/datumctl/connect" : "/home/alice/.local/share/datumctl/connect"}/tunnels/${s.name}/tunnel.yaml`);
    expect(yaml).toMatch(new RegExp(`public_url: "?http://\\{hostname\\}:${EDGE_PORT}"?\n`));
    expect(yaml).toMatch(new RegExp(`placeholder_relay: "?http://127\\.0\\.0\\.1:${API_PORT}/`));
  }, 180_000);

  test.skipIf(unavailable !== undefined)(`${scope} unit: traffic through the public URL`, async () => {
    expect(await sys.get(url)).toEqual({ status: 200, body: ORIGIN_BODY });
  }, 60_000);

  // Once (the system unit): threads are frozen the same way in either manager.
  if (scope === "system") test.skipIf(unavailable !== undefined || freezerUnavailable !== undefined)(`${scope} unit: a wedged data plane (its worker thread frozen) withholds the ping, says why in the journal, and the watchdog restarts the agent`, async () => {
    const before = await sys.show(s, STATE);
    expect(Number(before.MainPID)).toBeGreaterThan(0);
    const tid = hostThread(Number(before.MainPID), "listen-node");
    const thaw = freezeThread(tid);
    try {
      // The main thread lives on and says why it withholds; systemd kills once WatchdogSec passes.
      const deadline = Date.now() + (WATCHDOG_SEC + 30) * 1000;
      let journal = "";
      while (!journal.includes(`Watchdog timeout (limit ${WATCHDOG_SEC}s)!`)) {
        if (Date.now() > deadline) throw new Error(`no watchdog timeout with the data plane frozen; journal:\n${journal.slice(-4000)}`);
        await Bun.sleep(500);
        journal = (await m.sh(s.journal)).stdout;
      }
      expect(journal).toContain("warning: watchdog ping withheld: the data plane worker did not answer within 2 s");
    } finally {
      thaw(); // a frozen thread cannot take the kill signal
    }
    await sys.until(s, "a watchdog restart back to ready", (RESTART_SEC + 90) * 1000, STATE, (p) => p.NRestarts === String(Number(before.NRestarts) + 1) && p.ActiveState === "active" && p.MainPID !== before.MainPID && (p.StatusText ?? "").startsWith("ready: "));
    expect(await sys.get(url)).toEqual({ status: 200, body: ORIGIN_BODY });
  }, 180_000);

  test.skipIf(unavailable !== undefined)(`${scope} unit: a frozen agent starves the watchdog, is killed and restarted serving`, async () => {
    const before = await sys.show(s, STATE);
    expect(Number(before.MainPID)).toBeGreaterThan(0); // never `kill 0`: that is the caller's process group
    await m.must(`kill -STOP ${before.MainPID}`);
    const after = await sys.until(s, "a watchdog restart back to ready", (WATCHDOG_SEC + RESTART_SEC + 60) * 1000, STATE, (p) => p.NRestarts === String(Number(before.NRestarts) + 1) && p.ActiveState === "active" && p.MainPID !== before.MainPID && (p.StatusText ?? "").startsWith("ready: "));
    expect(after.SubState).toBe("running");
    const journal = (await m.sh(s.journal)).stdout;
    expect(journal).toContain(`Watchdog timeout (limit ${WATCHDOG_SEC}s)!`);
    expect(journal).toContain("Failed with result 'watchdog'");
    expect(await sys.get(url)).toEqual({ status: 200, body: ORIGIN_BODY });
  }, 180_000);

  test.skipIf(unavailable !== undefined)(`${scope} unit: kill -9 → restarted by Restart=on-failure`, async () => {
    const before = await sys.show(s, STATE);
    expect(Number(before.MainPID)).toBeGreaterThan(0);
    await m.must(`kill -9 ${before.MainPID}`);
    await sys.until(s, "a restart after SIGKILL", (RESTART_SEC + 60) * 1000, STATE, (p) => p.NRestarts === String(Number(before.NRestarts) + 1) && p.ActiveState === "active" && (p.StatusText ?? "").startsWith("ready: "));
    expect(await sys.get(url)).toEqual({ status: 200, body: ORIGIN_BODY });
  }, 120_000);

  test.skipIf(unavailable !== undefined)(`${scope} unit: tunnel stop → stays stopped, exit 0 recorded; status says so`, async () => {
    const r = await sys.cli(s, `tunnel stop --name ${s.name}${s.flag}`);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    const stopped = await sys.show(s, STATE);
    expect([stopped.ActiveState, stopped.Result, stopped.ExecMainStatus]).toEqual(["inactive", "success", "0"]);
    // Longer than RestartSec: a restart of a clean stop would have happened by now.
    await Bun.sleep((RESTART_SEC + 3) * 1000);
    const later = await sys.show(s, STATE);
    expect([later.ActiveState, later.NRestarts]).toEqual(["inactive", stopped.NRestarts]);

    const st = await sys.cli(s, `tunnel status --name ${s.name}${s.flag} -o json`);
    expect(st.code).toBe(0);
    const doc = JSON.parse(st.stdout) as { service: { installed: boolean; state: { active: string; exitStatus: number | null }; lastExit: { code: number | null } | null } };
    expect(doc.service.installed).toBe(true);
    expect(doc.service.state.active).toBe("inactive");
    expect(doc.service.state.exitStatus).toBe(0);
    expect(doc.service.lastExit?.code).toBe(0);
  }, 60_000);

  test.skipIf(unavailable !== undefined)(`${scope} unit: tunnel start → ready; status shows the manager's state`, async () => {
    const r = await sys.cli(s, `tunnel start --name ${s.name}${s.flag}`);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout.trim()).toBe(url);
    const p = await sys.show(s, STATE);
    expect([p.ActiveState, p.SubState]).toEqual(["active", "running"]);
    const st = await sys.cli(s, `tunnel status --name ${s.name}${s.flag} -o json`);
    const doc = JSON.parse(st.stdout) as { service: { state: { active: string; sub: string | null; pid: number | null; restarts: number | null } } };
    expect(doc.service.state).toMatchObject({ active: "active", sub: "running", pid: Number(p.MainPID), restarts: Number(p.NRestarts) });
    expect(await sys.get(url)).toEqual({ status: 200, body: ORIGIN_BODY });
  }, 120_000);

  test.skipIf(unavailable !== undefined)(`${scope} unit: uninstall leaves no unit and no state`, async () => {
    const r = await sys.cli(s, `tunnel uninstall --name ${s.name}${s.flag}`);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    const p = await sys.show(s, ["LoadState", "ActiveState"]);
    expect([p.LoadState, p.ActiveState]).toEqual(["not-found", "inactive"]);
    const unitDir = scope === "system" ? "/etc/systemd/system" : "/home/alice/.config/systemd/user";
    const stateDir = scope === "system" ? "/var/lib/datumctl/connect" : "/home/alice/.local/share/datumctl/connect";
    expect((await m.sh(`ls ${unitDir}/${s.unit} ${stateDir}/tunnels/${s.name} 2>&1`)).code).not.toBe(0);
  }, 60_000);
}

describe("a real systemd", () => {
  lifecycle("system", "websys");
  lifecycle("user", "webuser");

  test.skipIf(unavailable !== undefined)("a unit started before the local Datum is up keeps retrying (no start limit) and becomes ready once it is", async () => {
    const s = scopeOf("system", "boot");
    const r = await sys.cli(s, `tunnel install --name ${s.name} --endpoint 127.0.0.1:${ORIGIN_PORT} --session '${SESSION}' --system`);
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    // "Boot" with the local Datum not up yet: the unit starts, as multi-user.target would start it.
    const stopped = await m.sh(`systemctl stop ${s.unit} localdatum.service`, { timeoutMs: 120_000 });
    if (stopped.code !== 0) {
      const journal = await m.sh(`journalctl --no-pager -n 80 -u ${s.unit} -u localdatum.service; systemctl status --no-pager ${s.unit} localdatum.service`);
      throw new Error(`systemctl stop exited ${stopped.code}: ${stopped.stderr}\n--- journal\n${journal.stdout}`);
    }
    await m.must(`systemctl start --no-block ${s.unit}`);
    await sys.until(s, "two failed starts while the control plane is down", 90_000, STATE, (p) => Number(p.NRestarts) >= 2);
    const down = await sys.show(s, STATE);
    expect(down.Result).not.toBe("start-limit-hit");
    expect(["activating", "active"]).toContain(down.ActiveState ?? ""); // activating: a start, or auto-restart's wait
    await sys.startLocalDatum();
    await sys.until(s, "ready once the local Datum is up", 120_000, STATE, (p) => p.ActiveState === "active" && (p.StatusText ?? "").startsWith("ready: "));
    const u = await sys.cli(s, `tunnel uninstall --name ${s.name} --system`);
    expect(u.code).toBe(0);
  }, 300_000);

  test.skipIf(unavailable !== undefined)(`a setup longer than two watchdog periods (a slow certificate) is not killed: the watchdog is fed while setting up`, async () => {
    const s = scopeOf("system", "slowcert");
    const delayMs = (2 * WATCHDOG_SEC + 10) * 1000;
    await sys.devConfig({ delays: { certificatesReady: delayMs } });
    try {
      const r = await sys.cli(s, `tunnel install --name ${s.name} --endpoint 127.0.0.1:${ORIGIN_PORT} --session '${SESSION}' --system`);
      // install waits 30 s, then leaves the service provisioning (exit 75, README "Run as a service").
      expect({ code: r.code, stderr: r.code === 75 ? "" : r.stderr }).toEqual({ code: 75, stderr: "" });
      const p = await sys.until(s, "ready after the slow certificate", delayMs + 60_000, STATE, (q) => q.ActiveState === "active" && (q.StatusText ?? "").startsWith("ready: "));
      expect(p.NRestarts).toBe("0");
      expect((await m.sh(s.journal)).stdout).not.toContain("Watchdog timeout");
    } finally {
      await sys.devConfig({ delays: { certificatesReady: 0 } });
      await sys.cli(s, `tunnel uninstall --name ${s.name} --system`);
    }
  }, 300_000);
});
