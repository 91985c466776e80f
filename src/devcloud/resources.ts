/**
 * What the local Datum's API server knows about each kind beyond its path (`controlplane/kinds.ts`):
 * the `/status` subresource, generation tracking and the fields a `fieldSelector` may use. What a
 * write must satisfy (and the status a new object starts with) is the platform's schema for the
 * kind, in `validation/` (docs/platform-rules.md).
 */
import { type KindInfo, type KindName, Kinds, apiVersionOf } from "../controlplane/kinds.ts";

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
}

function resource(kindName: KindName, extra: Omit<ResourceType, keyof KindInfo | "kindName" | "apiVersion" | "listKind">): ResourceType {
  const info = Kinds[kindName];
  return {
    ...info,
    ...extra,
    kindName,
    apiVersion: apiVersionOf(info),
    listKind: `${info.kind}List`,
  };
}

export const Resources: readonly ResourceType[] = [
  resource("Connector", {
    singular: "connector",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: ["status.connectionDetails.publicKey.id"],
  }),
  resource("ConnectorAdvertisement", {
    singular: "connectoradvertisement",
    statusSubresource: true,
    tracksGeneration: true,
    selectableFields: ["spec.connectorRef.name"],
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
