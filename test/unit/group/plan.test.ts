/**
 * What a reload does (docs/groups.md#reload), one row per case: services matched by name, in the file's
 * order (removals in the running order); what applies to the whole process refused with a hint.
 */
import { describe, expect, test } from "bun:test";
import type { GroupFile, GroupService } from "../../../src/group/config.ts";
import { planReload, type ReloadPlan, type RunningGroup } from "../../../src/group/plan.ts";

const svc = (name: string, port: number, label = `g/${name}`): GroupService => ({ name, endpoint: `http://127.0.0.1:${port}`, label });
const group = (services: GroupService[], over: Partial<GroupFile> = {}): GroupFile => ({ name: "g", project: "p", session: null, health: null, services, ...over });

const app = svc("app", 3000);
const api = svc("api", 8080);
const db = svc("db", 5432);
const web = svc("web", 4000);

describe("planReload converges the running services to the file", () => {
  const running: RunningGroup = group([app, api, db]);
  const cases: [string, GroupFile, ReloadPlan][] = [
    ["the same file: everything kept, nothing touched", group([app, api, db]), { ok: true, add: [], remove: [], change: [], keep: [app, api, db] }],
    ["the same services in another order: kept, in the file's order", group([db, app, api]), { ok: true, add: [], remove: [], change: [], keep: [db, app, api] }],
    ["one added at the end", group([app, api, db, web]), { ok: true, add: [web], remove: [], change: [], keep: [app, api, db] }],
    ["one added in front", group([web, app, api, db]), { ok: true, add: [web], remove: [], change: [], keep: [app, api, db] }],
    ["two removed: in the running order", group([api]), { ok: true, add: [], remove: [app, db], change: [], keep: [api] }],
    [
      "an endpoint changed",
      group([app, svc("api", 8081), db]),
      { ok: true, add: [], remove: [], change: [{ from: api, to: svc("api", 8081), endpoint: true, label: false }], keep: [app, db] },
    ],
    [
      "a label changed",
      group([app, api, svc("db", 5432, "Database")]),
      { ok: true, add: [], remove: [], change: [{ from: db, to: svc("db", 5432, "Database"), endpoint: false, label: true }], keep: [app, api] },
    ],
    [
      "both changed",
      group([svc("app", 3001, "Shop"), api, db]),
      { ok: true, add: [], remove: [], change: [{ from: app, to: svc("app", 3001, "Shop"), endpoint: true, label: true }], keep: [api, db] },
    ],
    [
      "two services swap endpoints: two changes in place",
      group([svc("app", 8080), svc("api", 3000), db]),
      {
        ok: true,
        add: [],
        remove: [],
        change: [
          { from: app, to: svc("app", 8080), endpoint: true, label: false },
          { from: api, to: svc("api", 3000), endpoint: true, label: false },
        ],
        keep: [db],
      },
    ],
    [
      "a rename is a removal and an addition",
      group([svc("shop", 3000), api, db]),
      { ok: true, add: [svc("shop", 3000)], remove: [app], change: [], keep: [api, db] },
    ],
    [
      "add, remove, change and keep at once",
      group([web, svc("api", 8081), app]),
      { ok: true, add: [web], remove: [db], change: [{ from: api, to: svc("api", 8081), endpoint: true, label: false }], keep: [app] },
    ],
  ];
  test.each(cases)("%s", (_what, next, expected) => {
    expect(planReload(running, next)).toEqual(expected);
  });
});

describe("planReload refuses what needs a restart", () => {
  const running: RunningGroup = group([app], { project: "p", session: "s", health: "127.0.0.1:9090" });
  const restart = "stop the group and start it again with the new file";
  const cases: [string, Partial<GroupFile>, string, string][] = [
    ["a new group name", { name: "h" }, 'the file renames the group from "g" to "h"', "the group's name names its identity and state; to rename, stop the group and start the new file"],
    ["another project", { project: "q" }, `the file changes the group's project ("p" → "q"), which cannot change while it runs`, `project applies to the whole process: ${restart}`],
    ["the project dropped", { project: null }, `the file changes the group's project ("p" → none), which cannot change while it runs`, `project applies to the whole process: ${restart}`],
    ["another session", { session: "ci" }, `the file changes the group's session ("s" → "ci"), which cannot change while it runs`, `session applies to the whole process: ${restart}`],
    ["the health address moved", { health: "127.0.0.1:9091" }, `the file changes the group's health ("127.0.0.1:9090" → "127.0.0.1:9091"), which cannot change while it runs`, `health applies to the whole process: ${restart}`],
    [
      "several at once: all named",
      { project: "q", session: null, health: null },
      `the file changes the group's project ("p" → "q"), session ("s" → none) and health ("127.0.0.1:9090" → none), which cannot change while it runs`,
      `project, session and health apply to the whole process: ${restart}`,
    ],
    ["a rename is said before anything else", { name: "h", project: "q" }, 'the file renames the group from "g" to "h"', "to rename, stop the group and start the new file"],
  ];
  test.each(cases)("%s", (_what, over, message, hint) => {
    const plan = planReload(running, group([app, web], { project: "p", session: "s", health: "127.0.0.1:9090", ...over }));
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    expect(plan.message).toBe(message);
    expect(plan.hint).toContain(hint);
  });

  test("a group that had no health address and gets one is refused too", () => {
    const plan = planReload(group([app]), group([app], { health: ":9090" }));
    expect(plan).toEqual({
      ok: false,
      message: `the file changes the group's health (none → ":9090"), which cannot change while it runs`,
      hint: `health applies to the whole process: ${restart}`,
    });
  });
});
