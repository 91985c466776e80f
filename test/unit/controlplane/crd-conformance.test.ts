/**
 * Holds two things against the platform's own CRDs (`../shared/crds/` beside the repository):
 *
 * - the client's valibot schemas (src/controlplane/schemas.ts): the objects the agent sends pass
 *   the CRD, and every bad case the CRD rejects is rejected by the client's schema too;
 * - the local Datum's own server-side schemas (src/devcloud/validation/, which share no code with
 *   the client): their structure is the CRD's, field for field, and for cases generated
 *   systematically from the CRD (each constrained field just inside and just outside its bounds,
 *   wrong types, missing required fields, unknown fields, nulls, repeated list keys) they accept,
 *   reject, prune and default exactly as the CRD does. The CEL rules, which this oracle does not
 *   evaluate beyond `isIP`/`isURL`, get hand-written cases.
 *
 * The oracle is a small structural OpenAPI v3 validator written here. Like the API server it
 * prunes nulls of non-nullable fields, applies defaults (recursively), reports unknown fields
 * (which it would drop), checks `date-time` and list-map/set uniqueness.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { SchemaOf } from "../../../src/controlplane/schemas.ts";
import { DevCloud } from "../../../src/devcloud/cloud.ts";
import { startControllers } from "../../../src/devcloud/controllers.ts";
import type { Json, JsonObject } from "../../../src/devcloud/json.ts";
import { applyMergePatch } from "../../../src/devcloud/merge-patch.ts";
import { resourceOf } from "../../../src/devcloud/resources.ts";
import { PlatformSchemas, conformToSchema } from "../../../src/devcloud/validation/admission.ts";
import type { Schema as LocalSchema } from "../../../src/devcloud/validation/schema.ts";

// ---------- the validator ----------

interface OpenApiSchema {
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  required?: string[];
  items?: OpenApiSchema;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  default?: unknown;
  format?: string;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-validations"?: Array<{ rule: string; message?: string }>;
}

interface Verdict {
  /** Validation errors: the API server would answer 422. */
  errors: string[];
  /** The fields of those errors; `cel` for the `isIP`/`isURL` rules, `schema` for the rest. */
  fields: Array<{ field: string; source: "schema" | "cel" }>;
  /** Unknown fields the API server would silently drop. */
  pruned: string[];
  /** The object after null pruning and defaulting. */
  value: unknown;
}

function validateAgainst(schema: OpenApiSchema, value: unknown): Verdict {
  const verdict: Verdict = { errors: [], fields: [], pruned: [], value: undefined };
  verdict.value = check(schema, value, "", verdict, true);
  return verdict;
}

