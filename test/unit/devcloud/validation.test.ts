/**
 * The local Datum's own server-side validation (src/devcloud/validation/): the HTTPProxy webhook
 * table, the Go URL and IP readings it depends on, the 422 wording, pruning and defaulting. The
 * schemas themselves are held to the real CRDs by test/unit/controlplane/crd-conformance.test.ts.
 */
import { describe, expect, test } from "bun:test";
import type { JsonObject } from "../../../src/devcloud/json.ts";
import { resourceOf } from "../../../src/devcloud/resources.ts";
import { ApiError } from "../../../src/devcloud/status.ts";
import { admit, conformToSchema } from "../../../src/devcloud/validation/admission.ts";
import { fqdnProblem } from "../../../src/devcloud/validation/dns-names.ts";
import { hostnameOf, parseRequestUri, parseUrl, portOf } from "../../../src/devcloud/validation/go-url.ts";
import { isLinkLocalMulticast, isLinkLocalUnicast, isLoopback, isStrictIP, isUnspecified, parseIP } from "../../../src/devcloud/validation/ip.ts";
import { accepted, proxyObject, rejected } from "../../helpers/httpproxy-webhook-cases.ts";

const HTTP_PROXY = resourceOf("HTTPProxy");

function rejection(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected a 422");
}

function admitProxy(obj: Record<string, unknown>, webhooks = true): JsonObject {
  const name = String((obj.metadata as JsonObject).name);
  return admit(HTTP_PROXY, obj as JsonObject, name, { webhooks });
}

describe("HTTPProxy webhook (the platform's rules, docs/platform-rules.md)", () => {
  test.each(rejected.map((c) => [c.name, c] as const))("%s is refused with the platform's cause", (_name, c) => {
    const err = rejection(() => admitProxy(proxyObject(c.shape)));
    expect(err.code).toBe(422);
    expect(err.reason).toBe("Invalid");
    expect(err.message).toStartWith('admission webhook "vhttpproxy-v1alpha.kb.io" denied the request: HTTPProxy.networking.datumapis.com "');
    expect(err.details?.causes).toContainEqual({ reason: c.reason, field: c.field, message: c.message });
  });

  test.each(accepted.map(([name, shape]) => [name, shape] as const))("%s is admitted", (_name, shape) => {
    expect(() => admitProxy(proxyObject(shape))).not.toThrow();
  });

  test("/status writes and controllers' writes do not go through the webhook", () => {
    expect(() => admitProxy(proxyObject({ backend: { endpoint: "http://127.0.0.1:3000/" } }), false)).not.toThrow();
  });

  test("the schema answers before the webhook: a schema violation is not prefixed", () => {
    const err = rejection(() => admitProxy(proxyObject({ rules: [] })));
    expect(err.message).toBe('HTTPProxy.networking.datumapis.com "tunnel-abcde" is invalid: spec.rules: Invalid value: "array": spec.rules in body should have at least 1 items');
  });

  test("several causes: one per field, the message lists them in brackets", () => {
    const err = rejection(() => admitProxy(proxyObject({ backend: { endpoint: "ftp://u@0.0.0.0:0/x?q#f", connector: { name: "c" } } })));
    expect(err.details?.causes?.map((c) => c.field)).toEqual([
      "spec.rules[1].backends[0].endpoint[scheme]",
      "spec.rules[1].backends[0].endpoint[userinfo]",
      "spec.rules[1].backends[0].endpoint[host]",
      "spec.rules[1].backends[0].endpoint[port]",
      "spec.rules[1].backends[0].endpoint[path]",
      "spec.rules[1].backends[0].endpoint[query]",
      "spec.rules[1].backends[0].endpoint[fragment]",
    ]);
    expect(err.message).toContain('is invalid: [spec.rules[1].backends[0].endpoint[scheme]: Unsupported value: "ftp"');
    expect(err.message).toEndWith('spec.rules[1].backends[0].endpoint[fragment]: Invalid value: "f": endpoint must not have a fragment component]');
  });
});

