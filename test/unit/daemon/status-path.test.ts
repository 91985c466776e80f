/** `tunnel status`'s `path:` line: how the gateway's live connections reach the device (docs/relays.md). */
import { expect, test } from "bun:test";
import { renderStatus } from "../../../src/daemon/status-view.ts";
import { unknownState } from "../../../src/service/manager.ts";
import { emptyRunState, type RunState } from "../../../src/state/run-state.ts";

const service = {
  installed: false,
  manager: "systemd",
  managerName: "systemd",
  unit: "u",
  unitPath: "/u",
  enabled: false,
  state: unknownState("not installed"),
  lastExit: null,
  executable: { path: null, resolves: false, problem: "none recorded" },
  helper: { path: null, resolves: false, problem: "none recorded" },
} as const;

function render(counters: Partial<RunState["counters"]>): string {
  const base = emptyRunState({ pid: 1, startTime: undefined, name: "x", project: "p" });
  const run: RunState = { ...base, homeRelay: "http://127.0.0.1:4000/", counters: { ...base.counters, ...counters } };
  return renderStatus({ name: "x", status: "ready", running: true, config: undefined, run, service, logTail: [], now: 0 });
}

const cases: [string, Partial<RunState["counters"]>, string | null][] = [
  ["a file from before the tally: no path line", {}, null],
  ["no connection yet", { paths: { direct: 0, relay: 0, none: 0 } }, "no gateway connection yet"],
  ["through the relay", { paths: { direct: 0, relay: 1, none: 0 } }, "relayed (1 connection through the relay)"],
  ["direct", { paths: { direct: 2, relay: 0, none: 0 } }, "direct (2 connections)"],
];
for (const [name, counters, want] of cases) {
  test(name, () => {
    const text = render(counters);
    expect(text).toContain("  home relay:   http://127.0.0.1:4000/\n");
    const line = text.split("\n").find((l) => l.startsWith("  path:"));
    expect(line ? line.replace(/^ {2}path:\s+/, "") : null).toBe(want);
  });
}
