/**
 * The live view of `tunnel up` on a real terminal (tmux, test/helpers/tmux-pane.ts) against a
 * local Datum with slow controllers: three services, one whose origin is down. The block has one
 * row per service, never a line wider than the terminal (at 120 and at 40 columns), the degraded
 * service says why, and Ctrl+C disables all three and leaves no spinner row behind. Redrawing across
 * a resize is the live region's own (test/e2e/tty-view.test.ts resizes it, and
 * test/unit/listen/live-region.test.ts reflows it on an emulated terminal).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Server } from "bun";
import { stateRoot, tunnelDir, tunnelFiles } from "../../src/state/paths.ts";
import { readRunState, type RunState } from "../../src/state/run-state.ts";
import { runCli } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { pidExists, until } from "../helpers/wait.ts";
import { Pane } from "../helpers/tmux-pane.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;
const TMUX = Bun.which("tmux");
if (!TMUX) console.log("skip: test/e2e/group-tty.test.ts needs tmux for a real terminal (apt-get install tmux; .ci/run installs it)");

const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

let datum: LocalDatum | undefined;
const servers: Server<undefined>[] = [];

beforeAll(async () => {
  if (!TMUX) return;
  datum = await startLocalDatum();
  const res = await datum.admin("config", { body: { delays: { accepted: 700, certificatesReady: 700, programmed: 700 } } });
  expect(res.status).toBe(200);
});
afterAll(async () => {
  for (const s of servers) s.stop(true);
  await datum?.stop();
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function serve(name: string): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(`hello from ${name}`) });
  servers.push(server);
  return server.port as number;
}

async function startGroup(columns: number, name: string): Promise<{ pane: Pane; down: number }> {
  const dir = mkdtempSync(join(root, "group-tty-"));
  const down = await closedPort();
  writeFileSync(
    join(dir, "datum-tunnels.yaml"),
    `name: ${name}\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:${serve("app")}\n  - name: api\n    endpoint: 127.0.0.1:${down}\n  - name: admin\n    endpoint: 127.0.0.1:${serve("admin")}\n`,
  );
  const pane = await Pane.start(columns, ["tunnel", "up"], { root, tmux: TMUX as string, env: (datum as LocalDatum).env, cwd: dir });
  return { pane, down };
}

const settled = (s: string) => s.includes("Ready: 2 of 3 services verified");

function expectFinal(final: string, down: number): void {
  const lines = final.split("\n");
  expect(lines.filter((l) => SPINNER.test(l))).toEqual([]);
  expect(lines.filter((l) => /^app https?:\/\/\S+$/.test(l))).toHaveLength(1);
  expect(lines.filter((l) => /^admin https?:\/\/\S+$/.test(l))).toHaveLength(1);
  expect(lines.some((l) => /^api https?:/.test(l))).toBe(false);
  expect(final).toContain(`api: degraded: origin http://127.0.0.1:${down} does not answer`);
  expect(final).toContain("Disabling 3 tunnels...");
  for (const svc of ["app", "api", "admin"]) expect(lines.filter((l) => l.startsWith(`${svc}: Tunnel disabled.`))).toHaveLength(1);
}

describe.skipIf(!TMUX)("tunnel up's live view in a real terminal (tmux)", () => {
  for (const columns of [120, 40]) {
    test(`${columns} columns: one row per service, none wider than the terminal, the degraded one says why`, async () => {
      const { pane, down } = await startGroup(columns, `tty-${columns}`);
      try {
        // While live: the rows are there and fit (read from the visible screen, not joined).
        const live = await pane.waitFor((s) => /\bapi\b.*(waiting|verifying|setting|accepted|certificate|⠋|⠙|⠹|⠸|⠼|⠴|⠦|⠧|⠇|⠏)/.test(s), "api's row while setting up");
        expect(live).toMatch(/\bapp\b/);
        const visible = await pane.tmux("capture-pane", "-p");
        for (const line of visible.split("\n")) expect(line.length).toBeLessThanOrEqual(columns);
        const after = await pane.waitFor(settled, "the group settled");
        expect(after).toMatch(/\bapi\b.*degraded/);
        expectFinal(await pane.interrupt(), down);
      } finally {
        await pane.stop();
      }
    }, 90_000);
  }

  test("the terminal hanging up (SIGHUP) stops the group as Ctrl+C does: every tunnel disabled, exit 0; tunnel reload from another terminal still reloads", async () => {
    const { pane } = await startGroup(100, "tty-hangup");
    let stopped = false;
    try {
      await pane.waitFor(settled, "the group settled");
      const runPath = tunnelFiles(tunnelDir(stateRoot("user", { env: (datum as LocalDatum).env }), "tty-hangup")).run;
      const before = (await readRunState(runPath)) as RunState;
      const pid = before.pid;

      // `tunnel reload` from elsewhere: its SIGHUP comes with reload.json, so it is a reload, not a hangup.
      const reload = await runCli(["tunnel", "reload", "--name", "tty-hangup"], { env: (datum as LocalDatum).env });
      expect(reload.code).toBe(0);
      expect(reload.stdout).toBe("unchanged: 3\n");
      expect(pidExists(pid)).toBe(true);

      await pane.stop(); // the terminal goes away: its processes get SIGHUP
      stopped = true;
      await until(async () => !pidExists(pid), 30_000, "the group's process exited");
      const after = (await readRunState(runPath)) as RunState;
      expect([after.phase, after.exitCode]).toEqual(["stopped", 0]);
      const res = await (datum as LocalDatum).admin("state");
      const ads = ((await res.json()) as { projects: Record<string, { connectoradvertisements?: { metadata: { name: string } }[] }> }).projects;
      const advertised = new Set(Object.values(ads).flatMap((p) => (p.connectoradvertisements ?? []).map((a) => a.metadata.name)));
      for (const svc of after.services ?? []) expect({ svc: svc.name, advertised: advertised.has(svc.tunnelId as string) }).toEqual({ svc: svc.name, advertised: false });
    } finally {
      if (!stopped) await pane.stop();
    }
  }, 90_000);
});

