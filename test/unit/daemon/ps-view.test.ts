/**
 * `tunnel ps` from hand-written run.json states (src/daemon/ps-view.ts): one row per group with its
 * SERVICES count and first URL, `--wide` rows per service, the JSON document's services, and the
 * stderr notes naming each degraded service (docs/groups.md).
 */
import { describe, expect, test } from "bun:test";
import { Malformed } from "../../../src/errors.ts";
import { describeEntry, type EntryFacts, type TunnelEntry } from "../../../src/daemon/inventory.ts";
import { psColumns, psDocument, psNotes, psRows } from "../../../src/daemon/ps-view.ts";
import { formatTable } from "../../../src/output.ts";
import type { RunState } from "../../../src/state/run-state.ts";
import { busyState, groupState, service } from "../health/states.ts";

const NOW = Date.parse("2025-01-02T03:09:05.500Z"); // 5 minutes after the states' start
const ENV = {};

function entry(over: Partial<EntryFacts> & { run: RunState | undefined }): TunnelEntry {
  return describeEntry({
    name: over.run?.name ?? "web-stack",
    project: null,
    dir: "/state/tunnels/x",
    config: undefined,
    runError: undefined,
    running: true,
    groupFile: "/state/tunnels/web-stack/group.yaml",
    env: ENV,
    ...over,
  });
}

const group = (over: Partial<EntryFacts> = {}) => entry({ run: groupState(), ...over });
const single = (over: Partial<EntryFacts> = {}) => entry({ run: { ...busyState(), publicUrls: ["https://web.example"] }, groupFile: null, ...over });
const table = (entries: TunnelEntry[], wide = false) => formatTable(psRows(entries, wide), psColumns(NOW, ENV)).split("\n");

describe("the table", () => {
  test.each<[string, () => TunnelEntry[] | TunnelEntry, boolean, string[]]>([
    [
      "a running group with a degraded service: one row, 2/3 ready, first URL and how many more",
      () => [group()],
      false,
      [
        "NAME        PID    STATUS     SERVICES    URL                                  ENDPOINT ID    UPTIME",
        "web-stack   4242   degraded   2/3 ready   https://app-host.example (+2 more)   eeeeeeeeeeee   5m0s",
      ],
    ],
    [
      "--wide: one row per service under its group, no PID or uptime of its own",
      () => [group()],
      true,
      [
        "NAME              PID    STATUS     SERVICES    URL                                  ENDPOINT ID    UPTIME",
        "web-stack         4242   degraded   2/3 ready   https://app-host.example (+2 more)   eeeeeeeeeeee   5m0s",
        "web-stack/app     -      ready      -           https://app-host.example             -              -",
        "web-stack/api     -      degraded   -           https://api-host.example             -              -",
        "web-stack/admin   -      ready      -           https://admin-host.example           -              -",
      ],
    ],
    [
      "a single tunnel beside a dead group: SERVICES '-', nothing under it; the group's services are as dead as it",
      () => [single(), group({ running: false })],
      true,
      [
        "NAME              PID    STATUS   SERVICES    URL                                  ENDPOINT ID    UPTIME",
        "web               4242   ready    -           https://web.example                  eeeeeeeeeeee   5m0s",
        "web-stack         -      dead     0/3 ready   https://app-host.example (+2 more)   eeeeeeeeeeee   -",
        "web-stack/app     -      dead     -           https://app-host.example             -              -",
        "web-stack/api     -      dead     -           https://api-host.example             -              -",
        "web-stack/admin   -      dead     -           https://admin-host.example           -              -",
      ],
    ],
    [
      "an installed group that never ran: its file's services, never started",
      () => [
        entry({
          run: undefined,
          running: false,
          declared: [
            { name: "app", endpoint: "http://127.0.0.1:3000", label: "Storefront" },
            { name: "api", endpoint: "http://127.0.0.1:8080", label: "web-stack/api" },
          ],
        }),
      ],
      true,
      [
        "NAME            PID   STATUS          SERVICES    URL   ENDPOINT ID   UPTIME",
        "web-stack       -     never started   0/2 ready   -     -             -",
        "web-stack/app   -     never started   -           -     -             -",
        "web-stack/api   -     never started   -           -     -             -",
      ],
    ],
    [
      "a group that never ran whose file cannot be read: no count (the error follows the table)",
      () => entry({ run: undefined, running: false, groupError: new Malformed("group.yaml: tunnels is empty") }),
      false,
      [
        "NAME        PID   STATUS          SERVICES   URL   ENDPOINT ID   UPTIME",
        "web-stack   -     never started   ?          -     -             -",
      ],
    ],
    [
      "a group whose one service has a URL: no '(+0 more)'",
      () => {
        const run = groupState();
        run.services = [service("app")];
        run.readiness = { ready: true, state: "ready", reason: "verified" };
        return [group({ run })];
      },
      false,
      [
        "NAME        PID    STATUS   SERVICES    URL                        ENDPOINT ID    UPTIME",
        "web-stack   4242   ready    1/1 ready   https://app-host.example   eeeeeeeeeeee   5m0s",
      ],
    ],
    [
      "a group stopping: every service stopping, none counted ready",
      () => group({ run: { ...groupState(), phase: "stopping", readiness: { ready: false, state: "stopping", reason: "stopping" } } }),
      true,
      [
        "NAME              PID    STATUS     SERVICES    URL                                  ENDPOINT ID    UPTIME",
        "web-stack         4242   stopping   0/3 ready   https://app-host.example (+2 more)   eeeeeeeeeeee   5m0s",
        "web-stack/app     -      stopping   -           https://app-host.example             -              -",
        "web-stack/api     -      stopping   -           https://api-host.example             -              -",
        "web-stack/admin   -      stopping   -           https://admin-host.example           -              -",
      ],
    ],
  ])("%s", (_what, entries, wide, expected) => {
    const list = entries();
    expect(table(Array.isArray(list) ? list : [list], wide)).toEqual(expected);
  });
});