function fail(verdict: Verdict, field: string, text: string, source: "schema" | "cel" = "schema"): void {
  verdict.errors.push(`${field || "<root>"}: ${text}`);
  verdict.fields.push({ field, source });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function check(schema: OpenApiSchema, value: unknown, path: string, verdict: Verdict, root = false): unknown {
  if (value === null) {
    if (!schema.nullable) fail(verdict, path, "must not be null");
    return value;
  }
  switch (schema.type) {
    case "object": {
      if (!isPlainObject(value)) {
        fail(verdict, path, "expected object");
        return value;
      }
      const out: Record<string, unknown> = {};
      const properties = schema.properties ?? {};
      for (const [key, item] of Object.entries(value)) {
        const child = properties[key];
        const childPath = path ? `${path}.${key}` : key;
        if (root && key === "metadata") {
          // ObjectMeta is validated by the API server itself, never pruned by the CRD schema.
          if (!isPlainObject(item)) fail(verdict, "metadata", "expected object");
          out[key] = item;
        } else if (child) {
          // Nulls of non-nullable fields are pruned before defaulting and validation.
          if (item === null && !child.nullable) continue;
          out[key] = check(child, item, childPath, verdict);
        } else if (schema["x-kubernetes-preserve-unknown-fields"]) {
          out[key] = item;
        } else if (isPlainObject(schema.additionalProperties)) {
          out[key] = check(schema.additionalProperties, item, childPath, verdict);
        } else if (schema.additionalProperties === true) {
          out[key] = item;
        } else {
          verdict.pruned.push(childPath);
        }
      }
      for (const [key, child] of Object.entries(properties)) {
        // A defaulted value is defaulted in turn (its own fields' defaults apply).
        if (out[key] === undefined && child.default !== undefined) {
          out[key] = check(child, structuredClone(child.default), path ? `${path}.${key}` : key, verdict);
        }
      }
      for (const key of schema.required ?? []) {
        if (out[key] === undefined) fail(verdict, `${path ? `${path}.` : ""}${key}`, "Required value");
      }
      runRules(schema, out, path, verdict);
      return out;
    }
    case "array": {
      if (!Array.isArray(value)) {
        fail(verdict, path, "expected array");
        return value;
      }
      if (schema.minItems !== undefined && value.length < schema.minItems) fail(verdict, path, `should have at least ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(verdict, path, `must have at most ${schema.maxItems} items`);
      const out = schema.items ? value.map((item, i) => check(schema.items as OpenApiSchema, item, `${path}[${i}]`, verdict)) : value;
      const listType = schema["x-kubernetes-list-type"];
      if (listType === "map" || listType === "set") {
        const seen = new Set<string>();
        out.forEach((item, i) => {
          const keys = schema["x-kubernetes-list-map-keys"] ?? [];
          const identity = listType === "map" && isPlainObject(item) ? keys.map((k) => item[k]) : item;
          const text = JSON.stringify(identity);
          if (seen.has(text)) fail(verdict, `${path}[${i}]`, "Duplicate value");
          seen.add(text);
        });
      }
      runRules(schema, out, path, verdict);
      return out;
    }
    case "string": {
      if (typeof value !== "string") {
        fail(verdict, path, "expected string");
        return value;
      }
      const length = [...value].length;
      if (schema.minLength !== undefined && length < schema.minLength) fail(verdict, path, `should be at least ${schema.minLength} chars long`);
      if (schema.maxLength !== undefined && length > schema.maxLength) fail(verdict, path, `may not be more than ${schema.maxLength} bytes`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) fail(verdict, path, `should match '${schema.pattern}'`);
      if (schema.format === "date-time" && !isRfc3339(value)) fail(verdict, path, "must be of type date-time");
      break;
    }
    case "integer":
    case "number": {
      if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value))) {
        fail(verdict, path, `expected ${schema.type}`);
        return value;
      }
      if (schema.minimum !== undefined && value < schema.minimum) fail(verdict, path, `should be greater than or equal to ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) fail(verdict, path, `should be less than or equal to ${schema.maximum}`);
      break;
    }
    case "boolean":
      if (typeof value !== "boolean") {
        fail(verdict, path, "expected boolean");
        return value;
      }
      break;
    default:
      break;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) fail(verdict, path, `Unsupported value: ${JSON.stringify(value)}`);
  runRules(schema, value, path, verdict);
  return value;
}

/** RFC 3339 `date-time`: full date, `T`, full time with optional fraction, `Z` or an offset. */
function isRfc3339(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return false;
  const [mo, d, h, mi, sec] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec <= 60;
}

/** The two CEL rules that matter for what the agent writes; every other rule is not evaluated. */
function runRules(schema: OpenApiSchema, value: unknown, path: string, verdict: Verdict): void {
  for (const { rule, message } of schema["x-kubernetes-validations"] ?? []) {
    let ok = true;
    if (rule === "isIP(self)") ok = typeof value === "string" && celIsIP(value);
    else if (rule === "isURL(self)") ok = typeof value === "string" && celIsURL(value);
    if (!ok) fail(verdict, path, message ?? rule, "cel");
  }
}

/** k8s CEL `isIP`: netip.ParseAddr without a zone, and no IPv4-mapped IPv6. */
function celIsIP(s: string): boolean {
  const family = isIP(s);
  if (family === 4) return true;
  if (family !== 6 || s.includes("%")) return false;
  return !expandIPv6(s).startsWith("0000:0000:0000:0000:0000:ffff:");
}

function expandIPv6(s: string): string {
  let text = s.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  return [...left, ...middle, ...right].map((g) => g.padStart(4, "0")).join(":");
}

/** k8s CEL `isURL`: Go's `url.ParseRequestURI` — an absolute URI or an absolute path. */
function celIsURL(s: string): boolean {
  if (/[\u0000-\u001f\u007f]/.test(s)) return false;
  if (s.startsWith("/")) return true;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/.exec(s);
  if (!m) return false;
  const rest = m[2] ?? "";
  if (!rest.startsWith("//")) return true; // opaque form, e.g. mailto:x
  const authority = rest.slice(2).split(/[/?#]/)[0] ?? "";
  const hostport = authority.slice(authority.lastIndexOf("@") + 1);
  const port = hostport.startsWith("[") ? hostport.slice(hostport.indexOf("]") + 1) : hostport.slice(hostport.indexOf(":") === -1 ? hostport.length : hostport.indexOf(":"));
  if (port !== "" && !/^:\d*$/.test(port)) return false;
  return !/[\s<>"{}|\\^`]/.test(hostport);
}

// ---------- the CRDs ----------

/** `../shared/crds` relative to the repository root, where CI keeps the platform's CRDs. */
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CRD_DIR = `${REPO_ROOT}../shared/crds`;
const haveCrds = existsSync(CRD_DIR) && readdirSync(CRD_DIR).some((f) => f.endsWith(".yaml"));
if (!haveCrds) {
  console.log(`skip: no CRDs at ${CRD_DIR} (../shared/crds beside the repository root); neither the client's schemas nor the local Datum's validation were checked against them`);
}

function loadSchemas(): Map<string, OpenApiSchema> {
  const schemas = new Map<string, OpenApiSchema>();
  for (const file of readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml"))) {
    const parsed = Bun.YAML.parse(readFileSync(`${CRD_DIR}/${file}`, "utf8")) as unknown;
    for (const doc of Array.isArray(parsed) ? parsed : [parsed]) {
      if (!isPlainObject(doc) || doc.kind !== "CustomResourceDefinition") continue;
      const spec = doc.spec as { group: string; names: { kind: string }; versions: Array<{ name: string; schema: { openAPIV3Schema: OpenApiSchema } }> };
      for (const version of spec.versions) {
        schemas.set(`${spec.group}/${version.name}/${spec.names.kind}`, version.schema.openAPIV3Schema);
      }
    }
  }
  return schemas;
}

const schemas = haveCrds ? loadSchemas() : new Map<string, OpenApiSchema>();

function crdFor(object: { apiVersion?: unknown; kind?: unknown }): OpenApiSchema {
  const schema = schemas.get(`${String(object.apiVersion)}/${String(object.kind)}`);
  if (!schema) throw new Error(`no CRD for ${String(object.apiVersion)} ${String(object.kind)}`);
  return schema;
}

type KindName = keyof typeof SchemaOf;

// ---------- samples: exactly what the agent sends (docs/wire-facts.md#kinds) ----------

const ID = "9f".repeat(32);

const connectorCreate = {
  apiVersion: "networking.datumapis.com/v1alpha1",
  kind: "Connector",
  metadata: { generateName: "datum-connect-", annotations: { "datum.net/device-name": "build-box", "datum.net/device-os": "linux" } },
  spec: { connectorClassName: "datum-connect", capabilities: null },
};

const connectorStatusPatch = {
  status: {
    connectionDetails: {
      type: "PublicKey",
      publicKey: {
        id: ID,
        discoveryMode: "DNS",
        homeRelay: "https://iroh-relay.us-east-1.datumconnect.net./",
        addresses: [
          { address: "192.168.1.20", port: 53211 },
          { address: "2001:db8::20", port: 53211 },
        ],
      },
    },
  },
};

const advertisement = {
  apiVersion: "networking.datumapis.com/v1alpha1",
  kind: "ConnectorAdvertisement",
  metadata: { name: "tunnel-abcde" },
  spec: {
    connectorRef: { name: "datum-connect-7xk2p" },
    layer4: [{ name: "default", services: [{ address: "127.0.0.1", ports: [{ name: "tcp-8080", port: 8080, protocol: "TCP" }] }] }],
  },
};

const redirectRule = {
  name: null,
  matches: [{ path: { type: "PathPrefix", value: "/" }, headers: [{ name: "x-forwarded-proto", type: "Exact", value: "http" }] }],
  filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
  backends: null,
};

function backendRule(endpoint: string): JsonObject {
  return {
    name: null,
    matches: [{ path: { type: "PathPrefix", value: "/" } }],
    filters: null,
    backends: [{ endpoint, connector: { name: "datum-connect-7xk2p" }, filters: null }],
  };
}

const httpProxyCreate = {
  apiVersion: "networking.datumapis.com/v1alpha",
  kind: "HTTPProxy",
  metadata: { generateName: "tunnel-", annotations: { "app.kubernetes.io/name": "my-dev" } },
  spec: { hostnames: null, rules: [redirectRule, backendRule("http://127.0.0.1:8080")] },
};

const httpProxyUpdatePatch = {
  metadata: { annotations: { "app.kubernetes.io/name": "renamed" } },
  spec: { hostnames: [], rules: [redirectRule, backendRule("http://127.0.0.1:9090")] },
};

const trafficProtectionPolicy = {
  apiVersion: "networking.datumapis.com/v1alpha",
  kind: "TrafficProtectionPolicy",
  metadata: { name: "tunnel-abcde" },
  spec: {
    targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "tunnel-abcde", sectionName: null }],
    mode: "Enforce",
    samplingPercentage: null,
    ruleSets: [{ type: "OWASPCoreRuleSet", owaspCoreRuleSet: { paranoiaLevels: { blocking: 1, detection: 1 }, scoreThresholds: null, ruleExclusions: null } }],
  },
};

/** A stored Connector (as the platform returns it) with the agent's status patch applied. */
const connectorAfterStatusPatch = applyMergePatch(
  {
    ...connectorCreate,
    metadata: { name: "datum-connect-7xk2p", namespace: "default", uid: "u", generation: 1, finalizers: ["networking.datumapis.com/iroh-dns-cleanup"] },
    spec: { connectorClassName: "datum-connect" },
    status: { leaseRef: { name: "datum-connect-7xk2p" } },
  },
  connectorStatusPatch,
) as JsonObject;

const httpProxyAfterUpdate = applyMergePatch(
  { ...httpProxyCreate, metadata: { name: "tunnel-abcde", namespace: "default", generation: 1 } } as unknown as Json,
  httpProxyUpdatePatch as unknown as Json,
) as JsonObject;

const samples: Array<[string, KindName, Record<string, unknown>]> = [
  ["Connector create body (B.3)", "Connector", connectorCreate],
  ["Connector after the agent's status patch (B.3)", "Connector", connectorAfterStatusPatch],
  ["ConnectorAdvertisement (B.4)", "ConnectorAdvertisement", advertisement],
  ["HTTPProxy create body with redirect + backend rules (B.5)", "HTTPProxy", httpProxyCreate],
  ["HTTPProxy after the update patch (C.4)", "HTTPProxy", httpProxyAfterUpdate],
  ["TrafficProtectionPolicy (B.7)", "TrafficProtectionPolicy", trafficProtectionPolicy],
  // Objects no tunnel agent wrote, which our reads must accept as the platform does.
  ["HTTPProxy with an instance backend", "HTTPProxy", { ...httpProxyCreate, spec: { rules: [{ backends: [{ instance: { name: "pod-slice", port: 8080 } }] }] } }],
  ["HTTPProxy with a redirect-only rule and an FQDN backend", "HTTPProxy", { ...httpProxyCreate, spec: { rules: [redirectRule, { backends: [{ endpoint: "https://api.example.com" }] }] } }],
  [
    "ConnectorAdvertisement of several services, UDP and a DNS name",
    "ConnectorAdvertisement",
    { ...advertisement, spec: { ...advertisement.spec, layer4: [{ name: "db", services: [{ address: "db.internal", ports: [{ name: "dns", port: 53, protocol: "UDP" }] }, { address: "10.0.0.5", ports: [{ name: "pg", port: 5432, protocol: "TCP" }] }] }] } },
  ],
  ["ConnectorAdvertisement without layer4", "ConnectorAdvertisement", { ...advertisement, spec: { connectorRef: advertisement.spec.connectorRef } }],
  ["Connector of another class with capabilities", "Connector", { ...connectorCreate, spec: { connectorClassName: "vendor-class", capabilities: [{ type: "ConnectTCP" }] } }],
];

describe.skipIf(!haveCrds)("CRD conformance", () => {
  test("every kind we model has a CRD (Lease is core Kubernetes)", () => {
    for (const kind of ["Connector", "ConnectorAdvertisement", "ConnectorClass", "HTTPProxy", "TrafficProtectionPolicy"] as const) {
      const rt = resourceOf(kind);
      expect(schemas.has(`${rt.apiVersion}/${rt.kind}`)).toBe(true);
    }
  });

  test.each(samples)("%s: the CRD accepts it, drops no field, and so do the client's schema and the local Datum", (_name, kind, sample) => {
    const verdict = validateAgainst(crdFor(sample), sample);
    expect(verdict.errors).toEqual([]);
    expect(verdict.pruned).toEqual([]);
    const ours = v.safeParse(SchemaOf[kind], sample);
    expect(ours.success ? [] : v.summarize(ours.issues)).toEqual([]);
    const local = conformToSchema(kind, sample as JsonObject);
    expect(local.violations).toEqual([]);
    expect(local.pruned).toEqual([]);
    expect(local.value).toEqual(verdict.value as Json);
  });

  test("the validator does prune nulls and apply defaults like the API server", () => {
    const verdict = validateAgainst(crdFor(httpProxyCreate), httpProxyCreate);
    const spec = (verdict.value as { spec: { hostnames?: unknown; rules: Array<Record<string, unknown>> } }).spec;
    expect(spec.hostnames).toBeUndefined();
    expect(spec.rules[0]?.name).toBeUndefined();
    const tpp = validateAgainst(crdFor(trafficProtectionPolicy), { ...trafficProtectionPolicy, spec: { targetRefs: trafficProtectionPolicy.spec.targetRefs } });
    expect(tpp.errors).toEqual([]);
    expect((tpp.value as { spec: { mode: string; ruleSets: unknown[] } }).spec.mode).toBe("Observe");
  });

  test("the validator reports unknown fields and evaluates isIP / isURL", () => {
    const verdict = validateAgainst(crdFor(advertisement), { ...advertisement, spec: { ...advertisement.spec, bogus: 1 } });
    expect(verdict.pruned).toEqual(["spec.bogus"]);
    expect(celIsIP("10.0.0.1")).toBe(true);
    expect(celIsIP("fe80::1")).toBe(true);
    expect(celIsIP("::ffff:10.0.0.1")).toBe(false);
    expect(celIsIP("::ffff:a00:1")).toBe(false);
    expect(celIsIP("fe80::1%eth0")).toBe(false);
    expect(celIsURL("https://relay.example./")).toBe(true);
    expect(celIsURL("/absolute/path")).toBe(true);
    expect(celIsURL("relay.example")).toBe(false);
    expect(celIsURL("https://a:b:c/")).toBe(false);
  });

  // What the CRD rejects, our schema must reject too, so a bad write fails in the agent's own
  // validation or in the local Datum before it meets the platform.
  const withAddress = (address: Record<string, unknown>) =>
    applyMergePatch(connectorAfterStatusPatch, {
      status: { connectionDetails: { publicKey: { addresses: [address as JsonObject] } } },
    }) as Record<string, unknown>;
  const withPublicKey = (publicKey: JsonObject) =>
    applyMergePatch(connectorAfterStatusPatch, { status: { connectionDetails: { publicKey } } }) as Record<string, unknown>;

  const bad: Array<[string, KindName, Record<string, unknown>]> = [
    ["address is not an IP", "Connector", withAddress({ address: "not-an-ip", port: 1 })],
    ["address has an IPv6 zone", "Connector", withAddress({ address: "fe80::1%eth0", port: 1 })],
    ["address is IPv4-mapped IPv6", "Connector", withAddress({ address: "::ffff:192.168.1.20", port: 1 })],
    ["address octet out of range", "Connector", withAddress({ address: "999.1.1.1", port: 1 })],
    ["port 0", "Connector", withAddress({ address: "127.0.0.1", port: 0 })],
    ["port 65536", "Connector", withAddress({ address: "127.0.0.1", port: 65536 })],
    ["homeRelay is not a URL", "Connector", withPublicKey({ homeRelay: "iroh-relay.example" })],
    ["more than 16 addresses", "Connector", withPublicKey({ addresses: Array.from({ length: 17 }, (_, i) => ({ address: "10.0.0.1", port: i + 1 })) })],
    ["discoveryMode outside the enum", "Connector", withPublicKey({ discoveryMode: "PKARR" })],
    ["connectionDetails type outside the enum", "Connector", applyMergePatch(connectorAfterStatusPatch, { status: { connectionDetails: { type: "Other" } } }) as Record<string, unknown>],
    ["empty connectorClassName", "Connector", { ...connectorCreate, spec: { connectorClassName: "" } }],
    ["no spec", "Connector", { apiVersion: connectorCreate.apiVersion, kind: "Connector", metadata: {} }],
    ["HTTPProxy without rules", "HTTPProxy", { ...httpProxyCreate, spec: { rules: [] } }],
    [
      "HTTPProxy rule with two backends",
      "HTTPProxy",
      { ...httpProxyCreate, spec: { rules: [{ backends: [{ endpoint: "http://127.0.0.1:1" }, { endpoint: "http://127.0.0.1:2" }] }] } },
    ],
    ["advertised port 0", "ConnectorAdvertisement", applyMergePatch(advertisement as unknown as Json, { spec: { layer4: [{ name: "default", services: [{ address: "127.0.0.1", ports: [{ name: "tcp-0", port: 0, protocol: "TCP" }] }] }] } }) as Record<string, unknown>],
    ["advertisement without services", "ConnectorAdvertisement", applyMergePatch(advertisement as unknown as Json, { spec: { layer4: [{ name: "default", services: [] }] } }) as Record<string, unknown>],
    ["advertisement without connectorRef", "ConnectorAdvertisement", { ...advertisement, spec: {} }],
    ["TrafficProtectionPolicy without targetRefs", "TrafficProtectionPolicy", { ...trafficProtectionPolicy, spec: { ...trafficProtectionPolicy.spec, targetRefs: [] } }],
  ];

  test.each(bad)("%s: rejected by the CRD, by the client's schema and by the local Datum", (_name, kind, sample) => {
    expect(validateAgainst(crdFor(sample), sample).errors.length).toBeGreaterThan(0);
    expect(v.safeParse(SchemaOf[kind], sample).success).toBe(false);
    expect(conformToSchema(kind, sample as JsonObject).violations.length).toBeGreaterThan(0);
  });

  // The CRD's CEL rule on a backend, which the validator here does not evaluate: checked against its text.
  test.each<[string, Record<string, unknown>]>([
    ["neither endpoint nor instance", { connector: { name: "c" } }],
    ["instance and endpoint", { endpoint: "http://127.0.0.1:1", instance: { name: "p", port: 1 } }],
    ["instance and connector", { connector: { name: "c" }, instance: { name: "p", port: 1 } }],
  ])("backend with %s: the CRD's rule forbids it, and so does our schema", (_name, backend) => {
    const rules = crdFor(httpProxyCreate).properties?.spec?.properties?.rules?.items?.properties?.backends?.items?.["x-kubernetes-validations"];
    expect(rules?.map((r) => r.message)).toContain("endpoint is required unless instance is set, and instance is mutually exclusive with endpoint and connector");
    expect(v.safeParse(SchemaOf.HTTPProxy, { ...httpProxyCreate, spec: { rules: [{ backends: [backend] }] } }).success).toBe(false);
  });

  test("objects the local Datum stores conform to the CRDs", async () => {
    const cloud = new DevCloud({ config: { leaseExpiryJitter: 0 } });
    const controllers = startControllers(cloud);
    try {
      const store = cloud.project("p-crd");
      const connector = store.create(resourceOf("Connector"), connectorCreate as unknown as Json);
      const name = (connector.metadata as JsonObject).name as string;
      store.patch(resourceOf("Connector"), name, connectorStatusPatch as unknown as Json, { subresource: "status" });
      store.create(resourceOf("HTTPProxy"), {
        ...httpProxyCreate,
        spec: { rules: [redirectRule, { ...backendRule("http://127.0.0.1:8080"), backends: [{ endpoint: "http://127.0.0.1:8080", connector: { name } }] }] },
      } as unknown as Json);
      store.create(resourceOf("ConnectorAdvertisement"), { ...advertisement, spec: { ...advertisement.spec, connectorRef: { name } } } as unknown as Json);
      store.create(resourceOf("TrafficProtectionPolicy"), trafficProtectionPolicy as unknown as Json);
      await waitForConditions(cloud, name);
      const kinds = ["Connector", "HTTPProxy", "ConnectorAdvertisement", "ConnectorClass", "TrafficProtectionPolicy"] as const;
      let checked = 0;
      for (const kind of kinds) {
        for (const obj of store.list(resourceOf(kind))) {
          const verdict = validateAgainst(crdFor(obj), obj);
          expect({ kind, errors: verdict.errors, pruned: verdict.pruned }).toEqual({ kind, errors: [], pruned: [] });
          checked++;
        }
      }
      expect(checked).toBe(5);
    } finally {
      controllers.stop();
    }
  });
});

// ---------- the local Datum's schemas, field for field against the CRDs ----------

type PlatformKind = Exclude<KindName, "Lease">;
const PLATFORM_KINDS: readonly PlatformKind[] = ["Connector", "ConnectorAdvertisement", "ConnectorClass", "HTTPProxy", "TrafficProtectionPolicy"];

/** A valid object of each kind to mutate: what the agent sends, or what the platform seeds. */
const BASES: Record<PlatformKind, Record<string, unknown>> = {
  Connector: connectorAfterStatusPatch,
  ConnectorAdvertisement: advertisement,
  ConnectorClass: {
    apiVersion: "networking.datumapis.com/v1alpha1",
    kind: "ConnectorClass",
    metadata: { name: "datum-connect" },
    spec: { controllerName: "networking.datumapis.com/datum-connect" },
  },
  HTTPProxy: httpProxyCreate,
  TrafficProtectionPolicy: trafficProtectionPolicy,
};

function rootSchemaOf(kind: PlatformKind): OpenApiSchema {
  const rt = resourceOf(kind);
  return crdFor({ apiVersion: rt.apiVersion, kind: rt.kind });
}

/** Every field path of a schema as `type` (with `[]` for items and `{}` for map values), metadata aside. */
function shapeOfCrd(schema: OpenApiSchema, path: string, out: Map<string, string>): Map<string, string> {
  out.set(path, schema.type ?? "any");
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (path === "" && key === "metadata") continue;
    shapeOfCrd(child, path ? `${path}.${key}` : key, out);
  }
  if (schema.items) shapeOfCrd(schema.items, `${path}[]`, out);
  if (isPlainObject(schema.additionalProperties)) shapeOfCrd(schema.additionalProperties, `${path}{}`, out);
  return out;
}

function shapeOfLocal(schema: LocalSchema, path: string, out: Map<string, string>): Map<string, string> {
  out.set(path, schema.type);
  if (schema.type === "object") {
    for (const [key, child] of Object.entries(schema.properties)) {
      if (path === "" && key === "metadata") continue;
      shapeOfLocal(child, path ? `${path}.${key}` : key, out);
    }
    if (schema.values) shapeOfLocal(schema.values, `${path}{}`, out);
  }
  if (schema.type === "array") shapeOfLocal(schema.items, `${path}[]`, out);
  return out;
}

/** How many CEL rules each path carries, and how many hand-written rules the local schema has there. */
function ruleCounts(schema: OpenApiSchema | LocalSchema, path: string, out: Map<string, number>, local: boolean): Map<string, number> {
  const count = local ? ((schema as LocalSchema).rules?.length ?? 0) : ((schema as OpenApiSchema)["x-kubernetes-validations"]?.length ?? 0);
  if (count > 0) out.set(path, count);
  const props = local ? ((schema as LocalSchema).type === "object" ? (schema as { properties: Record<string, LocalSchema> }).properties : {}) : ((schema as OpenApiSchema).properties ?? {});
  for (const [key, child] of Object.entries(props)) {
    if (path === "" && key === "metadata") continue;
    ruleCounts(child, path ? `${path}.${key}` : key, out, local);
  }
  const items = local ? ((schema as LocalSchema).type === "array" ? (schema as { items: LocalSchema }).items : undefined) : (schema as OpenApiSchema).items;
  if (items) ruleCounts(items, `${path}[]`, out, local);
  return out;
}

// ----- generating cases from the CRD -----

type Step = { key: string } | { index: number };

interface GeneratedCase {
  readonly label: string;
  readonly object: Record<string, unknown>;
}

/** The oracle's verdict on one value of one schema, alone (for picking sample values). */
function leafOk(schema: OpenApiSchema, value: unknown): boolean {
  return validateAgainst(schema, value).errors.length === 0;
}

const STRING_CANDIDATES = [
  "a",
  "a1",
  "app.example.com",
  "/",
  "/app",
  "GET",
  "Service",
  "X-Header",
  "1-2",
  "example.com/controller",
  "https://app.example.com",
  "10.0.0.1",
  "2026-07-01T12:00:00Z",
];

function sampleString(schema: OpenApiSchema): string {
  if (schema.enum) return String(schema.enum[0]);
  for (const candidate of STRING_CANDIDATES) if (leafOk(schema, candidate)) return candidate;
  const padded = "a".repeat(schema.minLength ?? 1);
  return padded;
}

function sampleInteger(schema: OpenApiSchema): number {
  if (schema.enum) return schema.enum[0] as number;
  let n = 1;
  if (schema.minimum !== undefined && n < schema.minimum) n = schema.minimum;
  if (schema.maximum !== undefined && n > schema.maximum) n = schema.maximum;
  return n;
}

/** A minimal value the schema accepts (required fields only, minimum list sizes). */
function sample(schema: OpenApiSchema): unknown {
  switch (schema.type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) {
        const child = schema.properties?.[key];
        if (child) out[key] = sample(child);
      }
      return out;
    }
    case "array":
      return distinctItems(schema, schema.minItems ?? 0);
    case "string":
      return sampleString(schema);
    case "integer":
    case "number":
      return sampleInteger(schema);
    case "boolean":
      return true;
    default:
      return "x";
  }
}

