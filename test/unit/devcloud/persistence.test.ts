import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevCloud } from "../../../src/devcloud/cloud.ts";
import { resourceOf } from "../../../src/devcloud/resources.ts";
import {
  type CloudIdentity,
  isAddressInUse,
  parseCloudIdentity,
  parseSavedStore,
  portPlan,
  StoreSaver,
  type SavedStore,
} from "../../../src/devcloud/persistence.ts";
import { Malformed, UsageError } from "../../../src/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "devcloud-persistence-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const saved: CloudIdentity = {
  version: 1,
  createdAt: "2026-01-01T00:00:00.000Z",
  ports: { api: 41000, edge: 41001, kubectl: null },
  gatewayKey: "ab".repeat(32),
};

describe("portPlan", () => {
  test.each([
    ["new cloud, no flags: any free ports", undefined, {}, { api: 0, edge: 0, kubectl: 0 }],
    ["new cloud, flags win", undefined, { api: 5000, edge: 5001 }, { api: 5000, edge: 5001, kubectl: 0 }],
    ["restart: the saved ports", saved, {}, { api: 41000, edge: 41001, kubectl: 0 }],
    ["restart: the same ports given again", saved, { api: 41000, edge: 41001 }, { api: 41000, edge: 41001, kubectl: 0 }],
    ["restart: 0 means no preference", saved, { api: 0 }, { api: 41000, edge: 41001, kubectl: 0 }],
  ] as [string, CloudIdentity | undefined, { api?: number; edge?: number }, object][])("%s", (_name, s, flags, expected) => {
    expect(portPlan(s, flags, "/d")).toEqual(expected as { api: number; edge: number; kubectl: number });
  });

  test.each([
    [{ api: 42000 }, "--port 41000, not 42000"],
    [{ edge: 42001 }, "--edge-port 41001, not 42001"],
  ])("restart with %j: a usage error, not a moved cloud", (flags, text) => {
    expect(() => portPlan(saved, flags, "/d")).toThrow(UsageError);
    expect(() => portPlan(saved, flags, "/d")).toThrow(text);
  });
});

describe("parsing the saved files", () => {
  test.each([
    ["not JSON", "{"],
    ["wrong version", JSON.stringify({ ...saved, version: 2 })],
    ["a port out of range", JSON.stringify({ ...saved, ports: { api: 70000, edge: null, kubectl: null } })],
    ["a short key", JSON.stringify({ ...saved, gatewayKey: "ab" })],
    ["an unknown field", JSON.stringify({ ...saved, extra: 1 })],
  ])("cloud.json, %s: 65 naming the file", (_name, text) => {
    expect(() => parseCloudIdentity(text, "/d/cloud.json", "/d")).toThrow(Malformed);
    expect(() => parseCloudIdentity(text, "/d/cloud.json", "/d")).toThrow("/d/cloud.json");
  });

  test("cloud.json round trip", () => {
    expect(parseCloudIdentity(JSON.stringify(saved), "/d/cloud.json", "/d")).toEqual(saved);
  });

  test.each([
    ["a non-numeric resourceVersion", { version: 1, resourceVersion: "x", projects: {} }],
    ["an object without uid", { version: 1, resourceVersion: "3", projects: { p: { connectors: [{ apiVersion: "a", kind: "K", metadata: { name: "n", resourceVersion: "1" } }] } } }],
  ])("store.json, %s: 65", (_name, doc) => {
    expect(() => parseSavedStore(JSON.stringify(doc), "/d/store.json", "/d")).toThrow(Malformed);
  });
});

describe("isAddressInUse", () => {
  test.each([
    ["node:net's EADDRINUSE", Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:80"), { code: "EADDRINUSE" }), true],
    ["Bun.serve's message", new Error("Failed to start server. Is port 80 in use?"), true],
    ["another error", new Error("permission denied"), false],
    ["not an error", "EADDRINUSE", false],
  ] as [string, unknown, boolean][])("%s", (_name, err, expected) => {
    expect(isAddressInUse(err)).toBe(expected);
  });
});

describe("DevCloud snapshot → restore", () => {
  test("the same objects, uids and resourceVersions; the counter never goes back", () => {
    const first = new DevCloud();
    const store = first.project("p-one");
    store.create(resourceOf("Connector"), {
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "Connector",
      metadata: { name: "c1" },
      spec: { connectorClassName: "datum-connect" },
    });
    const { resourceVersion, projects } = first.snapshot();

    const second = new DevCloud();
    second.restore({ resourceVersion, projects });
    expect(second.snapshot().projects).toEqual(projects);
    expect(second.resourceVersion()).toBe(resourceVersion);
    // The next write gets a newer resourceVersion than anything restored.
    second.project("p-two");
    expect(Number(second.resourceVersion())).toBeGreaterThan(Number(resourceVersion));
    // A restored project is not seeded a second time.
    expect(second.project("p-one").list(resourceOf("ConnectorClass"))).toHaveLength(1);
  });
});

describe("StoreSaver", () => {
  test("a burst of changes is saved; flush leaves the file holding the latest", async () => {
    const path = join(tmp, "store.json");
    let n = 0;
    const snapshot = (): SavedStore => ({ version: 1, resourceVersion: String(n), projects: {} });
    const saver = new StoreSaver(path, snapshot);
    for (let i = 0; i < 5; i++) {
      n++;
      saver.changed();
    }
    await saver.flush();
    expect(JSON.parse(readFileSync(path, "utf8")).resourceVersion).toBe("5");
    n = 9;
    saver.changed();
    await saver.flush();
    expect(JSON.parse(readFileSync(path, "utf8")).resourceVersion).toBe("9");
  });

  test("a write that fails is reported, and the next change tries again", async () => {
    const errors: unknown[] = [];
    const saver = new StoreSaver(join(tmp, "missing-parent", "\0bad"), () => ({ version: 1, resourceVersion: "1", projects: {} }), (err) => errors.push(err));
    await saver.flush();
    expect(errors.length).toBe(1);
    expect(saver.lastError).toBeDefined();
  });
});
