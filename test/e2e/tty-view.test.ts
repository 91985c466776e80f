/**
 * The live view of `tunnel listen` on a real terminal: the CLI runs in a tmux pane (a real
 * pseudo-terminal, and a terminal emulator that wraps, scrolls and reflows on a resize) against a
 * local Datum with slow controllers, for an origin whose port is closed. While the view is drawn,
 * the origin warning and the data plane's log lines are printed; the final screen (scrollback
 * included, wrapped lines joined) must show each step once, the warning once and no leftover
 * spinner rows — at 100 columns, at 40, and across resizes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { exportLines } from "../../src/commands/dev/cloud.ts";
import { BUN, CLI, REPO_ROOT } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

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

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** One tmux server on its own socket, running one pane; `stop()` ends the server we started. */
class Pane {
  private constructor(private readonly sock: string) {}

  static async start(columns: number, port: number): Promise<Pane> {
    const dir = mkdtempSync(join(root, "tty-"));
    const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: "1", ...(datum as LocalDatum).env };
    // The pane's terminal is tmux's own: none of the caller's terminal variables.
    for (const k of ["TERM", "TMUX", "TMUX_PANE", "COLUMNS", "LINES", "STY"]) delete env[k];
    const wrapper = join(dir, "listen.sh");
    writeFileSync(wrapper, `#!/bin/sh\n${exportLines(env)}\ncd '${REPO_ROOT}'\nexec '${BUN}' '${CLI}' tunnel listen --endpoint 127.0.0.1:${port}\n`);
    chmodSync(wrapper, 0o700);
    const conf = join(dir, "tmux.conf");
    writeFileSync(conf, "set -g remain-on-exit on\nset -g history-limit 10000\nset -g status off\n");
    const pane = new Pane(join(dir, "tmux.sock"));
    await pane.tmux("-f", conf, "new-session", "-d", "-x", String(columns), "-y", "40", wrapper);
    return pane;
  }

  async tmux(...args: string[]): Promise<string> {
    const child = Bun.spawn([TMUX as string, "-S", this.sock, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) throw new Error(`tmux ${args.join(" ")} exited ${code}: ${err}`);
    return out;
  }

  /** Scrollback and screen, wrapped lines joined, trailing blank lines dropped. */
  async screen(): Promise<string> {
    return (await this.tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-")).replace(/\s+$/, "");
  }

  async waitFor(check: (screen: string) => boolean, what: string, timeoutMs = 45_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (check(screen)) return screen;
      if (performance.now() > deadline) throw new Error(`${what} not on the screen within ${timeoutMs} ms:\n${screen}`);
      await Bun.sleep(100);
    }
  }

  async resize(columns: number): Promise<void> {
    await this.tmux("resize-window", "-x", String(columns));
  }

  /** Ctrl+C, then the screen once the process has exited. */
  async interrupt(): Promise<string> {
    await this.tmux("send-keys", "C-c");
    const deadline = performance.now() + 30_000;
    while ((await this.tmux("display-message", "-p", "#{pane_dead}")).trim() !== "1") {
      if (performance.now() > deadline) throw new Error(`listen did not exit after Ctrl+C:\n${await this.screen()}`);
      await Bun.sleep(100);
    }
    return (await this.screen()).replace(/\n*Pane is dead.*$/s, "");
  }

  async stop(): Promise<void> {
    await this.tmux("kill-server").catch(() => "");
  }
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
      const pane = await Pane.start(columns, port);
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
    const pane = await Pane.start(100, port);
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
});