/** The i-th variant of a string value (for distinct list keys). */
function variantString(schema: OpenApiSchema, i: number): string {
  if (schema.enum) return String(schema.enum[i % schema.enum.length]);
  const base = sampleString(schema);
  for (const candidate of [`${base}${i}`, `${base}-${i}`, `a${i}`, `${i}${base}`]) if (leafOk(schema, candidate)) return candidate;
  return `${base}${i}`;
}

/** `n` items, distinct in their list-map keys (or as set members) where the list asks for that. */
function distinctItems(schema: OpenApiSchema, n: number): unknown[] {
  const items = schema.items ?? {};
  const listType = schema["x-kubernetes-list-type"];
  return Array.from({ length: n }, (_, i) => {
    if (listType === "set" && items.type === "string") return variantString(items, i);
    if (listType === "set" && (items.type === "integer" || items.type === "number")) return sampleInteger(items) + i;
    const item = sample(items);
    if (listType === "map" && isPlainObject(item)) {
      for (const key of schema["x-kubernetes-list-map-keys"] ?? []) {
        const keySchema = items.properties?.[key];
        if (keySchema?.type === "string") item[key] = variantString(keySchema, i);
      }
    }
    return item;
  });
}

/** Every field of the CRD with its path (`steps`) from the object root, metadata aside. */
function* fieldsOf(schema: OpenApiSchema, steps: Step[], label: string): Generator<{ schema: OpenApiSchema; steps: Step[]; label: string }> {
  yield { schema, steps, label };
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (steps.length === 0 && (key === "metadata" || key === "apiVersion" || key === "kind")) continue;
    yield* fieldsOf(child, [...steps, { key }], label ? `${label}.${key}` : key);
  }
  if (schema.items) yield* fieldsOf(schema.items, [...steps, { index: 0 }], `${label}[0]`);
}