describe("the JSON document", () => {
  test("a group's document gains its services", () => {
    const doc = psDocument(group(), ENV);
    expect(doc).toMatchObject({ name: "web-stack", status: "degraded", url: "https://app-host.example", tunnelId: null });
    expect(doc.services).toEqual([
      { name: "app", status: "ready", url: "https://app-host.example", tunnelId: "tunnel-app", endpoint: "http://127.0.0.1:3000", readiness: { ready: true, state: "ready", reason: "verified" } },
      {
        name: "api",
        status: "degraded",
        url: "https://api-host.example",
        tunnelId: "tunnel-api",
        endpoint: "http://127.0.0.1:8080",
        readiness: { ready: false, state: "degraded", reason: "origin 127.0.0.1:8080 does not answer: connection refused" },
      },
      { name: "admin", status: "ready", url: "https://admin-host.example", tunnelId: "tunnel-admin", endpoint: "http://localhost:9000", readiness: { ready: true, state: "ready", reason: "verified" } },
    ]);
  });

  test("a dead group's services carry the way it ended", () => {
    const doc = psDocument(group({ running: false }), ENV);
    expect(doc.services?.map((x) => [x.status, x.readiness?.reason])).toEqual([
      ["dead", "the process exited unexpectedly (not running)"],
      ["dead", "the process exited unexpectedly (not running)"],
      ["dead", "the process exited unexpectedly (not running)"],
    ]);
  });

  test("a single tunnel's document has no services key", () => {
    expect("services" in psDocument(single(), ENV)).toBe(false);
  });

  test("older files: a service without publicUrls gets its hostname under the URL template", () => {
    const run = groupState();
    run.services = [service("app", { publicUrls: [] })];
    const doc = psDocument(group({ run, env: { DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:8081" } }), ENV);
    expect(doc.services?.[0]?.url).toBe("http://app-host.example:8081");
  });
});

describe("the notes on stderr", () => {
  test.each<[string, () => TunnelEntry[], string[]]>([
    ["each degraded service by its name, not the group's summary", () => [group()], ["web-stack/api: not ready: origin 127.0.0.1:8080 does not answer: connection refused"]],
    [
      "a group not ready for a reason of its own (a service still starting after a reload)",
      () => {
        const run = groupState();
        run.services = [service("app"), service("new", { readyAt: null, readiness: { ready: false, state: "starting", reason: "waiting for the HTTPProxy" } })];
        run.readiness = { ready: false, state: "degraded", reason: "new: waiting for the HTTPProxy" };
        return [group({ run })];
      },
      ["web-stack: not ready: new: waiting for the HTTPProxy"],
    ],
    [
      "a degraded single tunnel and a dead group, as before",
      () => {
        const run = busyState();
        run.readiness = { ready: false, state: "degraded", reason: "lease not renewed for 40s" };
        return [single({ run }), group({ running: false })];
      },
      ["web: not ready: lease not renewed for 40s", "web-stack: last error: the process exited unexpectedly (not running)"],
    ],
    ["a ready group says nothing", () => [group({ run: { ...groupState(), services: [service("app")], readiness: { ready: true, state: "ready", reason: "verified" } } })], []],
  ])("%s", (_what, entries, expected) => {
    expect(psNotes(entries())).toEqual(expected);
  });
});
