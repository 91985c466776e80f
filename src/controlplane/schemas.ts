/**
 * Our own valibot schemas for the control-plane objects (docs/wire-facts.md#kinds; held against the
 * platform's CRDs by test/unit/controlplane/crd-conformance.test.ts when they are present).
 *
 * Objects are `looseObject`s: the platform adds fields we do not model, and a merge-patch round trip
 * must never drop them. Constraints we rely on, or that the platform enforces on what we write
 * (ports, IP addresses, relay URLs, list sizes), are checked here too, so the local Datum validates
 * writes with exactly these schemas. `test/unit/controlplane/crd-conformance.test.ts` holds them
 * against the CRDs.
 *
 * They are no stricter than the CRDs: a project holds objects no tunnel agent wrote (HTTPProxies
 * with `instance` backends or redirect-only rules, other connector classes, any advertisement
 * shape), and reading one must never fail. Whether an object is one of
 * ours is decided elsewhere (`tunnel/objects.ts` `tunnelShape`).
 */
import { isIP } from "node:net";
import * as v from "valibot";

const Str = v.string();
const Int = v.pipe(v.number(), v.integer());

export const ConditionStatus = v.picklist(["True", "False", "Unknown"]);

export const Condition = v.looseObject({
  type: v.pipe(Str, v.minLength(1), v.maxLength(316)),
  status: ConditionStatus,
  reason: v.optional(v.pipe(Str, v.maxLength(1024))),
  message: v.optional(v.pipe(Str, v.maxLength(32768))),
  observedGeneration: v.optional(v.pipe(Int, v.minValue(0))),
  lastTransitionTime: v.optional(Str),
});
export type Condition = v.InferOutput<typeof Condition>;

export const OwnerReference = v.looseObject({
  apiVersion: Str,
  kind: Str,
  name: Str,
  uid: Str,
  controller: v.optional(v.boolean()),
  blockOwnerDeletion: v.optional(v.boolean()),
});

export const ObjectMeta = v.looseObject({
  name: v.optional(v.pipe(Str, v.maxLength(253))),
  generateName: v.optional(Str),
  namespace: v.optional(Str),
  uid: v.optional(Str),
  resourceVersion: v.optional(Str),
  generation: v.optional(Int),
  creationTimestamp: v.optional(Str),
  deletionTimestamp: v.optional(v.nullable(Str)),
  annotations: v.optional(v.nullable(v.record(Str, Str))),
  labels: v.optional(v.nullable(v.record(Str, Str))),
  finalizers: v.optional(v.nullable(v.array(Str))),
  ownerReferences: v.optional(v.nullable(v.array(OwnerReference))),
});
export type ObjectMeta = v.InferOutput<typeof ObjectMeta>;

const Conditions = v.optional(v.nullable(v.array(Condition)));

function typeMeta<const K extends string>(apiVersion: string, kind: K) {
  return {
    apiVersion: v.optional(v.literal(apiVersion)),
    kind: v.optional(v.literal(kind)),
    metadata: ObjectMeta,
  };
}

// ---------- Connector (networking.datumapis.com/v1alpha1) ----------

const isUrl = (s: string): boolean => URL.canParse(s);

/**
 * The CRD's CEL `isIP(self)` (k8s `library/ip.go`): a plain IPv4 or IPv6 address. Unlike
 * `net.isIP` it refuses an IPv6 zone (`fe80::1%eth0`, which iroh reports for link-local
 * addresses) and IPv4-mapped IPv6 (`::ffff:1.2.3.4`); either would fail the whole status patch.
 */
export function isCelIP(s: string): boolean {
  const family = isIP(s);
  if (family === 4) return true;
  if (family !== 6 || s.includes("%")) return false;
  // The URL parser renders IPv6 canonically, so every IPv4-mapped form reads `::ffff:x:y`.
  return !/^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(new URL(`http://[${s}]/`).hostname);
}