/**
 * A copy of `base` where the field at `steps` exists (missing objects and list items on the way
 * are filled with samples), and a setter for it.
 */
function withField(base: Record<string, unknown>, root: OpenApiSchema, steps: Step[]): { object: Record<string, unknown>; set: (value: unknown) => void; get: () => unknown; remove: () => void } {
  const object = structuredClone(base);
  let container: Record<string, unknown> | unknown[] = object;
  let schema = root;
  steps.forEach((step, n) => {
    const last = n === steps.length - 1;
    if ("key" in step) {
      const child = schema.properties?.[step.key] as OpenApiSchema;
      const holder = container as Record<string, unknown>;
      const current = holder[step.key];
      const fits = child.type === "object" ? isPlainObject(current) : child.type === "array" ? Array.isArray(current) : current !== undefined && current !== null;
      if (!fits) holder[step.key] = sample(child);
      if (!last) container = holder[step.key] as Record<string, unknown> | unknown[];
      schema = child;
    } else {
      const list = container as unknown[];
      const child = schema.items as OpenApiSchema;
      if (list.length === 0 || list[0] === null || list[0] === undefined) list[0] = sample(child);
      if (!last) container = list[0] as Record<string, unknown> | unknown[];
      schema = child;
    }
  });
  const lastStep = steps[steps.length - 1] as Step;
  const key = "key" in lastStep ? lastStep.key : lastStep.index;
  const holder = container as Record<string | number, unknown>;
  return {
    object,
    set: (value) => {
      holder[key] = value;
    },
    get: () => holder[key],
    remove: () => {
      if (Array.isArray(holder)) holder.splice(key as number, 1);
      else delete holder[key];
    },
  };
}

