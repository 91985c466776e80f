import { beforeEach, describe, expect, test } from "bun:test";
import { DevCloud } from "../../../src/devcloud/cloud.ts";
import type { Json, JsonObject } from "../../../src/devcloud/json.ts";
import { resourceOf } from "../../../src/devcloud/resources.ts";
import { ApiError } from "../../../src/devcloud/status.ts";
import type { ProjectStore, StoreEvent } from "../../../src/devcloud/store.ts";

const CONNECTOR = resourceOf("Connector");
const HTTP_PROXY = resourceOf("HTTPProxy");
const LEASE = resourceOf("Lease");
const AD = resourceOf("ConnectorAdvertisement");

const T0 = Date.UTC(2026, 6, 1, 12, 0, 0);

function connectorBody(extra: JsonObject = {}): JsonObject {
  return {
    apiVersion: "networking.datumapis.com/v1alpha1",
    kind: "Connector",
    metadata: { generateName: "datum-connect-", annotations: { "datum.net/device-name": "box" } },
    spec: { connectorClassName: "datum-connect", capabilities: null },
    ...extra,
  };
}

function proxyBody(name = "tunnel-abcde"): JsonObject {
  return {
    apiVersion: "networking.datumapis.com/v1alpha",
    kind: "HTTPProxy",
    metadata: { name },
    spec: { hostnames: null, rules: [{ name: null, backends: [{ endpoint: "http://127.0.0.1:8080", connector: { name: "c" } }] }] },
  };
}

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected an ApiError");
}

let now = T0;
let cloud: DevCloud;
let store: ProjectStore;
let events: StoreEvent[];

beforeEach(() => {
  now = T0;
  let uid = 0;
  cloud = new DevCloud({ now: () => now, uid: () => `uid-${++uid}` });
  store = cloud.project("p");
  events = [];
  cloud.subscribe((e) => events.push(e));
});

