/**
 * Legacy discovery documents, enough for a stock kubectl pointed at a project control plane
 * (`kubectl --server <pcp> get httpproxies.networking.datumapis.com`): `/version`, `/api`,
 * `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`. Aggregated discovery is not offered; kubectl
 * falls back to these when the answer is plain `application/json`.
 */
import type { JsonObject } from "./json.ts";
import { Resources, type ResourceType } from "./resources.ts";

/** Only what the store implements: no `update` (PUT), `watch` or `deletecollection`. */
const VERBS = ["create", "delete", "get", "list", "patch"] as const;

export function versionInfo(): JsonObject {
  return {
    major: "1",
    minor: "32",
    gitVersion: "v1.32.0+datum-devcloud",
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: "go1.23.0",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

export function coreVersions(serverAddress: string): JsonObject {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

export function coreResources(): JsonObject {
  return {
    kind: "APIResourceList",
    groupVersion: "v1",
    resources: [{ name: "namespaces", singularName: "namespace", namespaced: false, kind: "Namespace", verbs: ["get", "list"], shortNames: ["ns"] }],
  };
}

export function namespaceObject(name: string, creationTimestamp: string): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, creationTimestamp },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

export function groupList(): JsonObject {
  return { kind: "APIGroupList", apiVersion: "v1", groups: groupNames().map(groupDocument) };
}

export function groupDocument(group: string): JsonObject {
  const versions = versionsOf(group).map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { kind: "APIGroup", apiVersion: "v1", name: group, versions, ...(versions[0] ? { preferredVersion: versions[0] } : {}) };
}

export function resourceList(group: string, version: string): JsonObject | undefined {
  const types = Resources.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: `${group}/${version}`,
    resources: types.flatMap((rt) => resourceEntries(rt)),
  };
}

export function knownGroup(group: string): boolean {
  return groupNames().includes(group);
}

function resourceEntries(rt: ResourceType): JsonObject[] {
  const main: JsonObject = { name: rt.plural, singularName: rt.singular, namespaced: rt.namespaced, kind: rt.kind, verbs: [...VERBS] };
  if (!rt.statusSubresource) return [main];
  return [main, { name: `${rt.plural}/status`, singularName: "", namespaced: rt.namespaced, kind: rt.kind, verbs: ["get", "patch"] }];
}

function groupNames(): string[] {
  return [...new Set(Resources.map((r) => r.group))];
}

function versionsOf(group: string): string[] {
  return [...new Set(Resources.filter((r) => r.group === group).map((r) => r.version))].sort(compareKubeVersions);
}

const KUBE_VERSION = /^v(\d+)(?:(alpha|beta)(\d+))?$/;

/**
 * Kubernetes version priority: GA before beta before alpha, higher numbers first; names that are
 * not kube-like (such as NSO's `v1alpha`) sort after all kube-like ones, alphabetically.
 */
export function compareKubeVersions(a: string, b: string): number {
  const ma = KUBE_VERSION.exec(a);
  const mb = KUBE_VERSION.exec(b);
  if (!ma || !mb) {
    if (ma) return -1;
    if (mb) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const stage = (m: RegExpExecArray) => (m[2] === undefined ? 2 : m[2] === "beta" ? 1 : 0);
  return (
    stage(mb) - stage(ma) ||
    Number(mb[1]) - Number(ma[1]) ||
    Number(mb[3] ?? 0) - Number(ma[3] ?? 0)
  );
}