function resized(text: string, length: number): string[] {
  if (length < 0) return [];
  const chars = [...text];
  if (chars.length >= length) return [chars.slice(0, length).join(""), chars.slice(chars.length - length).join("")];
  const pad = length - chars.length;
  return [text + "a".repeat(pad), "a".repeat(pad) + text, `/${"a".repeat(Math.max(0, length - 1))}`];
}

/** The values to try at one field: inside and outside each constraint, wrong types, null. */
function valuesFor(schema: OpenApiSchema, current: unknown): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [["null", null]];
  switch (schema.type) {
    case "string": {
      const s = typeof current === "string" ? current : sampleString(schema);
      out.push(["sample", s], ["a number", 42]);
      if (schema.minLength !== undefined) {
        for (const v of resized(s, schema.minLength)) out.push([`minLength ${schema.minLength}`, v]);
        for (const v of resized(s, schema.minLength - 1)) out.push([`minLength-1`, v]);
      }
      if (schema.maxLength !== undefined) {
        for (const v of resized(s, schema.maxLength)) out.push([`maxLength ${schema.maxLength}`, v]);
        for (const v of resized(s, schema.maxLength + 1)) out.push(["maxLength+1", v]);
      }
      if (schema.pattern !== undefined) {
        for (const v of ["", " ", "UPPER_case!", "-a-", "a..b", "*", "a/b", "1-", "99999999999-1"]) out.push([`pattern vs ${JSON.stringify(v)}`, v]);
      }
      for (const v of schema.enum ?? []) out.push([`enum ${String(v)}`, v]);
      if (schema.enum) out.push(["outside the enum", "Unlisted"]);
      if (schema.format === "date-time") out.push(["a date-time", "2026-07-01T12:00:00.123+02:00"], ["month 13", "2026-13-01T00:00:00Z"], ["not a time", "yesterday"]);
      break;
    }
    case "integer":
    case "number": {
      out.push(["a string", "7"], ["a fraction", 1.5], ["sample", sampleInteger(schema)]);
      if (schema.minimum !== undefined) out.push([`minimum ${schema.minimum}`, schema.minimum], ["minimum-1", schema.minimum - 1]);
      if (schema.maximum !== undefined) out.push([`maximum ${schema.maximum}`, schema.maximum], ["maximum+1", schema.maximum + 1]);
      for (const v of schema.enum ?? []) out.push([`enum ${String(v)}`, v]);
      if (schema.enum) out.push(["outside the enum", 999]);
      break;
    }
    case "boolean":
      out.push(["true", true], ["false", false], ["a string", "true"]);
      break;
    case "array": {
      out.push(["an object", {}], ["a string", "x"], ["empty", []], ["one item", distinctItems(schema, 1)]);
      if (schema.minItems !== undefined && schema.minItems > 0) out.push([`minItems ${schema.minItems}`, distinctItems(schema, schema.minItems)], ["minItems-1", distinctItems(schema, schema.minItems - 1)]);
      if (schema.maxItems !== undefined) out.push([`maxItems ${schema.maxItems}`, distinctItems(schema, schema.maxItems)], ["maxItems+1", distinctItems(schema, schema.maxItems + 1)]);
      const one = distinctItems(schema, 1)[0];
      out.push(["a repeated item", [one, structuredClone(one)]], ["a null item", [null]]);
      break;
    }
    case "object":
      out.push(["a string", "x"], ["a list", []], ["sample", sample(schema)]);
      break;
  }
  return out;
}

/** Every generated case for one kind: each field of the CRD, each value, plus removals and unknown fields. */
function generateCases(kind: PlatformKind): GeneratedCase[] {
  const root = rootSchemaOf(kind);
  const base = BASES[kind];
  const cases: GeneratedCase[] = [{ label: "the base object", object: structuredClone(base) }];
  for (const field of fieldsOf(root, [], "")) {
    if (field.steps.length === 0) continue;
    const probe = withField(base, root, field.steps);
    const current = probe.get();
    for (const [what, value] of valuesFor(field.schema, current)) {
      const made = withField(base, root, field.steps);
      made.set(structuredClone(value));
      cases.push({ label: `${field.label} = ${what}`, object: made.object });
    }
    const removed = withField(base, root, field.steps);
    removed.remove();
    cases.push({ label: `${field.label} removed`, object: removed.object });
    if (field.schema.type === "object") {
      const extended = withField(base, root, field.steps);
      const value = extended.get();
      if (isPlainObject(value)) value.zzUnknownField = { nested: 1 };
      cases.push({ label: `${field.label} with an unknown field`, object: extended.object });
      for (const key of field.schema.required ?? []) {
        const without = withField(base, root, field.steps);
        const holder = without.get();
        if (isPlainObject(holder)) delete holder[key];
        cases.push({ label: `${field.label} without required ${key}`, object: without.object });
      }
    }
  }
  return cases;
}