describe("schema: pruning, defaults, wording", () => {
  test("unknown fields are dropped, at any depth and in metadata; nothing else changes", () => {
    const body = proxyObject() as { metadata: JsonObject; spec: { rules: JsonObject[] } };
    body.metadata.bogus = "x";
    (body.spec as unknown as JsonObject).extra = 1;
    (body.spec.rules[1] as JsonObject).weight = 5;
    const result = conformToSchema("HTTPProxy", body as unknown as JsonObject);
    expect(result.violations).toEqual([]);
    expect(result.pruned.sort()).toEqual(["metadata.bogus", "spec.extra", "spec.rules[1].weight"]);
    const value = result.value as { metadata: JsonObject; spec: JsonObject };
    expect(value.metadata.bogus).toBeUndefined();
    expect(value.spec.extra).toBeUndefined();
  });

  test("managedFields are kept as written", () => {
    const body = { ...proxyObject(), metadata: { name: "tunnel-abcde", managedFields: [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }] } };
    const value = conformToSchema("HTTPProxy", body as unknown as JsonObject).value as { metadata: JsonObject };
    expect(value.metadata.managedFields).toEqual([{ manager: "kubectl", fieldsV1: { "f:spec": {} } }]);
  });

  test("defaults fill in recursively (a defaulted object gets its own fields' defaults)", () => {
    const tpp = {
      apiVersion: "networking.datumapis.com/v1alpha",
      kind: "TrafficProtectionPolicy",
      metadata: { name: "t" },
      spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "t" }] },
    };
    const value = conformToSchema("TrafficProtectionPolicy", tpp as unknown as JsonObject).value as { spec: JsonObject };
    expect(value.spec).toEqual({
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "t" }],
      mode: "Observe",
      samplingPercentage: 100,
      ruleSets: [{ type: "OWASPCoreRuleSet", owaspCoreRuleSet: { paranoiaLevels: { blocking: 1, detection: 1 }, scoreThresholds: { inbound: 5, outbound: 4 } } }],
    });
  });

  test("reasons and messages follow the API server", () => {
    const connector = {
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "Connector",
      metadata: { name: "c" },
      spec: { connectorClassName: "", capabilities: Array.from({ length: 17 }, (_, i) => ({ type: `t${i}` })) },
      status: {
        connectionDetails: { type: "Other", publicKey: { homeRelay: "relay", addresses: [{ address: "x".repeat(40), port: "1" }] } },
      },
    };
    const { violations } = conformToSchema("Connector", connector as unknown as JsonObject);
    const byField = Object.fromEntries(violations.map((v) => [`${v.field} ${v.reason}`, v.message]));
    expect(byField).toEqual({
      "spec.connectorClassName FieldValueInvalid": 'Invalid value: "": spec.connectorClassName in body should be at least 1 chars long',
      "spec.capabilities FieldValueTooMany": "Too many: 17: must have at most 16 items",
      "status.connectionDetails.type FieldValueNotSupported": 'Unsupported value: "Other": supported values: "PublicKey"',
      "status.connectionDetails FieldValueInvalid": 'Invalid value: "object": publicKey field must be specified if the type is PublicKey',
      "status.connectionDetails.publicKey.homeRelay FieldValueInvalid": 'Invalid value: "string": Must be a URL.',
      "status.connectionDetails.publicKey.addresses[0].address FieldValueTooLong": "Too long: may not be more than 39 bytes",
      "status.connectionDetails.publicKey.addresses[0].address FieldValueInvalid": 'Invalid value: "string": Must be an IP address.',
      "status.connectionDetails.publicKey.addresses[0].port FieldValueTypeInvalid":
        'Invalid value: "string": status.connectionDetails.publicKey.addresses[0].port in body must be of type integer: "string"',
    });
  });

  test("a list keyed by a field refuses a repeated key", () => {
    const connector = {
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "Connector",
      metadata: { name: "c" },
      spec: { connectorClassName: "x", capabilities: [{ type: "a" }, { type: "a" }] },
    };
    const { violations } = conformToSchema("Connector", connector as unknown as JsonObject);
    expect(violations.map((v) => [v.field, v.reason, v.message])).toEqual([["spec.capabilities[1]", "FieldValueDuplicate", 'Duplicate value: {"type":"a"}']]);
  });

  test("Lease (core): typed fields, positive duration, unknown fields dropped", () => {
    const lease = (spec: JsonObject) => ({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "l" }, spec }) as unknown as JsonObject;
    const ok = conformToSchema("Lease", lease({ holderIdentity: "x", leaseDurationSeconds: 30, renewTime: "2026-07-01T12:00:00.000000Z", junk: 1 }));
    expect(ok.violations).toEqual([]);
    expect(ok.pruned).toEqual(["spec.junk"]);
    expect(conformToSchema("Lease", lease({ leaseDurationSeconds: 0 })).violations.map((v) => [v.field, v.message])).toEqual([
      ["spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0"],
    ]);
    expect(conformToSchema("Lease", lease({ renewTime: "soon" })).violations.map((v) => v.field)).toEqual(["spec.renewTime"]);
    expect(conformToSchema("Lease", lease({ leaseDurationSeconds: "30" })).violations.map((v) => v.reason)).toEqual(["FieldValueTypeInvalid"]);
  });
});

