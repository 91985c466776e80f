/**
 * What the local Datum's API server knows about each kind beyond its path (`controlplane/kinds.ts`):
 * the schema that validates writes, the `/status` subresource, generation tracking, the fields a
 * `fieldSelector` may use, and the status the CRD defaults in (`shared/crds/`).
 */
import type * as v from "valibot";
import { type KindInfo, type KindName, Kinds, apiVersionOf } from "../controlplane/kinds.ts";
import { SchemaOf } from "../controlplane/schemas.ts";
import type { JsonObject } from "./json.ts";

export interface ResourceType extends KindInfo {
  readonly kindName: KindName;
  readonly singular: string;
  readonly listKind: string;
  readonly apiVersion: string;
  /** Writes to the main resource ignore `status`; `/status` writes change only `status`. */
  readonly statusSubresource: boolean;
  /** CRDs count spec changes in `metadata.generation`; core Leases carry no generation. */
  readonly tracksGeneration: boolean;
  /** Beyond `metadata.name` and `metadata.namespace`, which every kind allows. */
  readonly selectableFields: readonly string[];
  readonly schema: v.GenericSchema;
  /** The CRD's `status` default, applied when an object is stored without a status. */
  readonly defaultStatus?: () => JsonObject;
}

/** The CRDs default a `Pending` placeholder until a controller writes real conditions. */
function waitingFor(...types: string[]): () => JsonObject {
  return () => ({
    conditions: types.map((type) => ({
      lastTransitionTime: "1970-01-01T00:00:00Z",
      message: "Waiting for controller",
      reason: "Pending",
      status: "Unknown",
      type,
    })),
  });
}

function resource(kindName: KindName, extra: Omit<ResourceType, keyof KindInfo | "kindName" | "apiVersion" | "listKind" | "schema">): ResourceType {
  const info = Kinds[kindName];
  return {
    ...info,
    ...extra,
    kindName,
    apiVersion: apiVersionOf(info),
    listKind: `${info.kind}List`,
    schema: SchemaOf[kindName],
  };
}

export const Resources: readonly ResourceType[] = [
  resource("Connector", {
    singular: "connector",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: ["status.connectionDetails.publicKey.id"],
    defaultStatus: waitingFor("Accepted"),
  }),
  resource("ConnectorAdvertisement", {
    singular: "connectoradvertisement",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: ["spec.connectorRef.name"],
    defaultStatus: waitingFor("Accepted"),
  }),
  resource("ConnectorClass", {
    singular: "connectorclass",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: [],
  }),
  resource("HTTPProxy", {
    singular: "httpproxy",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: [],
    defaultStatus: waitingFor("Accepted", "Programmed"),
  }),
  resource("TrafficProtectionPolicy", {
    singular: "trafficprotectionpolicy",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: [],
  }),
  resource("Lease", {
    singular: "lease",
    statusSubresource: false,
    tracksGeneration: false,
    selectableFields: [],
  }),
];

export function resourceOf(kindName: KindName): ResourceType {
  const found = Resources.find((r) => r.kindName === kindName);
  if (!found) throw new Error(`no resource type for kind ${kindName}`);
  return found;
}

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return Resources.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function isSelectableField(rt: ResourceType, field: string): boolean {
  return field === "metadata.name" || (rt.namespaced && field === "metadata.namespace") || rt.selectableFields.includes(field);
}
