/**
 * Which API a request path names, after the project control-plane prefix (docs/wire-facts.md#control-plane,
 * docs/architecture.md#local-datum). Pure, so the whole URL space is one table test.
 */
import { NAMESPACE } from "../controlplane/kinds.ts";
import { findResource, type ResourceType } from "./resources.ts";

export const PROJECT_PREFIX = /^\/apis\/resourcemanager\.miloapis\.com\/v1alpha1\/projects\/([^/]+)\/control-plane(\/.*)?$/;

export type ApiPath =
  | { readonly type: "version" }
  | { readonly type: "coreVersions" } // /api
  | { readonly type: "coreResources" } // /api/v1
  | { readonly type: "namespaces"; readonly name?: string } // /api/v1/namespaces[/name]
  | { readonly type: "groups" } // /apis
  | { readonly type: "group"; readonly group: string } // /apis/<g>
  | { readonly type: "groupVersion"; readonly group: string; readonly version: string } // /apis/<g>/<v>
  | { readonly type: "collection"; readonly resource: ResourceType; readonly namespace?: string }
  | {
      readonly type: "object";
      readonly resource: ResourceType;
      readonly namespace?: string;
      readonly name: string;
      readonly subresource?: "status";
    }
  | { readonly type: "unknown" };

export function splitProjectPath(pathname: string): { project: string; rest: string } | undefined {
  const m = PROJECT_PREFIX.exec(pathname);
  if (!m?.[1]) return undefined;
  const project = safeDecode(m[1]);
  if (project === undefined) return undefined;
  return { project, rest: m[2] ?? "/" };
}

export function parseApiPath(rest: string): ApiPath {
  const raw = rest.replace(/\/+$/, "").split("/").slice(1);
  const parts: string[] = [];
  for (const segment of raw) {
    const decoded = safeDecode(segment);
    if (decoded === undefined || decoded === "") return { type: "unknown" };
    parts.push(decoded);
  }
  const [root, a, b, c, d, e, f, g, ...tooMany] = parts;
  if (tooMany.length > 0) return { type: "unknown" };

  if (root === "version" && a === undefined) return { type: "version" };
  if (root === "api") {
    if (a === undefined) return { type: "coreVersions" };
    if (a !== "v1") return { type: "unknown" };
    if (b === undefined) return { type: "coreResources" };
    if (b === "namespaces" && d === undefined) return c === undefined ? { type: "namespaces" } : { type: "namespaces", name: c };
    return { type: "unknown" };
  }
  if (root !== "apis") return { type: "unknown" };
  if (a === undefined) return { type: "groups" };
  if (b === undefined) return { type: "group", group: a };
  if (c === undefined) return { type: "groupVersion", group: a, version: b };

  // /apis/<g>/<v>/namespaces/<ns>/<plural>[/<name>[/status]]
  if (c === "namespaces" && d !== undefined && e !== undefined) {
    const resource = findResource(a, b, e);
    if (!resource?.namespaced) return { type: "unknown" };
    if (f === undefined) return { type: "collection", resource, namespace: d };
    return objectPath(resource, d, f, g);
  }
  // /apis/<g>/<v>/<plural>[/<name>[/status]]: cluster-scoped kinds, or a list across namespaces.
  const resource = findResource(a, b, c);
  if (!resource) return { type: "unknown" };
  if (d === undefined) return { type: "collection", resource };
  if (resource.namespaced || f !== undefined) return { type: "unknown" };
  return objectPath(resource, undefined, d, e);
}

function objectPath(resource: ResourceType, namespace: string | undefined, name: string, sub: string | undefined): ApiPath {
  if (sub === undefined) return { type: "object", resource, ...(namespace !== undefined ? { namespace } : {}), name };
  if (sub === "status" && resource.statusSubresource) {
    return { type: "object", resource, ...(namespace !== undefined ? { namespace } : {}), name, subresource: "status" };
  }
  return { type: "unknown" };
}

/** Only `default` exists in a project control plane (docs/wire-facts.md#control-plane). */
export function namespaceExists(namespace: string | undefined): boolean {
  return namespace === undefined || namespace === NAMESPACE;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