interface Comparison {
  label: string;
  crd: { fields: string[]; pruned: string[] };
  local: { fields: string[]; pruned: string[] };
}

function sortedUnique(items: string[]): string[] {
  return [...new Set(items)].sort();
}

describe.skipIf(!haveCrds)("the local Datum's validation against the CRDs", () => {
  test.each(PLATFORM_KINDS.map((k) => [k] as const))("%s: the local schema has exactly the CRD's fields and types", (kind) => {
    const crd = shapeOfCrd(rootSchemaOf(kind), "", new Map());
    const local = shapeOfLocal(PlatformSchemas[kind], "", new Map());
    crd.delete("apiVersion");
    crd.delete("kind");
    local.delete("apiVersion");
    local.delete("kind");
    expect(Object.fromEntries([...local].sort())).toEqual(Object.fromEntries([...crd].sort()));
  });

  test.each(PLATFORM_KINDS.map((k) => [k] as const))("%s: every CEL rule of the CRD has a hand-written counterpart at the same field", (kind) => {
    const crd = ruleCounts(rootSchemaOf(kind), "", new Map(), false);
    const local = ruleCounts(PlatformSchemas[kind], "", new Map(), true);
    expect(Object.fromEntries([...local].sort())).toEqual(Object.fromEntries([...crd].sort()));
  });

  test.each(PLATFORM_KINDS.map((k) => [k] as const))(
    "%s: generated cases are accepted, rejected (field by field), pruned and defaulted exactly as the CRD does",
    (kind) => {
      const cases = generateCases(kind);
      const mismatches: Comparison[] = [];
      let accepted = 0;
      let rejected = 0;
      for (const { label, object } of cases) {
        const oracle = validateAgainst(crdFor(object), object);
        const local = conformToSchema(kind, object as JsonObject);
        const crdSide = {
          fields: sortedUnique(oracle.fields.filter((f) => f.source === "schema").map((f) => f.field)),
          pruned: sortedUnique(oracle.pruned),
        };
        const localSide = {
          fields: sortedUnique(local.violations.filter((v) => v.source === "schema").map((v) => v.field)),
          pruned: sortedUnique(local.pruned),
        };
        if (JSON.stringify(crdSide) !== JSON.stringify(localSide)) mismatches.push({ label, crd: crdSide, local: localSide });
        // The rules the oracle does evaluate (isIP, isURL) must fail in the local Datum as well.
        for (const f of oracle.fields.filter((x) => x.source === "cel")) {
          if (!local.violations.some((v) => v.source === "rule" && v.field === f.field)) {
            mismatches.push({ label: `${label} (rule at ${f.field})`, crd: crdSide, local: localSide });
          }
        }
        if (crdSide.fields.length === 0) {
          accepted++;
          if (JSON.stringify(local.value) !== JSON.stringify(oracle.value) && !Bun.deepEquals(local.value, oracle.value)) {
            mismatches.push({ label: `${label} (stored value differs)`, crd: crdSide, local: localSide });
          }
        } else {
          rejected++;
        }
      }
      expect(mismatches.slice(0, 20)).toEqual([]);
      // A generator that produced nothing (or only failures, or no failures) would prove nothing.
      console.log(`${kind}: ${cases.length} generated cases, ${accepted} accepted, ${rejected} rejected, all as the CRD decides`);
      expect(accepted).toBeGreaterThan(cases.length / 10);
      expect(rejected).toBeGreaterThan(cases.length / 4);
    },
  );
});

// ---------- CEL rules: hand-written cases, messages held to the CRD's ----------

/** The CRD's validation rules at a concrete field path (`spec.rules[0].filters[1]`). */
function crdRulesAt(kind: PlatformKind, field: string): Array<{ rule: string; message?: string }> {
  let schema: OpenApiSchema | undefined = rootSchemaOf(kind);
  for (const token of field.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    schema = token.startsWith("[") ? schema?.items : schema?.properties?.[token];
  }
  return schema?.["x-kubernetes-validations"] ?? [];
}

