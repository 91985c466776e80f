import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Exit, Malformed } from "../../../src/errors.ts";
import {
  type AllowEntry,
  parseAllowList,
  pruneSharedTargets,
  readAllowList,
  removeEntry,
  serializeAllowList,
  setEntryEnabled,
  updateAllowList,
  upsertEntry,
  writeAllowList,
} from "../../../src/state/allowlist.ts";

const e = (id: string, port: number, enabled = true, host = "127.0.0.1", label?: string): AllowEntry => ({
  id,
  host,
  port,
  enabled,
  ...(label ? { label } : {}),
});

describe("pure edits", () => {
  test.each<[string, AllowEntry[], AllowEntry, AllowEntry[]]>([
    ["insert into empty", [], e("tunnel-a", 3000), [e("tunnel-a", 3000)]],
    ["replace in place", [e("tunnel-a", 3000), e("tunnel-b", 4000)], e("tunnel-a", 3001), [e("tunnel-a", 3001), e("tunnel-b", 4000)]],
    ["append another target", [e("tunnel-a", 3000)], e("tunnel-b", 4000), [e("tunnel-a", 3000), e("tunnel-b", 4000)]],
    ["prune a stale twin for the same host:port (docs/wire-facts.md#allow-list)", [e("tunnel-old", 3000)], e("tunnel-new", 3000), [e("tunnel-new", 3000)]],
    ["host comparison ignores case", [e("tunnel-old", 80, true, "LocalHost")], e("tunnel-new", 80, true, "localhost"), [e("tunnel-new", 80, true, "localhost")]],
    ["other hosts on the same port stay", [e("tunnel-old", 3000, true, "::1")], e("tunnel-new", 3000), [e("tunnel-old", 3000, true, "::1"), e("tunnel-new", 3000)]],
    ["moving to a port prunes that port's twin", [e("tunnel-a", 1), e("tunnel-b", 2)], e("tunnel-a", 2), [e("tunnel-a", 2)]],
  ])("upsertEntry: %s", (_title, before, entry, after) => {
    expect(upsertEntry(before, entry)).toEqual(after);
  });

  test("setEntryEnabled and removeEntry", () => {
    const list = [e("tunnel-a", 1), e("tunnel-b", 2)];
    expect(setEntryEnabled(list, "tunnel-b", false)).toEqual([e("tunnel-a", 1), e("tunnel-b", 2, false)]);
    expect(setEntryEnabled(list, "tunnel-x", false)).toEqual(list);
    expect(removeEntry(list, "tunnel-a")).toEqual([e("tunnel-b", 2)]);
    expect(removeEntry(list, "tunnel-x")).toEqual(list);
  });

  test("pruneSharedTargets with an unknown id changes nothing", () => {
    const list = [e("tunnel-a", 1), e("tunnel-b", 1)];
    expect(pruneSharedTargets(list, "tunnel-x")).toEqual(list);
    expect(pruneSharedTargets(list, "tunnel-b")).toEqual([e("tunnel-b", 1)]);
  });
});

describe("file format", () => {
  const UPSTREAM = `proxies:
- info:
    resource_id: tunnel-abcde
    label: my-dev
    data: { host: 127.0.0.1, port: 8080 }
  enabled: true
- info:
    resource_id: proxy-0123456789ab
    label: null
    data: { host: "::1", port: 9000 }
  enabled: false
`;

  test("reads the upstream layout", () => {
    expect(parseAllowList(UPSTREAM, "/x/state.yml")).toEqual([
      e("tunnel-abcde", 8080, true, "127.0.0.1", "my-dev"),
      e("proxy-0123456789ab", 9000, false, "::1"),
    ]);
  });

  test("round-trips through serialize", () => {
    const list = [e("tunnel-a", 3000, true, "127.0.0.1", "web: app"), e("tunnel-b", 9000, false, "::1")];
    expect(parseAllowList(serializeAllowList(list), "p")).toEqual(list);
    expect(serializeAllowList(list)).toContain("resource_id: tunnel-a");
  });

  test.each([
    ["", []],
    ["proxies: []", []],
    ["proxies:", []],
    ["{}", []],
  ])("empty forms %p", (text, expected) => {
    expect(parseAllowList(text, "p")).toEqual(expected);
  });

  test.each([
    ["not YAML", "proxies: [\n  - {"],
    ["wrong shape", "proxies: 3"],
    ["port out of range", "proxies:\n- info: { resource_id: t, data: { host: h, port: 70000 } }\n  enabled: true"],
    ["missing enabled", "proxies:\n- info: { resource_id: t, data: { host: h, port: 7 } }"],
    ["empty host", "proxies:\n- info: { resource_id: t, data: { host: '', port: 7 } }\n  enabled: true"],
  ])("corrupt: %s → Malformed (65) naming the path", (_title, text) => {
    let caught: unknown;
    try {
      parseAllowList(text, "/state/projects/p/state.yml");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Malformed);
    expect((caught as Malformed).exit).toBe(Exit.malformed);
    expect((caught as Malformed).message).toContain("/state/projects/p/state.yml");
    expect((caught as Malformed).details).toBeTruthy();
  });
});

describe("files", () => {
  const dir = () => mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT!, "allow-"));

  test("missing file reads as empty; writes are 0600", async () => {
    const path = join(dir(), "slot", "state.yml");
    expect(await readAllowList(path)).toEqual([]);
    await writeAllowList(path, [e("tunnel-a", 1)]);
    expect(await readAllowList(path)).toEqual([e("tunnel-a", 1)]);
    if (process.platform !== "win32") expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("concurrent updates in one process do not lose edits", async () => {
    const path = join(dir(), "state.yml");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => updateAllowList(path, (list) => upsertEntry(list, e(`tunnel-${i}`, 1000 + i)))),
    );
    expect((await readAllowList(path)).map((x) => x.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `tunnel-${i}`).sort());
  });

  test("a failing edit leaves the file as it was and later updates still run", async () => {
    const path = join(dir(), "state.yml");
    await writeAllowList(path, [e("tunnel-a", 1)]);
    const before = readFileSync(path, "utf8");
    await expect(updateAllowList(path, () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(readFileSync(path, "utf8")).toBe(before);
    await updateAllowList(path, (list) => removeEntry(list, "tunnel-a"));
    expect(await readAllowList(path)).toEqual([]);
  });

  test("a corrupt file on disk is Malformed with its path", async () => {
    const path = join(dir(), "state.yml");
    writeFileSync(path, "proxies: nope");
    await expect(readAllowList(path)).rejects.toThrow(`Allow-list ${path} is corrupt`);
  });
});
