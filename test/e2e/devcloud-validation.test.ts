/**
 * The local Datum (`dev cloud` as a child process) judges raw API writes by the platform's rules
 * (docs/platform-rules.md): every HTTPProxy webhook case is a real POST and PATCH over HTTP that
 * it answers with a 422 `Invalid` Status naming the field; the CRD's own schema answers first;
 * unknown fields are dropped on the round trip.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { projectControlPlaneUrl } from "../../src/controlplane/kinds.ts";
import { accepted, proxyObject, rejected } from "../helpers/httpproxy-webhook-cases.ts";
import { type LocalDatum, startLocalDatum } from "../helpers/local-datum.ts";

/** API answers are inspected as loose JSON. */
type Obj = any;

const PROJECT = "p-validation";
const PROXIES = "/apis/networking.datumapis.com/v1alpha/namespaces/default/httpproxies";
const CONNECTORS = "/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors";
const WEBHOOK_DENIED = 'admission webhook "vhttpproxy-v1alpha.kb.io" denied the request: HTTPProxy.networking.datumapis.com "';

let datum: LocalDatum;

beforeAll(async () => {
  datum = await startLocalDatum();
});

afterAll(async () => {
  await datum.stop();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Obj }> {
  const res = await fetch(`${projectControlPlaneUrl(datum.apiUrl, PROJECT)}${path}`, {
    method,
    headers: {
      authorization: "Bearer validation-test",
      ...(body !== undefined ? { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function expectInvalid(answer: { status: number; body: Obj }, cause: { field: string; reason: string; message: string }): void {
  expect(answer.status).toBe(422);
  expect(answer.body).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Invalid", code: 422 });
  expect(answer.body.details).toMatchObject({ group: "networking.datumapis.com", kind: "HTTPProxy" });
  expect(answer.body.details.causes).toContainEqual(cause);
  expect(answer.body.message).toContain(`${cause.field}: ${cause.message}`);
}

describe("the platform's HTTPProxy webhook rules, as raw writes", () => {
  test.each(rejected.map((c, i) => [c.name, c, i] as const))("POST: %s → 422 with the platform's cause", async (_name, c, i) => {
    const body = proxyObject({ ...c.shape, name: c.shape.name ?? `tunnel-rejected-${i}` });
    const answer = await call("POST", PROXIES, body);
    expectInvalid(answer, { field: c.field, reason: c.reason, message: c.message });
    expect(answer.body.message).toStartWith(WEBHOOK_DENIED);
    expect((await call("GET", `${PROXIES}/${(body.metadata as Obj).name}`)).status).toBe(404);
  });

  test.each(rejected.filter((c) => c.shape.name === undefined).map((c) => [c.name, c] as const))(
    "PATCH: %s → 422, the stored proxy unchanged",
    async (_name, c) => {
      const name = "tunnel-patched";
      if ((await call("GET", `${PROXIES}/${name}`)).status === 404) expect((await call("POST", PROXIES, proxyObject({ name }))).status).toBe(201);
      const before = (await call("GET", `${PROXIES}/${name}`)).body;
      const answer = await call("PATCH", `${PROXIES}/${name}`, { spec: proxyObject(c.shape).spec });
      expectInvalid(answer, { field: c.field, reason: c.reason, message: c.message });
      // What the refused write would have changed: the spec and its generation. (The controllers may
      // write the proxy's status meanwhile: it was just created, and that is theirs to do.)
      const after = (await call("GET", `${PROXIES}/${name}`)).body;
      expect({ spec: after.spec, generation: after.metadata.generation }).toEqual({ spec: before.spec, generation: before.metadata.generation });
    },
  );

  test.each(accepted.map(([name, shape], i) => [name, shape, i] as const))("POST: %s → 201", async (_name, shape, i) => {
    const answer = await call("POST", PROXIES, proxyObject({ ...shape, name: `tunnel-accepted-${i}` }));
    expect(answer.status).toBe(201);
  });
});

describe("the CRD's schema, as raw writes", () => {
  test("it answers before the webhook: no rules at all is the schema's complaint, not the webhook's", async () => {
    const answer = await call("POST", PROXIES, proxyObject({ name: "tunnel-norules", rules: [] }));
    expect(answer.status).toBe(422);
    expect(answer.body.message).toBe(
      'HTTPProxy.networking.datumapis.com "tunnel-norules" is invalid: spec.rules: Invalid value: "array": spec.rules in body should have at least 1 items',
    );
    expect(answer.body.details.causes).toEqual([
      { reason: "FieldValueInvalid", message: 'Invalid value: "array": spec.rules in body should have at least 1 items', field: "spec.rules" },
    ]);
  });

  test("a wrong type, a value outside an enum and a CEL rule: one cause each", async () => {
    const body = proxyObject({
      name: "tunnel-schema",
      rules: [{ matches: [{ path: { type: "Prefix", value: "app" } }], backends: [{ endpoint: 8080, connector: { name: "c" } }] }],
    });
    const answer = await call("POST", PROXIES, body);
    expect(answer.status).toBe(422);
    const causes = answer.body.details.causes as Obj[];
    expect(causes).toContainEqual({
      reason: "FieldValueTypeInvalid",
      field: "spec.rules[0].backends[0].endpoint",
      message: 'Invalid value: "integer": spec.rules[0].backends[0].endpoint in body must be of type string: "integer"',
    });
    expect(causes).toContainEqual({
      reason: "FieldValueNotSupported",
      field: "spec.rules[0].matches[0].path.type",
      message: 'Unsupported value: "Prefix": supported values: "Exact", "PathPrefix", "RegularExpression"',
    });
    expect(causes.map((c) => c.field)).toContain("spec.rules[0].matches[0].path");
    expect(answer.body.message).toStartWith('HTTPProxy.networking.datumapis.com "tunnel-schema" is invalid: [');
  });

  test("a /status write is held to the status schema too", async () => {
    const created = await call("POST", CONNECTORS, {
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "Connector",
      metadata: { name: "datum-connect-status" },
      spec: { connectorClassName: "datum-connect" },
    });
    expect(created.status).toBe(201);
    const answer = await call("PATCH", `${CONNECTORS}/datum-connect-status/status`, {
      status: { connectionDetails: { type: "PublicKey", publicKey: { homeRelay: "https://relay.example/", addresses: [{ address: "fe80::1%eth0", port: 1 }] } } },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.details.causes).toEqual([
      { reason: "FieldValueInvalid", field: "status.connectionDetails.publicKey.addresses[0].address", message: 'Invalid value: "string": Must be an IP address.' },
    ]);
  });
});

describe("pruning: unknown fields are dropped, as the API server does", () => {
  test("on create and on patch, at any depth; known fields and defaults stay", async () => {
    const body = proxyObject({ name: "tunnel-pruned" }) as Obj;
    body.spec.bogus = { deep: true };
    body.spec.rules[1].backends[0].weight = 10;
    body.metadata.surprise = "x";
    const created = await call("POST", PROXIES, body);
    expect(created.status).toBe(201);
    const stored = (await call("GET", `${PROXIES}/tunnel-pruned`)).body;
    expect(stored.spec.bogus).toBeUndefined();
    expect(stored.metadata.surprise).toBeUndefined();
    expect(stored.spec.rules[1].backends[0]).toEqual({ endpoint: "http://127.0.0.1:8080", connector: { name: "datum-connect-7xk2p" } });
    // The CRD's default for a redirect's status code does not override the one written.
    expect(stored.spec.rules[0].filters[0].requestRedirect).toEqual({ scheme: "https", statusCode: 301 });

    const patched = await call("PATCH", `${PROXIES}/tunnel-pruned`, { spec: { hostnames: ["app.example.com"], another: 1 } });
    expect(patched.status).toBe(200);
    expect(patched.body.spec.another).toBeUndefined();
    expect(patched.body.spec.hostnames).toEqual(["app.example.com"]);
    expect((await call("GET", `${PROXIES}/tunnel-pruned`)).body.spec.another).toBeUndefined();
  });
});