export const ConnectorAddress = v.looseObject({
  address: v.pipe(Str, v.maxLength(39), v.check(isCelIP, "Must be an IP address.")),
  port: v.pipe(Int, v.minValue(1), v.maxValue(65535)),
});

export const PublicKeyDetails = v.looseObject({
  id: v.optional(Str),
  discoveryMode: v.optional(v.picklist(["DNS"])),
  homeRelay: v.pipe(Str, v.check(isUrl, "Must be a URL.")),
  addresses: v.pipe(v.array(ConnectorAddress), v.maxLength(16)),
});
export type PublicKeyDetails = v.InferOutput<typeof PublicKeyDetails>;

export const ConnectionDetails = v.pipe(
  v.looseObject({
    type: v.picklist(["PublicKey"]),
    publicKey: v.optional(PublicKeyDetails),
  }),
  v.check((d) => d.publicKey !== undefined, "publicKey field must be specified if the type is PublicKey"),
);
export type ConnectionDetails = v.InferOutput<typeof ConnectionDetails>;

export const Connector = v.looseObject({
  ...typeMeta("networking.datumapis.com/v1alpha1", "Connector"),
  spec: v.looseObject({
    connectorClassName: v.pipe(Str, v.minLength(1)),
    capabilities: v.optional(v.nullable(v.pipe(v.array(v.looseObject({ type: Str })), v.maxLength(16)))),
  }),
  status: v.optional(
    v.looseObject({
      conditions: Conditions,
      connectionDetails: v.optional(v.nullable(ConnectionDetails)),
      leaseRef: v.optional(v.nullable(v.looseObject({ name: Str }))),
    }),
  ),
});
export type Connector = v.InferOutput<typeof Connector>;

// ---------- ConnectorAdvertisement (networking.datumapis.com/v1alpha1) ----------

export const AdvertisementPort = v.looseObject({
  name: Str,
  port: v.pipe(Int, v.minValue(1), v.maxValue(65535)),
  // The CRD defaults it to TCP and allows any string.
  protocol: Str,
});

export const AdvertisementSpec = v.looseObject({
  connectorRef: v.looseObject({ name: v.pipe(Str, v.minLength(1), v.maxLength(253)) }),
  layer4: v.optional(
    v.pipe(
      v.array(
        v.looseObject({
          name: Str,
          services: v.pipe(
            v.array(
              v.looseObject({
                address: v.pipe(Str, v.minLength(1), v.maxLength(253)),
                ports: v.pipe(v.array(AdvertisementPort), v.minLength(1), v.maxLength(16)),
              }),
            ),
            v.minLength(1),
            v.maxLength(16),
          ),
        }),
      ),
      v.maxLength(16),
    ),
  ),
});
export type AdvertisementSpec = v.InferOutput<typeof AdvertisementSpec>;

export const ConnectorAdvertisement = v.looseObject({
  ...typeMeta("networking.datumapis.com/v1alpha1", "ConnectorAdvertisement"),
  spec: AdvertisementSpec,
  status: v.optional(v.looseObject({ conditions: Conditions })),
});
export type ConnectorAdvertisement = v.InferOutput<typeof ConnectorAdvertisement>;

// ---------- ConnectorClass (cluster-scoped) ----------

export const ConnectorClass = v.looseObject({
  ...typeMeta("networking.datumapis.com/v1alpha1", "ConnectorClass"),
  spec: v.optional(v.looseObject({ controllerName: v.optional(Str) })),
});
export type ConnectorClass = v.InferOutput<typeof ConnectorClass>;

// ---------- HTTPProxy (networking.datumapis.com/v1alpha) ----------

const present = (value: unknown): boolean => value !== undefined && value !== null;

