/**
 * Holds our valibot schemas (src/controlplane/schemas.ts) and the local Datum's objects against the
 * platform's own CRDs (`shared/crds/`): a small structural OpenAPI v3 validator, written here,
 * checks the objects the agent sends and the objects the local Datum stores, and every bad case
 * the CRD rejects must be rejected by our schema too. Like the API server it prunes nulls of
 * non-nullable fields, applies defaults, and reports unknown fields (which it would drop). Of the
 * CEL rules only `isIP(self)` and `isURL(self)` are evaluated; the rest are ignored.
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
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-validations"?: Array<{ rule: string; message?: string }>;
}

interface Verdict {
  /** Validation errors: the API server would answer 422. */
  errors: string[];
  /** Unknown fields the API server would silently drop. */
  pruned: string[];
  /** The object after null pruning and defaulting. */
  value: unknown;
}

function validateAgainst(schema: OpenApiSchema, value: unknown): Verdict {
  const verdict: Verdict = { errors: [], pruned: [], value: undefined };
  verdict.value = check(schema, value, "", verdict, true);
  return verdict;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function check(schema: OpenApiSchema, value: unknown, path: string, verdict: Verdict, root = false): unknown {
  const at = path || "<root>";
  if (value === null) {
    if (!schema.nullable) verdict.errors.push(`${at}: must not be null`);
    return value;
  }
  switch (schema.type) {
    case "object": {
      if (!isPlainObject(value)) {
        verdict.errors.push(`${at}: expected object`);
        return value;
      }
      const out: Record<string, unknown> = {};
      const properties = schema.properties ?? {};
      for (const [key, item] of Object.entries(value)) {
        const child = properties[key];
        const childPath = path ? `${path}.${key}` : key;
        if (root && key === "metadata") {
          // ObjectMeta is validated by the API server itself, never pruned by the CRD schema.
          if (!isPlainObject(item)) verdict.errors.push("metadata: expected object");
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
        if (out[key] === undefined && child.default !== undefined) out[key] = structuredClone(child.default);
      }
      for (const key of schema.required ?? []) {
        if (out[key] === undefined) verdict.errors.push(`${path ? `${path}.` : ""}${key}: Required value`);
      }
      runRules(schema, out, at, verdict);
      return out;
    }
    case "array": {
      if (!Array.isArray(value)) {
        verdict.errors.push(`${at}: expected array`);
        return value;
      }
      if (schema.minItems !== undefined && value.length < schema.minItems) verdict.errors.push(`${at}: should have at least ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) verdict.errors.push(`${at}: must have at most ${schema.maxItems} items`);
      const out = schema.items ? value.map((item, i) => check(schema.items as OpenApiSchema, item, `${path}[${i}]`, verdict)) : value;
      runRules(schema, out, at, verdict);
      return out;
    }
    case "string": {
      if (typeof value !== "string") {
        verdict.errors.push(`${at}: expected string`);
        return value;
      }
      const length = [...value].length;
      if (schema.minLength !== undefined && length < schema.minLength) verdict.errors.push(`${at}: should be at least ${schema.minLength} chars long`);
      if (schema.maxLength !== undefined && length > schema.maxLength) verdict.errors.push(`${at}: may not be more than ${schema.maxLength} bytes`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) verdict.errors.push(`${at}: should match '${schema.pattern}'`);
      break;
    }
    case "integer":
    case "number": {
      if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value))) {
        verdict.errors.push(`${at}: expected ${schema.type}`);
        return value;
      }
      if (schema.minimum !== undefined && value < schema.minimum) verdict.errors.push(`${at}: should be greater than or equal to ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) verdict.errors.push(`${at}: should be less than or equal to ${schema.maximum}`);
      break;
    }
    case "boolean":
      if (typeof value !== "boolean") verdict.errors.push(`${at}: expected boolean`);
      break;
    default:
      break;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) verdict.errors.push(`${at}: Unsupported value: ${JSON.stringify(value)}`);
  runRules(schema, value, at, verdict);
  return value;
}

/** The two CEL rules that matter for what the agent writes; every other rule is not evaluated. */
function runRules(schema: OpenApiSchema, value: unknown, at: string, verdict: Verdict): void {
  for (const { rule, message } of schema["x-kubernetes-validations"] ?? []) {
    let ok = true;
    if (rule === "isIP(self)") ok = typeof value === "string" && celIsIP(value);
    else if (rule === "isURL(self)") ok = typeof value === "string" && celIsURL(value);
    if (!ok) verdict.errors.push(`${at}: ${message ?? rule}`);
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

const CRD_DIR = fileURLToPath(new URL("../../../../shared/crds/", import.meta.url));
const haveCrds = existsSync(CRD_DIR) && readdirSync(CRD_DIR).some((f) => f.endsWith(".yaml"));
if (!haveCrds) console.log(`skip: no CRDs at ${CRD_DIR} (shared/ must sit beside the repository); CRD conformance was not checked`);

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

// ---------- samples: exactly what the agent sends (upstream-runtime §B) ----------

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

  test.each(samples)("%s: the CRD accepts it, drops no field, and so does our schema", (_name, kind, sample) => {
    const verdict = validateAgainst(crdFor(sample), sample);
    expect(verdict.errors).toEqual([]);
    expect(verdict.pruned).toEqual([]);
    const ours = v.safeParse(SchemaOf[kind], sample);
    expect(ours.success ? [] : v.summarize(ours.issues)).toEqual([]);
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

  test.each(bad)("%s: rejected by the CRD and by our schema", (_name, kind, sample) => {
    expect(validateAgainst(crdFor(sample), sample).errors.length).toBeGreaterThan(0);
    expect(v.safeParse(SchemaOf[kind], sample).success).toBe(false);
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
