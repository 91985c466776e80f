/**
 * The local Datum's control plane over real HTTP on 127.0.0.1 (a fresh server per test): API
 * semantics, Status bodies, fault injection, the controllers and the routing table.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { DevCloudConfigPatch } from "../../src/devcloud/config.ts";
import { tokenFingerprint } from "../../src/devcloud/request-log.ts";
import { type ControlPlane, startControlPlane } from "../../src/devcloud/server.ts";

/** API answers are inspected as loose JSON. */
type Obj = any;

const NET = "/apis/networking.datumapis.com/v1alpha1/namespaces/default";
const NET_A = "/apis/networking.datumapis.com/v1alpha/namespaces/default";
const LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
const ID_A = "a1".repeat(32);
const ID_B = "b2".repeat(32);

let cp: ControlPlane;

async function start(config?: DevCloudConfigPatch): Promise<void> {
  cp = await startControlPlane({ port: 0, host: "127.0.0.1", ...(config ? { config } : {}) });
}

beforeEach(async () => {
  await start({ leaseExpiryJitter: 0 });
});

afterEach(async () => {
  await cp.stop();
});

interface Answer {
  status: number;
  body: Obj;
  text: string;
  headers: Headers;
}

async function call(
  project: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; contentType?: string; userAgent?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? "test-token" : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.userAgent) headers["user-agent"] = opts.userAgent;
  if (body !== undefined) headers["content-type"] = opts.contentType ?? (method === "PATCH" ? "application/merge-patch+json" : "application/json");
  const res = await fetch(`${cp.projectUrl(project)}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: Obj;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

async function admin(method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${cp.url}/_dev/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text, headers: res.headers };
}

/** Polls until `probe` returns a value (not undefined), for at most `timeoutMs`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let attempt = 0; attempt < 1_000; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) break;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

function condition(obj: Obj, type: string): Obj {
  return obj?.status?.conditions?.find((c: Obj) => c.type === type);
}

function connectorBody(): Obj {
  return {
    apiVersion: "networking.datumapis.com/v1alpha1",
    kind: "Connector",
    metadata: { generateName: "datum-connect-", annotations: { "datum.net/device-name": "build-box", "datum.net/device-os": "linux" } },
    spec: { connectorClassName: "datum-connect", capabilities: null },
  };
}

function connectionDetails(id: string): Obj {
  return {
    status: {
      connectionDetails: {
        type: "PublicKey",
        publicKey: { id, discoveryMode: "DNS", homeRelay: "https://iroh-relay.us-east-1.datumconnect.net./", addresses: [{ address: "192.168.1.20", port: 53211 }] },
      },
    },
  };
}

function proxyBody(connector: string, endpoint = "http://127.0.0.1:8080"): Obj {
  return {
    apiVersion: "networking.datumapis.com/v1alpha",
    kind: "HTTPProxy",
    metadata: { generateName: "tunnel-", annotations: { "app.kubernetes.io/name": "my-dev" } },
    spec: {
      hostnames: null,
      rules: [
        {
          name: null,
          matches: [{ path: { type: "PathPrefix", value: "/" }, headers: [{ name: "x-forwarded-proto", type: "Exact", value: "http" }] }],
          filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
          backends: null,
        },
        { name: null, matches: [{ path: { type: "PathPrefix", value: "/" } }], filters: null, backends: [{ endpoint, connector: { name: connector }, filters: null }] },
      ],
    },
  };
}

function adBody(name: string, connector: string, port = 8080): Obj {
  return {
    apiVersion: "networking.datumapis.com/v1alpha1",
    kind: "ConnectorAdvertisement",
    metadata: { name },
    spec: {
      connectorRef: { name: connector },
      layer4: [{ name: "default", services: [{ address: "127.0.0.1", ports: [{ name: `tcp-${port}`, port, protocol: "TCP" }] }] }],
    },
  };
}

async function createConnector(project: string, id?: string): Promise<Obj> {
  const created = await call(project, "POST", `${NET}/connectors`, connectorBody());
  expect(created.status).toBe(201);
  const name = created.body.metadata.name as string;
  if (id) expect((await call(project, "PATCH", `${NET}/connectors/${name}/status`, connectionDetails(id))).status).toBe(200);
  return created.body;
}

async function renewLease(project: string, name: string): Promise<void> {
  const renewTime = new Date().toISOString().replace("Z", "000Z");
  const res = await call(project, "PATCH", `${LEASES}/${name}`, { spec: { renewTime } });
  expect(res.status).toBe(200);
}

/** A Connector with details published and its lease renewed: Ready and DNS owner. */
async function readyConnector(project: string, id: string): Promise<Obj> {
  const c = await createConnector(project, id);
  const name = c.metadata.name;
  await waitFor("lease", async () => ((await call(project, "GET", `${LEASES}/${name}`)).status === 200 ? true : undefined));
  await renewLease(project, name);
  return waitFor("connector Ready", async () => {
    const got = (await call(project, "GET", `${NET}/connectors/${name}`)).body;
    return condition(got, "Ready")?.status === "True" ? got : undefined;
  });
}

function expectStatus(answer: Answer, code: number, reason: string): void {
  expect(answer.status).toBe(code);
  expect(answer.body).toMatchObject({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", reason, code });
  expect(typeof answer.body.message).toBe("string");
}

describe("API semantics", () => {
  test("create honours generateName and sets system metadata; GET and list return it", async () => {
    const created = await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("datum-connect-x"));
    expect(created.status).toBe(201);
    const meta = created.body.metadata;
    expect(meta.name).toMatch(/^tunnel-[a-z0-9]{5}$/);
    expect(meta).toMatchObject({ namespace: "default", generation: 1 });
    expect(meta.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(meta.resourceVersion).toMatch(/^\d+$/);
    expect(meta.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Nulls the Rust client sends are pruned, like the API server does.
    expect(created.body.spec.hostnames).toBeUndefined();

    const got = await call("p-one", "GET", `${NET_A}/httpproxies/${meta.name}`);
    expect(got.status).toBe(200);
    expect(got.body.metadata.uid).toBe(meta.uid);

    const list = await call("p-one", "GET", `${NET_A}/httpproxies`);
    expect(list.body).toMatchObject({ apiVersion: "networking.datumapis.com/v1alpha", kind: "HTTPProxyList" });
    expect(list.body.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(list.body.items.map((i: Obj) => i.metadata.name)).toEqual([meta.name]);

    // Projects are separate control planes.
    expect((await call("p-two", "GET", `${NET_A}/httpproxies`)).body.items).toEqual([]);
  });

  test("merge patch bumps generation on spec changes only; /status never does", async () => {
    const name = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"))).body.metadata.name;
    const path = `${NET_A}/httpproxies/${name}`;
    const newSpec = { spec: { hostnames: [], rules: proxyBody("c", "http://127.0.0.1:9090").spec.rules } };

    const patched = await call("p-one", "PATCH", path, newSpec);
    expect(patched.status).toBe(200);
    expect(patched.body.metadata.generation).toBe(2);
    expect(patched.body.spec.rules[1].backends[0].endpoint).toBe("http://127.0.0.1:9090");

    const annotated = await call("p-one", "PATCH", path, { metadata: { annotations: { "app.kubernetes.io/name": "renamed" } } });
    expect(annotated.body.metadata.generation).toBe(2);
    expect(annotated.body.metadata.annotations["app.kubernetes.io/name"]).toBe("renamed");

    // A no-op patch changes nothing. (Its resourceVersion is not compared with the one before: the
    // controllers write this proxy's status in the background, which rightly bumps it.)
    const before = (await call("p-one", "GET", path)).body;
    const noop = await call("p-one", "PATCH", path, newSpec);
    expect(noop.body.metadata.generation).toBe(2);
    expect(noop.body.spec).toEqual(before.spec);
    expect(noop.body.metadata.annotations).toEqual(before.metadata.annotations);

    const status = await call("p-one", "PATCH", `${path}/status`, { status: { hostnames: ["x.datumproxy.localhost"] } });
    expect(status.status).toBe(200);
    expect(status.body.metadata.generation).toBe(2);

    // J.2: servers that bump on no-op patches, switched on over the admin API.
    expect((await admin("POST", "config", { bumpGenerationOnNoopPatch: true })).status).toBe(200);
    expect((await call("p-one", "PATCH", path, newSpec)).body.metadata.generation).toBe(3);
  });

  test("PATCH accepts only merge patches", async () => {
    const name = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"))).body.metadata.name;
    const res = await call("p-one", "PATCH", `${NET_A}/httpproxies/${name}`, [{ op: "add", path: "/x", value: 1 }], {
      contentType: "application/json-patch+json",
    });
    expectStatus(res, 415, "UnsupportedMediaType");
  });

  test("field selectors: publicKey.id on connectors, connectorRef.name on ads, %3D-encoded", async () => {
    const a = await createConnector("p-one", ID_A);
    await createConnector("p-one", ID_B);
    await createConnector("p-one");
    const byId = await call("p-one", "GET", `${NET}/connectors?fieldSelector=status.connectionDetails.publicKey.id%3D${ID_A}`);
    expect(byId.status).toBe(200);
    expect(byId.body.items.map((i: Obj) => i.metadata.name)).toEqual([a.metadata.name]);
    const none = await call("p-one", "GET", `${NET}/connectors?fieldSelector=status.connectionDetails.publicKey.id%3D${"0".repeat(64)}`);
    expect(none.body.items).toEqual([]);
    const all = await call("p-one", "GET", `${NET}/connectors`);
    expect(all.body.items).toHaveLength(3);

    expect((await call("p-one", "POST", `${NET}/connectoradvertisements`, adBody("tunnel-aaaaa", a.metadata.name))).status).toBe(201);
    expect((await call("p-one", "POST", `${NET}/connectoradvertisements`, adBody("tunnel-bbbbb", "other"))).status).toBe(201);
    const ads = await call("p-one", "GET", `${NET}/connectoradvertisements?fieldSelector=spec.connectorRef.name%3D${a.metadata.name}`);
    expect(ads.body.items.map((i: Obj) => i.metadata.name)).toEqual(["tunnel-aaaaa"]);
    const byName = await call("p-one", "GET", `${NET}/connectoradvertisements?fieldSelector=metadata.name==tunnel-bbbbb`);
    expect(byName.body.items.map((i: Obj) => i.metadata.name)).toEqual(["tunnel-bbbbb"]);

    const unsupported = await call("p-one", "GET", `${NET}/connectors?fieldSelector=spec.connectorClassName%3Ddatum-connect`);
    expectStatus(unsupported, 400, "BadRequest");
    expect(unsupported.body.message).toBe("field label not supported: spec.connectorClassName");
  });

  test("dryRun=All validates and answers as if done, storing nothing", async () => {
    const dry = await call("p-one", "POST", `${NET_A}/httpproxies?dryRun=All`, proxyBody("c"));
    expect(dry.status).toBe(201);
    expect(dry.body.metadata.name).toMatch(/^tunnel-[a-z0-9]{5}$/);
    expect((await call("p-one", "GET", `${NET_A}/httpproxies`)).body.items).toEqual([]);

    const bad = await call("p-one", "POST", `${NET_A}/httpproxies?dryRun=All`, { ...proxyBody("c"), spec: { rules: [] } });
    expectStatus(bad, 422, "Invalid");

    const name = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"))).body.metadata.name;
    const dryPatch = await call("p-one", "PATCH", `${NET_A}/httpproxies/${name}?dryRun=All`, { spec: { hostnames: ["a.localhost"] } });
    expect(dryPatch.body.spec.hostnames).toEqual(["a.localhost"]);
    expect((await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).body.spec.hostnames).toBeUndefined();

    const dryDelete = await call("p-one", "DELETE", `${NET_A}/httpproxies/${name}?dryRun=All`);
    expect(dryDelete.status).toBe(200);
    expect((await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).status).toBe(200);

    expectStatus(await call("p-one", "POST", `${NET_A}/httpproxies?dryRun=Some`, proxyBody("c")), 400, "BadRequest");
  });

  test("Status bodies: 401, 404, 409, 422 with the API server's messages", async () => {
    expectStatus(await call("p-one", "GET", `${NET}/connectors`, undefined, { token: null }), 401, "Unauthorized");

    const missing = await call("p-one", "GET", `${NET_A}/httpproxies/tunnel-abcde`);
    expectStatus(missing, 404, "NotFound");
    expect(missing.body.message).toBe('httpproxies.networking.datumapis.com "tunnel-abcde" not found');
    expect(missing.body.details).toEqual({ name: "tunnel-abcde", group: "networking.datumapis.com", kind: "httpproxies" });

    const named = { ...adBody("tunnel-abcde", "c") };
    expect((await call("p-one", "POST", `${NET}/connectoradvertisements`, named)).status).toBe(201);
    const dup = await call("p-one", "POST", `${NET}/connectoradvertisements`, named);
    expectStatus(dup, 409, "AlreadyExists");
    expect(dup.body.message).toBe('connectoradvertisements.networking.datumapis.com "tunnel-abcde" already exists');

    const invalid = await call("p-one", "POST", `${NET}/connectors`, { ...connectorBody(), spec: { connectorClassName: "" } });
    expectStatus(invalid, 422, "Invalid");
    expect(invalid.body.message).toMatch(/^Connector\.networking\.datumapis\.com "datum-connect-[a-z0-9]{5}" is invalid: /);
    expect(invalid.body.details.causes[0].field).toBe("spec.connectorClassName");

    const c = await createConnector("p-one");
    const badStatus = await call("p-one", "PATCH", `${NET}/connectors/${c.metadata.name}/status`, {
      status: { connectionDetails: { type: "PublicKey", publicKey: { id: ID_A, homeRelay: "not a url", addresses: [{ address: "fe80::1%eth0", port: 0 }] } } },
    });
    expectStatus(badStatus, 422, "Invalid");
    expect(badStatus.body.message).toContain("Must be a URL.");
    expect(badStatus.body.message).toContain("Must be an IP address.");

    expectStatus(await call("p-one", "GET", "/apis/networking.datumapis.com/v9/namespaces/default/connectors"), 404, "NotFound");
    expectStatus(await call("p-one", "GET", "/openapi/v2"), 404, "NotFound");
    expectStatus(await call("p-one", "PUT", `${NET}/connectors/${c.metadata.name}`, connectorBody()), 405, "MethodNotAllowed");
    const otherNs = await call("p-one", "POST", "/apis/networking.datumapis.com/v1alpha1/namespaces/kube-system/connectors", connectorBody());
    expectStatus(otherNs, 404, "NotFound");
    expect(otherNs.body.message).toBe('namespaces "kube-system" not found');
  });

  test("tokens: denied over the admin API, expired JWTs refused, others accepted", async () => {
    expect((await call("p-one", "GET", `${NET}/connectors`, undefined, { token: "fresh" })).status).toBe(200);
    expect((await admin("POST", "deny-token", { token: "fresh" })).status).toBe(204);
    expectStatus(await call("p-one", "GET", `${NET}/connectors`, undefined, { token: "fresh" }), 401, "Unauthorized");
    expect((await call("p-one", "GET", `${NET}/connectors`, undefined, { token: "other" })).status).toBe(200);
    expect((await admin("DELETE", "deny-token")).status).toBe(204);
    expect((await call("p-one", "GET", `${NET}/connectors`, undefined, { token: "fresh" })).status).toBe(200);

    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const expired = `${b64({ alg: "none" })}.${b64({ sub: "u", exp: Math.floor(Date.now() / 1000) - 10 })}.x`;
    const live = `${b64({ alg: "none" })}.${b64({ sub: "u", exp: Math.floor(Date.now() / 1000) + 600 })}.x`;
    expectStatus(await call("p-one", "GET", `${NET}/connectors`, undefined, { token: expired }), 401, "Unauthorized");
    expect((await call("p-one", "GET", `${NET}/connectors`, undefined, { token: live })).status).toBe(200);
  });

  test("delete: a Status for plain objects, the object while finalizers hold it", async () => {
    expect((await call("p-one", "POST", `${NET}/connectoradvertisements`, adBody("tunnel-abcde", "c"))).status).toBe(201);
    const gone = await call("p-one", "DELETE", `${NET}/connectoradvertisements/tunnel-abcde`);
    expect(gone.status).toBe(200);
    expect(gone.body).toMatchObject({ kind: "Status", status: "Success", details: { name: "tunnel-abcde", kind: "connectoradvertisements" } });
    expectStatus(await call("p-one", "DELETE", `${NET}/connectoradvertisements/tunnel-abcde`), 404, "NotFound");

    // HTTPProxies get NSO's cleanup finalizer, so a delete first answers with the deleting object.
    const name = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"))).body.metadata.name;
    await waitFor("proxy finalizer", async () => {
      const got = (await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).body;
      return got.metadata.finalizers?.includes("networking.datumapis.com/httpproxy-cleanup") ? true : undefined;
    });
    const deleting = await call("p-one", "DELETE", `${NET_A}/httpproxies/${name}`);
    expect(deleting.status).toBe(200);
    expect(deleting.body.kind).toBe("HTTPProxy");
    expect(deleting.body.metadata.deletionTimestamp).toBeString();
    await waitFor("proxy gone", async () => ((await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).status === 404 ? true : undefined));
  });
});

describe("faults", () => {
  const path = `${NET}/connectors`;

  test("a 503 burst, then success", async () => {
    const added = await admin("POST", "faults", { status: 503, count: 2, match: { pathIncludes: "/connectors" } });
    expect(added.status).toBe(201);
    expectStatus(await call("p-one", "GET", path), 503, "ServiceUnavailable");
    expectStatus(await call("p-one", "GET", path), 503, "ServiceUnavailable");
    expect((await call("p-one", "GET", path)).status).toBe(200);
    expect((await admin("GET", "faults")).body.items).toEqual([]);
  });

  test("the Nth request only (skip)", async () => {
    await admin("POST", "faults", { status: 500, skip: 1, count: 1 });
    expect((await call("p-one", "GET", path)).status).toBe(200);
    expectStatus(await call("p-one", "GET", path), 500, "InternalError");
    expect((await call("p-one", "GET", path)).status).toBe(200);
  });

  test("latency delays the answer", async () => {
    await admin("POST", "faults", { latencyMs: 250, count: 1 });
    const started = performance.now();
    expect((await call("p-one", "GET", path)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    // count: 1 — the rule is spent, so the next request is not delayed.
    expect((await admin("GET", "faults")).body.items).toEqual([]);
    const log = (await admin("GET", "requests")).body.items as Obj[];
    expect(log.at(-1)?.durationMs).toBeGreaterThanOrEqual(240);
  });

  test("an outage window ends by itself", async () => {
    await admin("POST", "faults", { status: 503, forMs: 300, message: "upstream connect error" });
    const during = await call("p-one", "GET", path);
    expectStatus(during, 503, "ServiceUnavailable");
    expect(during.body.message).toBe("upstream connect error");
    const after = await waitFor("outage over", async () => {
      const res = await call("p-one", "GET", path);
      return res.status === 200 ? res : undefined;
    });
    expect(after.body.kind).toBe("ConnectorList");
  });

  test("a malformed body", async () => {
    await admin("POST", "faults", { status: 200, body: '{"kind":"ConnectorList","items":[', count: 1 });
    const res = await call("p-one", "GET", path);
    expect(res.status).toBe(200);
    expect(res.body).toBeUndefined();
    expect(res.text).toBe('{"kind":"ConnectorList","items":[');
  });

  test("quota: check timeouts for the first creates, then real exhaustion", async () => {
    await admin("POST", "faults", [
      { quota: "check-timeout", count: 1, match: { method: "POST", resource: "httpproxies" } },
    ]);
    const first = await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"));
    expectStatus(first, 403, "Forbidden");
    expect(first.body.message).toMatch(
      /^httpproxies\.networking\.datumapis\.com "tunnel-[a-z0-9]{5}" is forbidden: Your request took too long to be checked against your quota\. Please try again in a moment/,
    );
    expect((await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"))).status).toBe(201);

    await admin("POST", "faults", { quota: "exceeded", match: { method: "POST" } });
    const exhausted = await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"));
    expectStatus(exhausted, 403, "Forbidden");
    expect(exhausted.body.message).toContain("You've reached your quota for this resource type (Insufficient quota resources.");
    expect((await admin("DELETE", "faults")).status).toBe(204);
    expect((await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody("c"))).status).toBe(201);
  });

  test("invalid fault rules are refused", async () => {
    const res = await admin("POST", "faults", { count: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain("a fault needs a status");
  });
});

describe("request log", () => {
  test("records method, path, query, User-Agent, a redacted token and the body", async () => {
    await call("p-one", "GET", `${NET}/connectors?fieldSelector=metadata.name%3Dx`, undefined, { userAgent: "datumctl-connect/0.1.0 test" });
    await call("p-one", "POST", `${NET}/connectors`, connectorBody(), { token: "s3cret" });
    const log = (await admin("GET", "requests")).body.items as Obj[];
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({
      method: "GET",
      path: `${new URL(cp.projectUrl("p-one")).pathname}${NET}/connectors`,
      rawQuery: "fieldSelector=metadata.name%3Dx",
      query: { fieldSelector: "metadata.name=x" },
      project: "p-one",
      status: 200,
    });
    expect(log[0].headers["user-agent"]).toBe("datumctl-connect/0.1.0 test");
    expect(log[1].headers.authorization).toBe(`Bearer ${tokenFingerprint("s3cret")}`);
    expect(JSON.stringify(log)).not.toContain("s3cret");
    expect(log[1].json.metadata.generateName).toBe("datum-connect-");
    expect((await admin("GET", `requests?since=${log[0].seq}`)).body.items).toHaveLength(1);
    expect((await admin("DELETE", "requests")).status).toBe(204);
    expect((await admin("GET", "requests")).body.items).toEqual([]);
  });
});

describe("controllers", () => {
  test("Connector: Accepted, Lease with owner, Ready flips with a 1 s lease", async () => {
    await cp.stop();
    await start({ leaseDurationSeconds: 1, leaseExpiryJitter: 0 });
    const c = await createConnector("p-one", ID_A);
    const name = c.metadata.name;
    const get = async () => (await call("p-one", "GET", `${NET}/connectors/${name}`)).body;

    const notRenewed = await waitFor("Ready=False before renewal", async () => {
      const got = await get();
      return condition(got, "Ready")?.message === "Connector lease has not been renewed yet." ? got : undefined;
    });
    expect(condition(notRenewed, "Accepted")).toMatchObject({ status: "True", reason: "Accepted", observedGeneration: 1 });
    expect(condition(notRenewed, "Ready")).toMatchObject({ status: "False", reason: "ConnectorNotReady" });
    expect(notRenewed.status.leaseRef).toEqual({ name });

    const lease = (await call("p-one", "GET", `${LEASES}/${name}`)).body;
    expect(lease.spec.leaseDurationSeconds).toBe(1);
    expect(lease.metadata.ownerReferences).toEqual([
      { apiVersion: "networking.datumapis.com/v1alpha1", kind: "Connector", name, uid: c.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);

    await renewLease("p-one", name);
    const ready = await waitFor("Ready=True", async () => {
      const got = await get();
      return condition(got, "Ready")?.status === "True" ? got : undefined;
    });
    expect(condition(ready, "Ready")).toMatchObject({ reason: "ConnectorReady", message: "The connector is ready to tunnel traffic." });

    const expired = await waitFor("Ready=False after expiry", async () => {
      const got = await get();
      return condition(got, "Ready")?.status === "False" ? got : undefined;
    });
    expect(condition(expired, "Ready")).toMatchObject({ reason: "ConnectorNotReady", message: "Connector lease has expired. Agent may be offline." });

    await renewLease("p-one", name);
    await waitFor("Ready again after renewal", async () => (condition(await get(), "Ready")?.status === "True" ? true : undefined));

    // Deleting the Connector releases its finalizer and takes the Lease with it.
    const deleting = await call("p-one", "DELETE", `${NET}/connectors/${name}`);
    expect(deleting.body.metadata.deletionTimestamp).toBeString();
    await waitFor("connector gone", async () => ((await call("p-one", "GET", `${NET}/connectors/${name}`)).status === 404 ? true : undefined));
    expect((await call("p-one", "GET", `${LEASES}/${name}`)).status).toBe(404);
  });

  test("IrohDNSPublished: Pending, Owner, DeferredToOwner across projects, handover on delete", async () => {
    const first = await createConnector("p-one");
    const pending = await waitFor("Pending", async () => {
      const got = (await call("p-one", "GET", `${NET}/connectors/${first.metadata.name}`)).body;
      return condition(got, "IrohDNSPublished") ? got : undefined;
    });
    expect(condition(pending, "IrohDNSPublished")).toMatchObject({
      status: "False",
      reason: "Pending",
      message: "Connector status does not yet carry connection details.",
    });
    expect(pending.metadata.finalizers).toContain("networking.datumapis.com/iroh-dns-cleanup");

    await call("p-one", "PATCH", `${NET}/connectors/${first.metadata.name}/status`, connectionDetails(ID_A));
    await waitFor("Owner", async () => {
      const got = (await call("p-one", "GET", `${NET}/connectors/${first.metadata.name}`)).body;
      const cond = condition(got, "IrohDNSPublished");
      return cond?.reason === "Owner" && cond.status === "True" && cond.message === "Owns iroh DNS record." ? true : undefined;
    });

    const second = await createConnector("p-two", ID_A);
    const deferred = await waitFor("DeferredToOwner", async () => {
      const got = (await call("p-two", "GET", `${NET}/connectors/${second.metadata.name}`)).body;
      return condition(got, "IrohDNSPublished")?.reason === "DeferredToOwner" ? got : undefined;
    });
    expect(condition(deferred, "IrohDNSPublished")).toMatchObject({
      status: "False",
      message: `iroh DNS record is owned by Connector p-one/default/${first.metadata.name} (uid ${first.metadata.uid}).`,
    });

    // The owner goes away: the claim is released and the other Connector takes over.
    await call("p-one", "DELETE", `${NET}/connectors/${first.metadata.name}`);
    await waitFor("handover", async () => {
      const got = (await call("p-two", "GET", `${NET}/connectors/${second.metadata.name}`)).body;
      return condition(got, "IrohDNSPublished")?.reason === "Owner" ? true : undefined;
    });
  });

  test("a Connector whose class does not exist is not Accepted", async () => {
    const created = await call("p-one", "POST", `${NET}/connectors`, { ...connectorBody(), spec: { connectorClassName: "iroh-quic-tunnel" } });
    const got = await waitFor("Accepted=False", async () => {
      const body = (await call("p-one", "GET", `${NET}/connectors/${created.body.metadata.name}`)).body;
      return condition(body, "Accepted")?.status === "False" ? body : undefined;
    });
    expect(condition(got, "Accepted")).toMatchObject({ reason: "ConnectorClassNotFound", message: 'ConnectorClass "iroh-quic-tunnel" not found' });
    expect(condition(got, "Ready")).toMatchObject({ status: "False", message: "Waiting for ConnectorClass to be resolved." });
  });

  test("HTTPProxy: hostnames under .localhost and every condition at the current generation", async () => {
    const connector = await readyConnector("p-one", ID_A);
    const created = await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody(connector.metadata.name));
    const name = created.body.metadata.name;
    const allTrueAt = (generation: number) => async () => {
      const got = (await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).body;
      const types = ["Accepted", "CertificatesReady", "Programmed", "ConnectorMetadataProgrammed"];
      const ok = types.every((t) => condition(got, t)?.status === "True" && condition(got, t)?.observedGeneration === generation);
      return ok && got.metadata.generation === generation ? got : undefined;
    };
    const ready = await waitFor("all conditions True at generation 1", allTrueAt(1));
    expect(ready.status.hostnames).toHaveLength(1);
    const hostname = ready.status.hostnames[0] as string;
    expect(hostname).toMatch(/^[a-z]+-[a-z]+-[a-z0-9]{5}\.datumproxy\.localhost$/);
    expect(condition(ready, "CertificatesReady").reason).toBe("AllCertificatesReady");
    expect(condition(ready, "ConnectorMetadataProgrammed")).toMatchObject({
      reason: "ConnectorMetadataApplied",
      message: "Connector tunnel metadata applied",
    });
    for (const c of ready.status.conditions) expect(c.lastTransitionTime).toMatch(/Z$/);

    await call("p-one", "PATCH", `${NET_A}/httpproxies/${name}`, {
      spec: { rules: proxyBody(connector.metadata.name, "http://127.0.0.1:9999").spec.rules },
    });
    const second = await waitFor("all conditions True at generation 2", allTrueAt(2));
    expect(second.status.hostnames).toEqual([hostname]);
  });

  test("HTTPProxy: stale generation mode, omitted conditions, Programmed waits for the Connector", async () => {
    await cp.stop();
    await start({ leaseExpiryJitter: 0, omitConditions: ["CertificatesReady", "ConnectorMetadataProgrammed"] });
    const connector = await createConnector("p-one", ID_A);
    const name = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody(connector.metadata.name))).body.metadata.name;
    const get = async () => (await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).body;

    const waiting = await waitFor("Accepted but not Programmed", async () => {
      const got = await get();
      return condition(got, "Accepted")?.status === "True" && condition(got, "Programmed")?.status === "False" ? got : undefined;
    });
    expect(condition(waiting, "Programmed")).toMatchObject({
      reason: "Pending",
      message: `Waiting for Connector "${connector.metadata.name}" to become ready`,
    });
    expect(condition(waiting, "CertificatesReady")).toBeUndefined();
    expect(condition(waiting, "ConnectorMetadataProgrammed")).toBeUndefined();

    await renewLease("p-one", connector.metadata.name);
    await waitFor("Programmed once the Connector is Ready", async () => (condition(await get(), "Programmed")?.status === "True" ? true : undefined));

    await admin("POST", "config", { staleGeneration: true });
    await call("p-one", "PATCH", `${NET_A}/httpproxies/${name}`, { spec: { hostnames: [], rules: proxyBody(connector.metadata.name, "http://127.0.0.1:7777").spec.rules } });
    await Bun.sleep(150);
    const stale = await get();
    expect(stale.metadata.generation).toBe(2);
    expect(condition(stale, "Programmed")).toMatchObject({ status: "True", observedGeneration: 1 });

    await admin("POST", "config", { staleGeneration: false });
    await waitFor("conditions catch up", async () => (condition(await get(), "Programmed")?.observedGeneration === 2 ? true : undefined));
  });

  test("HTTPProxy: phase delays keep later conditions pending", async () => {
    await cp.stop();
    await start({ leaseExpiryJitter: 0, delays: { programmed: 800 } });
    const connector = await readyConnector("p-one", ID_A);
    const name = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody(connector.metadata.name))).body.metadata.name;
    const get = async () => (await call("p-one", "GET", `${NET_A}/httpproxies/${name}`)).body;
    const early = await waitFor("Accepted", async () => {
      const got = await get();
      return condition(got, "CertificatesReady")?.status === "True" ? got : undefined;
    });
    expect(condition(early, "Programmed").status).toBe("False");
    expect(condition(early, "ConnectorMetadataProgrammed").status).toBe("False");
    await waitFor("Programmed after the delay", async () => (condition(await get(), "Programmed")?.status === "True" ? true : undefined));
  });

  test("ConnectorAdvertisement: Accepted or ConnectorNotFound", async () => {
    const connector = await createConnector("p-one");
    await call("p-one", "POST", `${NET}/connectoradvertisements`, adBody("tunnel-aaaaa", connector.metadata.name));
    await call("p-one", "POST", `${NET}/connectoradvertisements`, adBody("tunnel-bbbbb", "datum-connect-nope"));
    const accepted = await waitFor("ad Accepted", async () => {
      const got = (await call("p-one", "GET", `${NET}/connectoradvertisements/tunnel-aaaaa`)).body;
      return condition(got, "Accepted")?.status === "True" ? got : undefined;
    });
    expect(condition(accepted, "Accepted").reason).toBe("Accepted");
    const refused = await waitFor("ad not found", async () => {
      const got = (await call("p-one", "GET", `${NET}/connectoradvertisements/tunnel-bbbbb`)).body;
      return condition(got, "Accepted")?.status === "False" ? got : undefined;
    });
    expect(condition(refused, "Accepted").reason).toBe("ConnectorNotFound");
  });
});

describe("routing table", () => {
  test("hostname → endpoint, target and online (Connector Ready and advertisement present)", async () => {
    const connector = await readyConnector("p-one", ID_A);
    const proxy = (await call("p-one", "POST", `${NET_A}/httpproxies`, proxyBody(connector.metadata.name, "http://127.0.0.1:3000"))).body;
    const route = await waitFor("route", async () => {
      const items = (await admin("GET", "routes")).body.items as Obj[];
      return items.find((r) => r.proxyName === proxy.metadata.name && r.programmed);
    });
    expect(route).toMatchObject({
      project: "p-one",
      connectorName: connector.metadata.name,
      endpointId: ID_A,
      targetHost: "127.0.0.1",
      targetPort: 3000,
      homeRelay: "https://iroh-relay.us-east-1.datumconnect.net./",
      addresses: [{ address: "192.168.1.20", port: 53211 }],
      online: false, // no advertisement yet: the tunnel is disabled
    });
    expect(route.hostname).toEndWith(".localhost");

    await call("p-one", "POST", `${NET}/connectoradvertisements`, adBody(proxy.metadata.name, connector.metadata.name, 3000));
    const online = cp.routes().find((r) => r.proxyName === proxy.metadata.name);
    expect(online?.online).toBe(true);
    expect(online?.hostname).toBe(route.hostname);

    await call("p-one", "DELETE", `${NET}/connectoradvertisements/${proxy.metadata.name}`);
    expect(cp.routes().find((r) => r.proxyName === proxy.metadata.name)?.online).toBe(false);
  });
});

describe("admin API", () => {
  test("config and state round-trip; unknown admin routes are 404", async () => {
    const config = await admin("POST", "config", { delays: { accepted: 5 }, leaseDurationSeconds: 7 });
    expect(config.status).toBe(200);
    expect(config.body.delays.accepted).toBe(5);
    expect(config.body.leaseDurationSeconds).toBe(7);
    expect((await admin("POST", "config", { hostnameZone: "example.com" })).status).toBe(400);

    await createConnector("p-one");
    const state = (await admin("GET", "state")).body;
    expect(Object.keys(state.projects)).toEqual(["p-one"]);
    expect(state.projects["p-one"].connectors).toHaveLength(1);
    expect(state.projects["p-one"].connectorclasses[0].metadata.name).toBe("datum-connect");
    expect((await admin("GET", "nope")).status).toBe(404);
  });

  test("admin writes need a JSON body", async () => {
    const res = await fetch(`${cp.url}/_dev/faults`, { method: "POST", body: "status=503" });
    expect(res.status).toBe(415);
    expect((await admin("GET", "faults")).body.items).toEqual([]);
  });
});