describe("Go URL reading (what the webhook and isURL see)", () => {
  const cases: Array<[string, { scheme?: string; host?: string; port?: string; path?: string; query?: string; fragment?: string; user?: string; error?: string }]> = [
    ["http://127.0.0.1:3000", { scheme: "http", host: "127.0.0.1", port: "3000", path: "" }],
    ["http://127.0.0.1:3000/", { path: "/" }],
    ["HTTPS://Example.COM", { scheme: "https", host: "Example.COM", port: "" }],
    ["http://[::1]:8080", { host: "::1", port: "8080" }],
    ["http://u:p@h.example:1", { user: "u", host: "h.example" }],
    ["http://h.example:1?a=b#frag", { query: "a=b", fragment: "frag" }],
    ["localhost:3000", { scheme: "localhost", host: "", path: "" }],
    ["127.0.0.1:3000", { error: 'parse "127.0.0.1:3000": first path segment in URL cannot contain colon' }],
    ["http://h.example:abc", { error: 'parse "http://h.example:abc": invalid port ":abc" after host' }],
    ["http://[::1", { error: `parse "http://[::1": missing ']' in host` }],
    ["://x", { error: 'parse "://x": missing protocol scheme' }],
    ["http://h.example/%zz", { error: 'parse "http://h.example/%zz": invalid URL escape "%zz"' }],
    ["http://a b.example", { error: 'parse "http://a b.example": invalid character " " in host name' }],
    ["http://%41pp.example", { error: 'parse "http://%41pp.example": invalid URL escape "%41"' }],
    ["http://[fe80::1%25eth0]:80", { host: "fe80::1%eth0", port: "80" }],
  ];
  test.each(cases)("%s", (raw, want) => {
    const result = parseUrl(raw);
    if (want.error !== undefined) {
      expect(result).toEqual({ ok: false, error: want.error });
      return;
    }
    if (!result.ok) throw new Error(result.error);
    const url = result.url;
    const got = { scheme: url.scheme, host: hostnameOf(url), port: portOf(url), path: url.path, query: url.rawQuery, fragment: url.fragment, user: url.username };
    for (const [key, value] of Object.entries(want)) expect([key, got[key as keyof typeof got]]).toEqual([key, value]);
  });

  test.each([
    ["https://relay.example./", true],
    ["/absolute/path", true],
    ["mailto:someone", true],
    ["relay.example", false],
    ["", false],
    ["https://a:b:c/", false],
  ] as const)("isURL(%p) is %p", (raw, ok) => {
    expect(parseRequestUri(raw).ok).toBe(ok);
  });
});

describe("IP reading", () => {
  test.each([
    ["10.0.0.1", true],
    ["2001:db8::20", true],
    ["fe80::1", true],
    ["::", true],
    ["::ffff:10.0.0.1", false],
    ["::ffff:a00:1", false],
    ["fe80::1%eth0", false],
    ["999.1.1.1", false],
    ["01.2.3.4", false],
    ["1:2:3:4:5:6:7:8:9", false],
    ["1::2::3", false],
  ] as const)("isIP(%p) is %p", (text, ok) => {
    expect(isStrictIP(text)).toBe(ok);
  });

  test.each([
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["127.9.9.9", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["169.254.169.254", "link-local"],
    ["fe80::abcd", "link-local"],
    ["febf::1", "link-local"],
    ["224.0.0.251", "link-local multicast"],
    ["ff02::fb", "link-local multicast"],
    ["224.0.1.1", "other"],
    ["10.1.2.3", "other"],
    ["2001:db8::1", "other"],
  ] as const)("%s is %s", (text, want) => {
    const ip = parseIP(text);
    if (!ip) throw new Error(`unparsed ${text}`);
    const kind = isUnspecified(ip)
      ? "unspecified"
      : isLoopback(ip)
        ? "loopback"
        : isLinkLocalUnicast(ip)
          ? "link-local"
          : isLinkLocalMulticast(ip)
            ? "link-local multicast"
            : "other";
    expect(kind).toBe(want);
  });
});

describe("fully qualified domain names", () => {
  test.each([
    ["app.example.com", undefined],
    ["app.example.com.", undefined],
    ["", { kind: "required" }],
    ["devbox", { kind: "invalid", value: "devbox", detail: "should be a domain with at least two segments separated by dots" }],
    ["Upper.example", { kind: "invalid", value: "Upper.example" }],
    [`${"a".repeat(64)}.example`, { kind: "invalid", value: "a".repeat(64), detail: "must be no more than 63 characters" }],
  ] as const)("%p", (name, want) => {
    const got = fqdnProblem(name);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject(want);
  });
});
