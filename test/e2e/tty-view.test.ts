/**
 * The live view of `tunnel listen` on a real terminal: the CLI runs in a tmux pane (a real
 * pseudo-terminal, and a terminal emulator that wraps, scrolls and reflows on a resize) against a
 * local Datum with slow controllers, for an origin whose port is closed. While the view is drawn,
 * the origin warning and the data plane's log lines are printed; the final screen (scrollback
 * included, wrapped lines joined) must show each step once, the warning once and no leftover
 * spinner rows — at 100 columns, at 40, and across resizes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { projectDir, stateRoot, tunnelFiles } from "../../src/state/paths.ts";
import { readRunState, type RunState } from "../../src/state/run-state.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { pidExists, until } from "../helpers/wait.ts";
import { Pane } from "../helpers/tmux-pane.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;
const TMUX = Bun.which("tmux");
if (!TMUX) console.log("skip: test/e2e/tty-view.test.ts needs tmux for a real terminal (apt-get install tmux; .ci/run installs it)");

const STEPS = ["tunnel accepted", "TLS certificate issued", "connector ready", "iroh DNS published", "route programmed", "envoy metadata propagated"];
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

let datum: LocalDatum | undefined;
beforeAll(async () => {
  if (!TMUX) return;
  datum = await startLocalDatum();
  // Slow controllers: the view is live for a few seconds before verification starts.
  const res = await datum.admin("config", { body: { delays: { accepted: 700, certificatesReady: 700, programmed: 700 } } });
  expect(res.status).toBe(200);
});
afterAll(async () => {
  await datum?.stop();
});

/** `tunnel listen` for an origin on `port`, in a tmux pane `columns` wide. */
function startPane(columns: number, port: number): Promise<Pane> {
  return Pane.start(columns, ["tunnel", "listen", "--endpoint", `127.0.0.1:${port}`], { root, tmux: TMUX as string, env: (datum as LocalDatum).env });
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** The elapsed seconds of the status row, which changes on every redraw. */
function statusElapsed(screen: string): string | undefined {
  return [...screen.matchAll(/(?:^|\n) {2}\S .*\((\d+\.\d)s\)$/gm)].at(-1)?.[1];
}

const warned = (s: string) => s.includes("warning: origin");
const waiting502 = (s: string) => s.includes("(HTTP 502: the origin is down)");
/** A data-plane log line, printed by the logger (not the view) while the view is live. */
const logged = (s: string) => s.includes("[worker] origin unreachable");

function expectCleanFinalScreen(final: string, port: number): void {
  const lines = final.split("\n");
  for (const step of STEPS) {
    expect({ step, count: lines.filter((l) => l.includes(`✓ ${step}`)).length }).toEqual({ step, count: 1 });
  }
  const warnings = lines.filter((l) => l.includes("warning: origin"));
  expect(warnings).toHaveLength(1);
  // A refused connection says so, and that the service is probably not running.
  expect(warnings[0]).toMatch(new RegExp(`^warning: origin http://127\\.0\\.0\\.1:${port}/? refused the connection: nothing is listening there \\(is the service running\\?\\) — continuing$`));
  expect(lines.filter((l) => SPINNER.test(l))).toEqual([]);
  expect(lines.filter((l) => /setting up tunnel|verifying the public URL|waiting for http/.test(l))).toEqual([]);
  expect(final).toContain("Tunnel disabled.");
  // The warning and the log lines are above the block: the block is the last thing before "Disabling".
  const blockStart = lines.findIndex((l) => l.includes(`✓ ${STEPS[0]}`));
  expect(blockStart).toBeGreaterThan(lines.findIndex((l) => l.includes("warning: origin")));
}

describe.skipIf(!TMUX)("tunnel listen's live view in a real terminal (tmux)", () => {
  for (const columns of [100, 40]) {
    test(`${columns} columns: a warning and log lines during the view leave one copy of each step`, async () => {
      const port = await closedPort();
      const pane = await startPane(columns, port);
      try {
        const live = await pane.waitFor((s) => warned(s) && waiting502(s) && logged(s), "the warning, a 502 status and a log line");
        // While verifying: the status row says why the public URL answers 502.
        expect(live).toContain("(HTTP 502: the origin is down)");
        expectCleanFinalScreen(await pane.interrupt(), port);
      } finally {
        await pane.stop();
      }
    }, 90_000);
  }

  test("resizes while the view is drawn (100 → 40 → 70 columns) leave one copy of each step", async () => {
    const port = await closedPort();
    const pane = await startPane(100, port);
    try {
      let before = await pane.waitFor((s) => s.includes(`✓ ${STEPS[0]}`), "the first step done");
      await pane.resize(40);
      await pane.waitFor((s) => statusElapsed(s) !== statusElapsed(before), "a redraw after the resize to 40");
      before = await pane.waitFor((s) => warned(s) && waiting502(s) && logged(s), "the warning, a 502 status and a log line");
      await pane.resize(70);
      await pane.waitFor((s) => statusElapsed(s) !== statusElapsed(before) && logged(s), "a redraw after the resize to 70");
      expectCleanFinalScreen(await pane.interrupt(), port);
    } finally {
      await pane.stop();
    }
  }, 90_000);

  test("the terminal hanging up (SIGHUP) ends the listen as Ctrl+C does: the tunnel disabled, exit 0", async () => {
    const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hello") });
    const pane = await startPane(100, origin.port as number);
    let stopped = false;
    try {
      await pane.waitFor((s) => /Tunnel ready after \d+ sec/.test(s), "the ready line");
      const env = (datum as LocalDatum).env;
      const runPath = tunnelFiles(projectDir(stateRoot("user", { env }), env.DATUM_PROJECT as string)).run;
      const before = (await readRunState(runPath)) as RunState;
      await pane.stop(); // the terminal goes away: its process gets SIGHUP
      stopped = true;
      await until(async () => !pidExists(before.pid), 30_000, "the listen exited");
      const after = (await readRunState(runPath)) as RunState;
      expect([after.pid, after.phase, after.exitCode]).toEqual([before.pid, "stopped", 0]);
      const res = await (datum as LocalDatum).admin("state");
      const projects = ((await res.json()) as { projects: Record<string, { connectoradvertisements?: { metadata: { name: string } }[] }> }).projects;
      expect(Object.values(projects).some((p) => (p.connectoradvertisements ?? []).some((a) => a.metadata.name === after.tunnelId))).toBe(false);
    } finally {
      if (!stopped) await pane.stop();
      origin.stop(true);
    }
  }, 90_000);
});

