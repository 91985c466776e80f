/**
 * `tunnel status --name G` for a group (src/daemon/status-view.ts), from hand-written run.json
 * states: the group's file and last reload, one block per service with the reason when it is not
 * ready, traffic lines naming their service; a single tunnel keeps its layout (docs/groups.md).
 */
import { describe, expect, test } from "bun:test";
import { describeEntry, type EntryFacts } from "../../../src/daemon/inventory.ts";
import { describeReload, renderStatus } from "../../../src/daemon/status-view.ts";
import type { RunState } from "../../../src/state/run-state.ts";
import { busyState, groupState, service } from "../health/states.ts";

const NOW = Date.parse("2025-01-02T03:15:00.000Z");

function render(run: RunState | undefined, over: Partial<EntryFacts> = {}): string {
  const e = describeEntry({ name: "web-stack", project: null, dir: "/state/tunnels/web-stack", config: undefined, run, runError: undefined, running: true, groupFile: "/state/tunnels/web-stack/group.yaml", env: {}, ...over });
  return renderStatus({ name: "web-stack", status: e.status, running: e.running, config: undefined, run: e.run, logTail: [], now: NOW, group: e.group });
}

/** The lines from `start` up to the next unindented section heading. */
function section(text: string, start: string): string[] {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.startsWith(start));
  if (at < 0) return [];
  const end = lines.findIndex((l, i) => i > at && /^\S/.test(l));
  return lines.slice(at, end < 0 ? undefined : end);
}

describe("a running group with a degraded service", () => {
  const text = render(groupState());

  test("its heading and readiness name the group", () => {
    expect(text.split("\n")[0]).toBe("Group web-stack");
    expect(text).toContain("  readiness:    not ready (degraded): api: origin 127.0.0.1:8080 does not answer: connection refused\n");
  });

  test("the group's file, where it came from and the last reload", () => {
    expect(section(text, "Group:")).toEqual([
      "Group:",
      "  file:         /state/tunnels/web-stack/group.yaml",
      "  copied from:  /srv/web/datum-tunnels.yaml",
      "  last reload:  2025-01-02T03:10:00.000Z (5m0s ago), ok: added admin; removed old; changed api",
    ]);
  });

  test("one block per service: status, URL, endpoint, tunnel id and label, the reason when not ready", () => {
    expect(section(text, "Services:")).toEqual([
      "Services:       2/3 ready",
      "  app         ready",
      "    URL:        https://app-host.example",
      "    endpoint:   http://127.0.0.1:3000",
      '    tunnel:     tunnel-app "web-stack/app"',
      "  api         degraded",
      "    URL:        https://api-host.example",
      "    endpoint:   http://127.0.0.1:8080",
      '    tunnel:     tunnel-api "web-stack/api"',
      "    reason:     origin 127.0.0.1:8080 does not answer: connection refused",
      "  admin       ready",
      "    URL:        https://admin-host.example",
      "    endpoint:   http://localhost:9000",
      '    tunnel:     tunnel-admin "web-stack/admin"',
    ]);
  });

  test("URLs and hostnames are the services', not repeated at the top or under the control plane", () => {
    expect(text).not.toContain("public URL:");
    expect(section(text, "Control plane:").filter((l) => /^ {2}(tunnel|hostname):/.test(l))).toEqual([]);
  });

  test("traffic lines name the service a target belongs to", () => {
    const traffic = text.split("\n").filter((l) => l.startsWith("  traffic:"));
    expect(traffic.map((l) => l.replace(/^ {2}traffic:\s+/, "").replace(/: .*$/, ""))).toEqual(["127.0.0.1:3000 (app)", "127.0.0.1:8080 (api)", "127.0.0.1:9000 (admin)", "localhost:22"]);
    expect(traffic[0]).toStartWith("  traffic:      127.0.0.1:3000 (app): 10 requests (9 completed, 1 failed");
    expect(traffic[3]).toStartWith("  traffic:      localhost:22: 0 requests");
  });
});

describe("other group states", () => {
  test("a dead group: every service dead with how it ended; a service not created yet says so", () => {
    const run = groupState();
    run.services = [service("app"), service("new", { tunnelId: null, publicUrls: [], hostnames: [], label: "New" })];
    const services = section(render(run, { running: false }), "Services:");
    expect(services).toEqual([
      "Services:       0/2 ready",
      "  app         dead",
      "    URL:        https://app-host.example",
      "    endpoint:   http://127.0.0.1:3000",
      '    tunnel:     tunnel-app "web-stack/app"',
      "    reason:     the process exited unexpectedly (not running)",
      "  new         dead",
      "    URL:        -",
      "    endpoint:   http://127.0.0.1:3000",
      '    tunnel:     - (not created yet) "New"',
      "    reason:     the process exited unexpectedly (not running)",
    ]);
  });

  test("a service that stopped being served shows its last error", () => {
    const run = groupState();
    run.services = [service("app", { readiness: { ready: false, state: "failed", reason: "deleted upstream" }, lastError: { message: "Tunnel tunnel-app no longer exists on the server", at: "2025-01-02T03:14:00.000Z" } })];
    expect(section(render(run), "Services:")).toContain("    last error: Tunnel tunnel-app no longer exists on the server (2025-01-02T03:14:00.000Z (1m0s ago))");
  });

  test("an installed group that never ran: its file's services, no reload yet", () => {
    const text = render(undefined, { running: false, declared: [{ name: "app", endpoint: "http://127.0.0.1:3000", label: "Storefront" }] });
    expect(section(text, "Group:")).toEqual(["Group:", "  file:         /state/tunnels/web-stack/group.yaml", "  last reload:  never"]);
    expect(section(text, "Services:")).toEqual([
      "Services:       0/1 ready",
      "  app         never started",
      "    URL:        -",
      "    endpoint:   http://127.0.0.1:3000",
      '    tunnel:     - (not created yet) "Storefront"',
    ]);
  });

  test("a single tunnel keeps its layout: no group or services section", () => {
    const text = render({ ...busyState(), publicUrls: ["https://web.example"] }, { groupFile: null });
    expect(text.split("\n")[0]).toBe("Tunnel web-stack");
    expect(text).toContain("  public URL:   https://web.example\n");
    expect(text).not.toContain("Services:");
    expect(text).not.toContain("Group:");
    expect(text).toContain("  tunnel:       tunnel-abc");
    expect(text).toContain("  traffic:      127.0.0.1:3000: 10 requests");
  });
});

test.each<[string, NonNullable<NonNullable<RunState["group"]>["lastReload"]>, string]>([
  ["nothing changed", { at: "2025-01-02T03:14:00.000Z", ok: true, message: null, added: [], removed: [], deleted: [], changed: [], seq: 2 }, "2025-01-02T03:14:00.000Z (1m0s ago), ok: nothing changed"],
  ["pruned", { at: "2025-01-02T03:14:00.000Z", ok: true, message: null, added: [], removed: ["a", "b"], deleted: ["a", "b"], changed: [], seq: 3 }, "2025-01-02T03:14:00.000Z (1m0s ago), ok: removed a, b; deleted a, b"],
  [
    "rejected",
    { at: "2025-01-02T03:14:00.000Z", ok: false, message: "group.yaml: tunnels[1] (api): endpoint is required", added: [], removed: [], deleted: [], changed: [], seq: 4 },
    "2025-01-02T03:14:00.000Z (1m0s ago), rejected: group.yaml: tunnels[1] (api): endpoint is required",
  ],
])("last reload: %s", (_what, last, expected) => {
  expect(describeReload(last, NOW)).toBe(expected);
});