describe("create", () => {
  test("generateName, namespace, uid, generation, resourceVersion, timestamp, default status", () => {
    const created = store.create(CONNECTOR, connectorBody());
    const meta = created.metadata as JsonObject;
    expect(meta.name).toMatch(/^datum-connect-[a-z0-9]{5}$/);
    expect(meta.generateName).toBe("datum-connect-");
    expect(meta.namespace).toBe("default");
    expect(meta.uid).toMatch(/^uid-\d+$/);
    expect(meta.generation).toBe(1);
    const seeded = store.list(resourceOf("ConnectorClass"))[0]?.metadata as JsonObject;
    expect(Number(meta.resourceVersion)).toBeGreaterThan(Number(seeded.resourceVersion));
    expect(meta.creationTimestamp).toBe("2026-07-01T12:00:00Z");
    // The CRD defaults status; nulls are pruned like the API server does.
    expect((created.status as JsonObject).conditions).toEqual([
      { lastTransitionTime: "1970-01-01T00:00:00Z", message: "Waiting for controller", reason: "Pending", status: "Unknown", type: "Accepted" },
    ]);
    expect(created.spec).toEqual({ connectorClassName: "datum-connect" });
    expect(events.map((e) => e.type)).toEqual(["ADDED"]);
  });

  test("status in a create body is ignored (status subresource)", () => {
    const created = store.create(CONNECTOR, connectorBody({ status: { leaseRef: { name: "forged" } } }));
    expect((created.status as JsonObject).leaseRef).toBeUndefined();
  });

  test("resourceVersions grow monotonically across writes", () => {
    const a = store.create(HTTP_PROXY, proxyBody("tunnel-a"));
    const b = store.create(HTTP_PROXY, proxyBody("tunnel-b"));
    const rv = (o: JsonObject) => Number((o.metadata as JsonObject).resourceVersion);
    expect(rv(b)).toBeGreaterThan(rv(a));
  });

  test("a duplicate name is 409 AlreadyExists with the API server's message", () => {
    store.create(HTTP_PROXY, proxyBody());
    const err = apiError(() => store.create(HTTP_PROXY, proxyBody()));
    expect(err.code).toBe(409);
    expect(err.reason).toBe("AlreadyExists");
    expect(err.message).toBe('httpproxies.networking.datumapis.com "tunnel-abcde" already exists');
  });

  test.each<[string, JsonObject, number, string]>([
    ["no name and no generateName", { ...proxyBody(), metadata: {} }, 422, "name or generateName is required"],
    ["an invalid name", { ...proxyBody("Tunnel_A") }, 422, "RFC 1123"],
    ["no kind", { ...proxyBody(), kind: "" }, 400, "Object 'Kind' is missing"],
    ["another apiVersion", { ...proxyBody(), apiVersion: "networking.datumapis.com/v1alpha1" }, 400, "does not match the expected API version"],
    ["another namespace", { ...proxyBody(), metadata: { name: "x", namespace: "other" } }, 400, "namespace"],
    ["a schema violation", { ...proxyBody(), spec: { rules: [] } }, 422, "spec.rules"],
  ])("%s is refused", (_name, body, code, text) => {
    const err = apiError(() => store.create(HTTP_PROXY, body));
    expect(err.code).toBe(code);
    expect(err.message).toContain(text);
    expect(events).toHaveLength(0);
  });

  test("a 422 names the kind, group and object, with one cause per issue", () => {
    const err = apiError(() =>
      store.create(CONNECTOR, connectorBody({ metadata: { name: "c-1" }, spec: { connectorClassName: 5 } as Json as JsonObject })),
    );
    expect(err.message).toStartWith('Connector.networking.datumapis.com "c-1" is invalid: ');
    expect(err.details?.causes?.[0]?.field).toBe("spec.connectorClassName");
  });

  test("dryRun answers as if created and stores nothing", () => {
    const created = store.create(HTTP_PROXY, { ...proxyBody(), metadata: { generateName: "tunnel-" } }, { dryRun: true });
    expect((created.metadata as JsonObject).name).toMatch(/^tunnel-[a-z0-9]{5}$/);
    expect(store.list(HTTP_PROXY)).toHaveLength(0);
    expect(events).toHaveLength(0);
  });
});

