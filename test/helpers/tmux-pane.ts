/**
 * A real terminal for a test: one tmux server on its own socket running the CLI in one pane (a real
 * pseudo-terminal and a terminal emulator that wraps, scrolls and reflows on a resize). The pane's
 * terminal is tmux's own, never the caller's.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportLines } from "../../src/commands/dev/cloud.ts";
import { BUN, CLI, REPO_ROOT } from "./cli.ts";

/** One tmux server on its own socket, running one pane; `stop()` ends the server we started. */
export class Pane {
  private constructor(
    private readonly sock: string,
    private readonly bin: string,
  ) {}

  /** `args` of the CLI (from source) in a new pane `columns` wide and 40 rows high, in `o.cwd` (default: the repository). */
  static async start(columns: number, args: readonly string[], o: { root: string; tmux: string; env: Record<string, string>; cwd?: string }): Promise<Pane> {
    const dir = mkdtempSync(join(o.root, "tty-"));
    const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: "1", ...o.env };
    // The pane's terminal is tmux's own: none of the caller's terminal variables.
    for (const k of ["TERM", "TMUX", "TMUX_PANE", "COLUMNS", "LINES", "STY"]) delete env[k];
    const wrapper = join(dir, "listen.sh");
    const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    writeFileSync(wrapper, `#!/bin/sh\n${exportLines(env)}\ncd '${o.cwd ?? REPO_ROOT}'\nexec '${BUN}' '${CLI}' ${quoted}\n`);
    chmodSync(wrapper, 0o700);
    const conf = join(dir, "tmux.conf");
    writeFileSync(conf, "set -g remain-on-exit on\nset -g history-limit 10000\nset -g status off\n");
    const pane = new Pane(join(dir, "tmux.sock"), o.tmux);
    await pane.tmux("-f", conf, "new-session", "-d", "-x", String(columns), "-y", "40", wrapper);
    return pane;
  }

  async tmux(...args: string[]): Promise<string> {
    const child = Bun.spawn([this.bin, "-S", this.sock, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 10_000 });
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
      if (performance.now() > deadline) throw new Error(`the command did not exit after Ctrl+C:\n${await this.screen()}`);
      await Bun.sleep(100);
    }
    return (await this.screen()).replace(/\n*Pane is dead.*$/s, "");
  }

  async stop(): Promise<void> {
    await this.tmux("kill-server").catch(() => "");
  }
}