/** The CRD: "endpoint is required unless instance is set, and instance is mutually exclusive with endpoint and connector". */
export const HTTPProxyBackend = v.pipe(
  v.looseObject({
    endpoint: v.optional(v.nullable(v.pipe(Str, v.minLength(1)))),
    connector: v.optional(v.nullable(v.looseObject({ name: Str }))),
    instance: v.optional(v.nullable(v.looseObject({ name: Str, port: v.pipe(Int, v.minValue(1), v.maxValue(65535)) }))),
    filters: v.optional(v.nullable(v.array(v.looseObject({})))),
  }),
  v.check(
    (b) => (present(b.instance) ? !present(b.endpoint) && !present(b.connector) : present(b.endpoint)),
    "endpoint is required unless instance is set, and instance is mutually exclusive with endpoint and connector",
  ),
);

export const HTTPProxyRule = v.looseObject({
  name: v.optional(v.nullable(Str)),
  matches: v.optional(v.nullable(v.array(v.looseObject({})))),
  filters: v.optional(v.nullable(v.array(v.looseObject({ type: Str })))),
  backends: v.optional(v.nullable(v.pipe(v.array(HTTPProxyBackend), v.maxLength(1)))),
});
export type HTTPProxyRule = v.InferOutput<typeof HTTPProxyRule>;

export const HTTPProxySpec = v.looseObject({
  hostnames: v.optional(v.nullable(v.array(Str))),
  rules: v.pipe(v.array(HTTPProxyRule), v.minLength(1), v.maxLength(16)),
});
export type HTTPProxySpec = v.InferOutput<typeof HTTPProxySpec>;

export const HTTPProxy = v.looseObject({
  ...typeMeta("networking.datumapis.com/v1alpha", "HTTPProxy"),
  spec: HTTPProxySpec,
  status: v.optional(
    v.looseObject({
      hostnames: v.optional(v.nullable(v.array(Str))),
      conditions: Conditions,
    }),
  ),
});
export type HTTPProxy = v.InferOutput<typeof HTTPProxy>;

// ---------- TrafficProtectionPolicy (networking.datumapis.com/v1alpha) ----------

export const TrafficProtectionPolicy = v.looseObject({
  ...typeMeta("networking.datumapis.com/v1alpha", "TrafficProtectionPolicy"),
  spec: v.looseObject({
    targetRefs: v.pipe(v.array(v.looseObject({ group: Str, kind: Str, name: Str })), v.minLength(1)),
    mode: v.optional(v.picklist(["Observe", "Enforce", "Disabled"])),
    ruleSets: v.optional(v.array(v.looseObject({ type: Str }))),
  }),
});
export type TrafficProtectionPolicy = v.InferOutput<typeof TrafficProtectionPolicy>;

// ---------- Lease (coordination.k8s.io/v1) ----------

export const Lease = v.looseObject({
  ...typeMeta("coordination.k8s.io/v1", "Lease"),
  spec: v.optional(
    v.looseObject({
      holderIdentity: v.optional(v.nullable(Str)),
      leaseDurationSeconds: v.optional(v.nullable(Int)),
      renewTime: v.optional(v.nullable(Str)),
      acquireTime: v.optional(v.nullable(Str)),
    }),
  ),
});
export type Lease = v.InferOutput<typeof Lease>;

// ---------- Status and lists ----------

export const Status = v.looseObject({
  kind: v.literal("Status"),
  apiVersion: v.optional(Str),
  status: v.optional(Str),
  message: v.optional(Str),
  reason: v.optional(Str),
  code: v.optional(Int),
  details: v.optional(v.unknown()),
});
export type Status = v.InferOutput<typeof Status>;

export function listOf<T extends v.GenericSchema>(item: T) {
  return v.looseObject({
    apiVersion: v.optional(Str),
    kind: v.optional(Str),
    metadata: v.optional(v.looseObject({})),
    items: v.array(item),
  });
}

/** Schemas by kind name, for code that handles any kind (the local Datum's write validation). */
export const SchemaOf = {
  Connector,
  ConnectorAdvertisement,
  ConnectorClass,
  HTTPProxy,
  TrafficProtectionPolicy,
  Lease,
} as const;