describe("patch", () => {
  const name = "tunnel-abcde";
  const gen = () => (store.get(HTTP_PROXY, name).metadata as JsonObject).generation;
  const rv = () => (store.get(HTTP_PROXY, name).metadata as JsonObject).resourceVersion;

  test("a spec change bumps generation; metadata-only and no-op patches do not", () => {
    store.create(HTTP_PROXY, proxyBody());
    const rules = [{ backends: [{ endpoint: "http://127.0.0.1:9090", connector: { name: "c" } }] }];
    store.patch(HTTP_PROXY, name, { spec: { rules } });
    expect(gen()).toBe(2);
    store.patch(HTTP_PROXY, name, { metadata: { annotations: { "app.kubernetes.io/name": "x" } } });
    expect(gen()).toBe(2);
    const before = rv();
    store.patch(HTTP_PROXY, name, { spec: { rules } });
    expect(gen()).toBe(2);
    expect(rv()).toBe(before); // a true no-op writes nothing
  });

  test("bumpGenerationOnNoopPatch makes every main-resource patch bump (J.2)", () => {
    store.create(HTTP_PROXY, proxyBody());
    cloud.configure({ bumpGenerationOnNoopPatch: true });
    store.patch(HTTP_PROXY, name, { metadata: { annotations: { a: "b" } } });
    expect(gen()).toBe(2);
    store.patch(HTTP_PROXY, name, {});
    expect(gen()).toBe(3);
    store.patch(HTTP_PROXY, name, { status: { hostnames: ["x.localhost"] } }, { subresource: "status" });
    expect(gen()).toBe(3);
  });

  test("/status changes only status and never the generation", () => {
    store.create(HTTP_PROXY, proxyBody());
    const patched = store.patch(
      HTTP_PROXY,
      name,
      { status: { hostnames: ["a.localhost"] }, spec: { rules: null }, metadata: { annotations: { x: "y" } } },
      { subresource: "status" },
    );
    expect((patched.status as JsonObject).hostnames).toEqual(["a.localhost"]);
    expect(patched.spec).toEqual(store.get(HTTP_PROXY, name).spec);
    expect((patched.metadata as JsonObject).annotations).toBeUndefined();
    expect(gen()).toBe(1);
  });

  test("the main resource ignores status", () => {
    store.create(HTTP_PROXY, proxyBody());
    const patched = store.patch(HTTP_PROXY, name, { status: { hostnames: ["forged.localhost"] } });
    expect((patched.status as JsonObject).hostnames).toBeUndefined();
  });

  test("system metadata cannot be patched; a stale resourceVersion is a 409 Conflict", () => {
    const created = store.create(HTTP_PROXY, proxyBody());
    const patched = store.patch(HTTP_PROXY, name, { metadata: { uid: "forged", generation: 99, creationTimestamp: "x" } });
    expect((patched.metadata as JsonObject).uid).toBe((created.metadata as JsonObject).uid);
    expect((patched.metadata as JsonObject).generation).toBe(1);
    const err = apiError(() => store.patch(HTTP_PROXY, name, { metadata: { resourceVersion: "1" }, spec: { hostnames: [] } }));
    expect(err.code).toBe(409);
    expect(err.reason).toBe("Conflict");
  });

  test("nulls inside replaced arrays are pruned like the API server does (and the CRD's defaults filled in)", () => {
    store.create(HTTP_PROXY, proxyBody());
    const patched = store.patch(HTTP_PROXY, name, {
      spec: { rules: [{ name: null, filters: null, backends: [{ endpoint: "http://127.0.0.1:1", connector: { name: "c" }, filters: null }] }] },
    });
    expect(patched.spec).toEqual({
      rules: [{ backends: [{ endpoint: "http://127.0.0.1:1", connector: { name: "c" } }], matches: [{ path: { type: "PathPrefix", value: "/" } }] }],
    });
  });

  test("an invalid result is 422 and leaves the object as it was", () => {
    store.create(HTTP_PROXY, proxyBody());
    const err = apiError(() => store.patch(HTTP_PROXY, name, { spec: { rules: [] } }));
    expect(err.code).toBe(422);
    expect(gen()).toBe(1);
  });

  test("dryRun validates and answers without storing", () => {
    store.create(HTTP_PROXY, proxyBody());
    const answer = store.patch(HTTP_PROXY, name, { spec: { hostnames: ["a.localhost"] } }, { dryRun: true });
    expect((answer.metadata as JsonObject).generation).toBe(2);
    expect(gen()).toBe(1);
  });

  test("a missing object is 404 with the API server's message", () => {
    const err = apiError(() => store.patch(HTTP_PROXY, "tunnel-zzzzz", {}));
    expect(err.code).toBe(404);
    expect(err.message).toBe('httpproxies.networking.datumapis.com "tunnel-zzzzz" not found');
  });

  test("Leases carry no generation", () => {
    store.create(LEASE, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "l" }, spec: { leaseDurationSeconds: 30 } });
    const patched = store.patch(LEASE, "l", { spec: { renewTime: "2026-07-01T12:00:00.000000Z" } });
    expect((patched.metadata as JsonObject).generation).toBeUndefined();
    expect((patched.spec as JsonObject).renewTime).toBe("2026-07-01T12:00:00.000000Z");
  });
});