const hpRules = (rules: unknown[]): Record<string, unknown> => ({ ...httpProxyCreate, spec: { rules } });
const toBackend = (extra: Record<string, unknown> = {}) => ({ endpoint: "http://127.0.0.1:8080", connector: { name: "c" }, ...extra });
const backendRuleWith = (extra: Record<string, unknown>) => ({ matches: [{ path: { type: "PathPrefix", value: "/" } }], backends: [toBackend()], ...extra });
const withFilter = (filter: Record<string, unknown>) => hpRules([{ filters: [filter], backends: [toBackend()] }]);
const svcRef = (extra: Record<string, unknown> = {}) => ({ name: "auth", ...extra });
const withMatchPath = (path: Record<string, unknown>) => hpRules([{ matches: [{ path }], backends: [toBackend()] }]);
const tpp = (spec: Record<string, unknown>) => ({ ...trafficProtectionPolicy, spec: { ...trafficProtectionPolicy.spec, ...spec } });
const owasp = (set: Record<string, unknown>) => tpp({ ruleSets: [{ type: "OWASPCoreRuleSet", owaspCoreRuleSet: set }] });
const prefixRedirect = { type: "RequestRedirect", requestRedirect: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/x" } } };
const prefixRewrite = { type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/x" } } };
const twoMatches = [{ path: { type: "PathPrefix", value: "/a" } }, { path: { type: "PathPrefix", value: "/b" } }];

/** Filter fields and the type each belongs to, for the "set exactly the matching field" rules. */
const FILTER_FIELDS: Array<[string, string, unknown]> = [
  ["cors", "CORS", { allowOrigins: ["https://app.example.com"] }],
  ["requestHeaderModifier", "RequestHeaderModifier", { set: [{ name: "X-A", value: "1" }] }],
  ["responseHeaderModifier", "ResponseHeaderModifier", { set: [{ name: "X-A", value: "1" }] }],
  ["requestMirror", "RequestMirror", { backendRef: svcRef({ port: 80 }) }],
  ["requestRedirect", "RequestRedirect", { scheme: "https" }],
  ["urlRewrite", "URLRewrite", { hostname: "app.example.com" }],
  ["extensionRef", "ExtensionRef", { group: "example.com", kind: "Thing", name: "t" }],
];

/** [label, kind, object, the rule that must fail (field and its index among the CRD's rules there), or null when none may]. */
type CelCase = [string, PlatformKind, Record<string, unknown>, { field: string; rule: number } | null];

const celCases: CelCase[] = [
  // HTTPProxy: the rule list
  ["rule names repeated", "HTTPProxy", hpRules([backendRuleWith({ name: "a" }), backendRuleWith({ name: "a" })]), { field: "spec.rules", rule: 0 }],
  ["rule names distinct", "HTTPProxy", hpRules([backendRuleWith({ name: "a" }), backendRuleWith({ name: "b" })]), null],
  ["129 matches across rules", "HTTPProxy", hpRules([64, 64, 1].map((n) => backendRuleWith({ matches: Array.from({ length: n }, () => ({ path: { type: "PathPrefix", value: "/" } })) }))), { field: "spec.rules", rule: 1 }],
  ["128 matches across rules", "HTTPProxy", hpRules([64, 64].map((n) => backendRuleWith({ matches: Array.from({ length: n }, () => ({ path: { type: "PathPrefix", value: "/" } })) }))), null],
  // HTTPProxy: one rule
  ["redirect together with a backend", "HTTPProxy", hpRules([backendRuleWith({ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https" } }] })]), { field: "spec.rules[0]", rule: 0 }],
  ["redirect replacing the prefix of two matches", "HTTPProxy", hpRules([{ matches: twoMatches, filters: [prefixRedirect] }]), { field: "spec.rules[0]", rule: 1 }],
  ["redirect replacing the prefix of one PathPrefix match", "HTTPProxy", hpRules([{ matches: [{ path: { type: "PathPrefix", value: "/a" } }], filters: [prefixRedirect] }]), null],
  ["rewrite replacing the prefix of an Exact match", "HTTPProxy", hpRules([backendRuleWith({ matches: [{ path: { type: "Exact", value: "/a" } }], filters: [prefixRewrite] })]), { field: "spec.rules[0]", rule: 2 }],
  ["a backend's redirect replacing the prefix of two matches", "HTTPProxy", hpRules([{ matches: twoMatches, backends: [toBackend({ filters: [prefixRedirect] })] }]), { field: "spec.rules[0]", rule: 3 }],
  ["a backend's rewrite replacing the prefix of two matches", "HTTPProxy", hpRules([{ matches: twoMatches, backends: [toBackend({ filters: [prefixRewrite] })] }]), { field: "spec.rules[0]", rule: 4 }],
  ["a backend's rewrite replacing the prefix of one match", "HTTPProxy", hpRules([{ matches: [{ path: { type: "PathPrefix", value: "/a" } }], backends: [toBackend({ filters: [prefixRewrite] })] }]), null],
  // HTTPProxy: a backend
  ["backend with instance and endpoint", "HTTPProxy", hpRules([{ backends: [{ endpoint: "http://a.example:1", instance: { name: "vm", port: 80 } }] }]), { field: "spec.rules[0].backends[0]", rule: 0 }],
  ["backend with neither instance nor endpoint", "HTTPProxy", hpRules([{ backends: [{ connector: { name: "c" } }] }]), { field: "spec.rules[0].backends[0]", rule: 0 }],
  ["backend with an instance only", "HTTPProxy", hpRules([{ backends: [{ instance: { name: "vm", port: 80 } }] }]), null],
  // HTTPProxy: filter lists (rule and backend filters share them)
  ["redirect and rewrite together", "HTTPProxy", hpRules([{ filters: [{ type: "RequestRedirect", requestRedirect: {} }, { type: "URLRewrite", urlRewrite: {} }] }]), { field: "spec.rules[0].filters", rule: 0 }],
  ...(["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite"] as const).map(
    (type, i): CelCase => {
      const field = FILTER_FIELDS.find(([, t]) => t === type) as [string, string, unknown];
      const filter = { type, [field[0]]: field[2] };
      const rules = type === "RequestRedirect" ? [{ filters: [filter, filter] }] : [{ backends: [toBackend({ filters: [filter, filter] })] }];
      return [`${type} twice`, "HTTPProxy", hpRules(rules), { field: type === "RequestRedirect" ? "spec.rules[0].filters" : "spec.rules[0].backends[0].filters", rule: i + 1 }];
    },
  ),
  ...FILTER_FIELDS.flatMap(([field, type, value], i): CelCase[] => {
    const other = type === "CORS" ? "RequestHeaderModifier" : "CORS";
    return [
      [`${type} filter without ${field}`, "HTTPProxy", hpRules([{ filters: [{ type }], ...(type === "RequestRedirect" ? {} : { backends: [toBackend()] }) }]), { field: "spec.rules[0].filters[0]", rule: 2 * i + 1 }],
      [`${field} on a ${other} filter`, "HTTPProxy", withFilter({ type: other, [field]: value, [other === "CORS" ? "cors" : "requestHeaderModifier"]: {} }), { field: "spec.rules[0].filters[0]", rule: 2 * i }],
      [`${type} filter with ${field}`, "HTTPProxy", hpRules([{ filters: [{ type, [field]: value }], ...(type === "RequestRedirect" ? {} : { backends: [toBackend()] }) }]), null],
    ];
  }),
  ["allowOrigins * with another", "HTTPProxy", withFilter({ type: "CORS", cors: { allowOrigins: ["*", "https://a.example"] } }), { field: "spec.rules[0].filters[0].cors.allowOrigins", rule: 0 }],
  ["allowMethods * with another", "HTTPProxy", withFilter({ type: "CORS", cors: { allowMethods: ["*", "GET"] } }), { field: "spec.rules[0].filters[0].cors.allowMethods", rule: 0 }],
  ["allowHeaders * with another", "HTTPProxy", withFilter({ type: "CORS", cors: { allowHeaders: ["*", "X-A"] } }), { field: "spec.rules[0].filters[0].cors.allowHeaders", rule: 0 }],
  ["allowOrigins * alone", "HTTPProxy", withFilter({ type: "CORS", cors: { allowOrigins: ["*"], allowMethods: ["*"], allowHeaders: ["*"] } }), null],
  ["externalAuth GRPC without grpc", "HTTPProxy", withFilter({ type: "CORS", cors: {}, externalAuth: { protocol: "GRPC", backendRef: svcRef({ port: 1 }) } }), { field: "spec.rules[0].filters[0].externalAuth", rule: 0 }],
  ["externalAuth grpc with HTTP", "HTTPProxy", withFilter({ type: "CORS", cors: {}, externalAuth: { protocol: "HTTP", http: {}, grpc: {}, backendRef: svcRef({ port: 1 }) } }), { field: "spec.rules[0].filters[0].externalAuth", rule: 1 }],
  ["externalAuth HTTP without http", "HTTPProxy", withFilter({ type: "CORS", cors: {}, externalAuth: { protocol: "HTTP", backendRef: svcRef({ port: 1 }) } }), { field: "spec.rules[0].filters[0].externalAuth", rule: 2 }],
  ["externalAuth http with GRPC", "HTTPProxy", withFilter({ type: "CORS", cors: {}, externalAuth: { protocol: "GRPC", grpc: {}, http: {}, backendRef: svcRef({ port: 1 }) } }), { field: "spec.rules[0].filters[0].externalAuth", rule: 3 }],
  ["externalAuth HTTP with http", "HTTPProxy", withFilter({ type: "CORS", cors: {}, externalAuth: { protocol: "HTTP", http: { path: "/auth" }, backendRef: svcRef({ port: 1 }) } }), null],
  ["an external auth Service reference without a port", "HTTPProxy", withFilter({ type: "CORS", cors: {}, externalAuth: { protocol: "HTTP", http: {}, backendRef: svcRef() } }), { field: "spec.rules[0].filters[0].externalAuth.backendRef", rule: 0 }],
  ["a Service reference without a port", "HTTPProxy", withFilter({ type: "RequestMirror", requestMirror: { backendRef: svcRef() } }), { field: "spec.rules[0].filters[0].requestMirror.backendRef", rule: 0 }],
  ["another kind's reference without a port", "HTTPProxy", withFilter({ type: "RequestMirror", requestMirror: { backendRef: svcRef({ group: "example.com", kind: "Thing" }) } }), null],
  ["mirror with percent and fraction", "HTTPProxy", withFilter({ type: "RequestMirror", requestMirror: { backendRef: svcRef({ port: 1 }), percent: 5, fraction: { numerator: 1 } } }), { field: "spec.rules[0].filters[0].requestMirror", rule: 0 }],
  ["mirror fraction above one", "HTTPProxy", withFilter({ type: "RequestMirror", requestMirror: { backendRef: svcRef({ port: 1 }), fraction: { numerator: 5, denominator: 2 } } }), { field: "spec.rules[0].filters[0].requestMirror.fraction", rule: 0 }],
  ["mirror fraction with the default denominator", "HTTPProxy", withFilter({ type: "RequestMirror", requestMirror: { backendRef: svcRef({ port: 1 }), fraction: { numerator: 100 } } }), null],
  ...(["requestRedirect", "urlRewrite"] as const).flatMap((field): CelCase[] => {
    const type = field === "requestRedirect" ? "RequestRedirect" : "URLRewrite";
    const at = `spec.rules[0].filters[0].${field}.path`;
    const make = (path: Record<string, unknown>) => hpRules([{ filters: [{ type, [field]: { path } }], ...(field === "urlRewrite" ? { backends: [toBackend()] } : {}) }]);
    return [
      [`${field} ReplaceFullPath without replaceFullPath`, "HTTPProxy", make({ type: "ReplaceFullPath" }), { field: at, rule: 0 }],
      [`${field} replaceFullPath with another type`, "HTTPProxy", make({ type: "ReplacePrefixMatch", replacePrefixMatch: "/", replaceFullPath: "/x" }), { field: at, rule: 1 }],
      [`${field} ReplacePrefixMatch without replacePrefixMatch`, "HTTPProxy", make({ type: "ReplacePrefixMatch" }), { field: at, rule: 2 }],
      [`${field} replacePrefixMatch with another type`, "HTTPProxy", make({ type: "ReplaceFullPath", replaceFullPath: "/", replacePrefixMatch: "/x" }), { field: at, rule: 3 }],
      [`${field} ReplaceFullPath with replaceFullPath`, "HTTPProxy", make({ type: "ReplaceFullPath", replaceFullPath: "/x" }), null],
    ];
  }),
  // HTTPProxy: path matches
  ...(
    [
      ["app", 0],
      ["/a//b", 1],
      ["/a/./b", 2],
      ["/a/../b", 3],
      ["/a%2fb", 4],
      ["/a%2Fb", 5],
      ["/a#b", 6],
      ["/a/..", 7],
      ["/a/.", 8],
      ["/a b", 10],
    ] as const
  ).map(([value, rule]): CelCase => [`path ${JSON.stringify(value)}`, "HTTPProxy", withMatchPath({ type: "PathPrefix", value }), { field: "spec.rules[0].matches[0].path", rule }]),
  ["a regular expression path is not a path", "HTTPProxy", withMatchPath({ type: "RegularExpression", value: "^app.*" }), null],
  ["an exact path", "HTTPProxy", withMatchPath({ type: "Exact", value: "/app/v1" }), null],
  // HTTPProxy status
  ["a Hostname address that is not a hostname", "HTTPProxy", { ...httpProxyCreate, status: { addresses: [{ type: "Hostname", value: "Bad_Host" }] } }, { field: "status.addresses[0]", rule: 0 }],
  ["an IPAddress address", "HTTPProxy", { ...httpProxyCreate, status: { addresses: [{ type: "IPAddress", value: "Bad_Host" }] } }, null],
  // Connector
  ["PublicKey details without a publicKey", "Connector", applyMergePatch(connectorAfterStatusPatch, { status: { connectionDetails: { publicKey: null } } }) as Record<string, unknown>, { field: "status.connectionDetails", rule: 1 }],
  ["a publicKey with another type", "Connector", applyMergePatch(connectorAfterStatusPatch, { status: { connectionDetails: { type: "Other" } } }) as Record<string, unknown>, { field: "status.connectionDetails", rule: 0 }],
  ["an address that is not an IP", "Connector", applyMergePatch(connectorAfterStatusPatch, { status: { connectionDetails: { publicKey: { addresses: [{ address: "host.example", port: 1 }] } } } }) as Record<string, unknown>, { field: "status.connectionDetails.publicKey.addresses[0].address", rule: 0 }],
  ["a relay that is not a URL", "Connector", applyMergePatch(connectorAfterStatusPatch, { status: { connectionDetails: { publicKey: { homeRelay: "relay.example" } } } }) as Record<string, unknown>, { field: "status.connectionDetails.publicKey.homeRelay", rule: 0 }],
  // TrafficProtectionPolicy
  ["a target outside the gateway group", "TrafficProtectionPolicy", tpp({ targetRefs: [{ group: "example.com", kind: "Gateway", name: "g" }] }), { field: "spec", rule: 0 }],
  ["a target of another kind", "TrafficProtectionPolicy", tpp({ targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Service", name: "g" }] }), { field: "spec", rule: 1 }],
  ["an HTTPRoute target", "TrafficProtectionPolicy", tpp({ targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "r" }] }), null],
  ["the core rule set twice", "TrafficProtectionPolicy", tpp({ ruleSets: [{ type: "OWASPCoreRuleSet" }, { type: "OWASPCoreRuleSet" }] }), { field: "spec.ruleSets", rule: 0 }],
  ["detection below blocking", "TrafficProtectionPolicy", owasp({ paranoiaLevels: { blocking: 2, detection: 1 } }), { field: "spec.ruleSets[0].owaspCoreRuleSet.paranoiaLevels", rule: 0 }],
  ["blocking defaulted below detection", "TrafficProtectionPolicy", owasp({ paranoiaLevels: { detection: 3 } }), null],
  ["an id range upside down", "TrafficProtectionPolicy", owasp({ ruleExclusions: { idRanges: ["950000-942100"] } }), { field: "spec.ruleSets[0].owaspCoreRuleSet.ruleExclusions.idRanges[0]", rule: 0 }],
  ["an id range", "TrafficProtectionPolicy", owasp({ ruleExclusions: { idRanges: ["942100-942999"] } }), null],
];

describe.skipIf(!haveCrds)("the local Datum's CEL rules (hand-written cases)", () => {
  test.each(celCases)("%s", (_label, kind, object, expected) => {
    const ruleViolations = conformToSchema(kind, object as JsonObject).violations.filter((v) => v.source === "rule");
    if (expected === null) {
      expect(ruleViolations).toEqual([]);
      return;
    }
    const crdRule = crdRulesAt(kind, expected.field)[expected.rule];
    expect(crdRule).toBeDefined();
    const typeName = expected.field === "spec.rules" || expected.field.endsWith("filters") || expected.field.endsWith("allowOrigins") || expected.field.endsWith("allowMethods") || expected.field.endsWith("allowHeaders") || expected.field === "spec.ruleSets"
      ? "array"
      : /address$|homeRelay$|idRanges\[0\]$/.test(expected.field)
        ? "string"
        : "object";
    expect(ruleViolations.map((v) => [v.field, v.message])).toContainEqual([expected.field, `Invalid value: "${typeName}": ${crdRule?.message}`]);
  });

  test("every CEL rule of the CRDs is exercised by a failing case above", () => {
    // Backend filters carry the same rules as a rule's filters: one case covers both.
    const generic = (path: string) => path.replace(/\[\d+\]/g, "[]").replace(".backends[].filters", ".filters");
    const hit = new Set(celCases.filter(([, , , e]) => e !== null).map(([, kind, , e]) => `${kind} ${generic(e?.field ?? "")} #${e?.rule}`));
    const all: string[] = [];
    for (const kind of PLATFORM_KINDS) {
      for (const [path, count] of ruleCounts(rootSchemaOf(kind), "", new Map(), false)) {
        for (let i = 0; i < count; i++) all.push(`${kind} ${path} #${i}`);
      }
    }
    // "type must be one of" cannot fail where the enum already holds the type to its values.
    const missing = all.filter((r) => !hit.has(generic(r)) && r !== "HTTPProxy spec.rules[].matches[].path #9");
    expect(missing).toEqual([]);
  });
});

/** Bounded wait until the controllers wrote the Connector's and the HTTPProxy's conditions. */
async function waitForConditions(cloud: DevCloud, connectorName: string): Promise<void> {
  const store = cloud.project("p-crd");
  for (let i = 0; i < 150; i++) {
    const connector = store.find(resourceOf("Connector"), connectorName);
    const proxy = store.list(resourceOf("HTTPProxy"))[0];
    const types = (obj: JsonObject | undefined) =>
      ((obj?.status as JsonObject | undefined)?.conditions as JsonObject[] | undefined)?.map((c) => c.type) ?? [];
    if (types(connector).includes("IrohDNSPublished") && types(proxy).includes("CertificatesReady")) return;
    await Bun.sleep(20);
  }
  throw new Error("the controllers did not write conditions in time");
}
