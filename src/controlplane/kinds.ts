/**
 * The control-plane kinds the agent touches (docs/wire-facts.md#kinds): where each lives on the wire.
 * Shared by the client and the local Datum, so the two can never disagree on a path.
 */

export interface KindInfo {
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export const Kinds = {
  Connector: {
    kind: "Connector",
    group: "networking.datumapis.com",
    version: "v1alpha1",
    plural: "connectors",
    namespaced: true,
  },
  ConnectorAdvertisement: {
    kind: "ConnectorAdvertisement",
    group: "networking.datumapis.com",
    version: "v1alpha1",
    plural: "connectoradvertisements",
    namespaced: true,
  },
  ConnectorClass: {
    kind: "ConnectorClass",
    group: "networking.datumapis.com",
    version: "v1alpha1",
    plural: "connectorclasses",
    namespaced: false,
  },
  // Note: HTTPProxy and TrafficProtectionPolicy are `v1alpha`, not `v1alpha1` (docs/wire-facts.md#kinds).
  HTTPProxy: {
    kind: "HTTPProxy",
    group: "networking.datumapis.com",
    version: "v1alpha",
    plural: "httpproxies",
    namespaced: true,
  },
  TrafficProtectionPolicy: {
    kind: "TrafficProtectionPolicy",
    group: "networking.datumapis.com",
    version: "v1alpha",
    plural: "trafficprotectionpolicies",
    namespaced: true,
  },
  Lease: {
    kind: "Lease",
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    namespaced: true,
  },
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof Kinds;

/** Every tunnel resource lives in this namespace (docs/wire-facts.md#control-plane). */
export const NAMESPACE = "default";

export function apiVersionOf(info: KindInfo): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** `/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/status]]`, relative to the project control plane. */
export function resourcePath(info: KindInfo, name?: string, subresource?: "status"): string {
  let path = `/apis/${info.group}/${info.version}`;
  if (info.namespaced) path += `/namespaces/${NAMESPACE}`;
  path += `/${info.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

/** `{api}/apis/resourcemanager.miloapis.com/v1alpha1/projects/{project}/control-plane` (docs/wire-facts.md#control-plane). */
export function projectControlPlaneUrl(apiBase: string, project: string): string {
  return `${apiBase.replace(/\/+$/, "")}/apis/resourcemanager.miloapis.com/v1alpha1/projects/${encodeURIComponent(project)}/control-plane`;
}