describe("delete", () => {
  test("without finalizers the object goes at once", () => {
    store.create(HTTP_PROXY, proxyBody());
    const result = store.delete(HTTP_PROXY, "tunnel-abcde");
    expect(result.removed).toBe(true);
    expect(store.find(HTTP_PROXY, "tunnel-abcde")).toBeUndefined();
  });

  test("finalizers hold it with a deletionTimestamp until the last one is removed", () => {
    store.create(HTTP_PROXY, { ...proxyBody(), metadata: { name: "tunnel-abcde", finalizers: ["x/y"] } });
    now += 5_000;
    const result = store.delete(HTTP_PROXY, "tunnel-abcde");
    expect(result.removed).toBe(false);
    const meta = result.object.metadata as JsonObject;
    expect(meta.deletionTimestamp).toBe("2026-07-01T12:00:05Z");
    expect(meta.generation).toBe(2);
    // A second delete changes nothing; new finalizers are refused while deleting.
    expect(store.delete(HTTP_PROXY, "tunnel-abcde").removed).toBe(false);
    expect(apiError(() => store.patch(HTTP_PROXY, "tunnel-abcde", { metadata: { finalizers: ["x/y", "z/w"] } })).code).toBe(422);
    store.patch(HTTP_PROXY, "tunnel-abcde", { metadata: { finalizers: null } });
    expect(store.find(HTTP_PROXY, "tunnel-abcde")).toBeUndefined();
    expect(events.at(-1)?.type).toBe("DELETED");
  });

  test("dryRun deletes nothing", () => {
    store.create(HTTP_PROXY, proxyBody());
    expect(store.delete(HTTP_PROXY, "tunnel-abcde", { dryRun: true }).removed).toBe(true);
    expect(store.find(HTTP_PROXY, "tunnel-abcde")).toBeDefined();
  });

  test("a Lease owned by a Connector is garbage-collected with it", () => {
    const connector = store.create(CONNECTOR, connectorBody());
    const meta = connector.metadata as JsonObject;
    store.create(LEASE, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: meta.name as string, ownerReferences: [{ apiVersion: "networking.datumapis.com/v1alpha1", kind: "Connector", name: meta.name as string, uid: meta.uid as string, controller: true }] },
      spec: { leaseDurationSeconds: 30 },
    });
    store.create(AD, {
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "ConnectorAdvertisement",
      metadata: { name: "unowned" },
      spec: { connectorRef: { name: meta.name as string } },
    });
    store.delete(CONNECTOR, meta.name as string);
    expect(store.find(LEASE, meta.name as string)).toBeUndefined();
    expect(store.find(AD, "unowned")).toBeDefined();
  });

  test("a dependent with another live owner only loses the dangling reference", () => {
    const a = store.create(CONNECTOR, connectorBody()).metadata as JsonObject;
    const b = store.create(CONNECTOR, connectorBody()).metadata as JsonObject;
    const ref = (m: JsonObject) => ({ apiVersion: "networking.datumapis.com/v1alpha1", kind: "Connector", name: m.name as string, uid: m.uid as string });
    store.create(LEASE, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "shared", ownerReferences: [ref(a), ref(b)] } });
    store.delete(CONNECTOR, a.name as string);
    const lease = store.get(LEASE, "shared");
    expect((lease.metadata as JsonObject).ownerReferences).toEqual([ref(b)]);
  });
});

describe("projects", () => {
  test("every project is seeded with the datum-connect ConnectorClass", () => {
    const classes = cloud.project("another").list(resourceOf("ConnectorClass"));
    expect(classes.map((c) => (c.metadata as JsonObject).name)).toEqual(["datum-connect"]);
    expect((classes[0]?.spec as JsonObject).controllerName).toBe("networking.datumapis.com/datum-connect");
    expect((classes[0]?.metadata as JsonObject).namespace).toBeUndefined();
  });

  test("stores are separate per project", () => {
    store.create(HTTP_PROXY, proxyBody());
    expect(cloud.project("q").list(HTTP_PROXY)).toHaveLength(0);
    expect(DevCloud.isProjectId("p-123")).toBe(true);
    expect(DevCloud.isProjectId("P_123")).toBe(false);
  });
});
