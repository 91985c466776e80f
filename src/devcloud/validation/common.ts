/**
 * Pieces several kinds share: the name patterns the platform uses, object metadata (which the API
 * server checks itself, whatever the CRD says), and the standard status condition.
 */
import { type Schema, array, boolean, integer, mapOf, object, string, anything } from "./schema.ts";

/** A lowercase DNS subdomain: labels of `a-z0-9-` joined by dots. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A DNS subdomain or nothing at all (an API group; `""` is the core group). */
export const API_GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A hostname that may start with a `*.` wildcard label. */
export const WILDCARD_HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A single DNS label. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A kind name: a letter, then letters, digits and dashes, not ending in a dash. */
export const KIND_NAME = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** An HTTP header (or query parameter) name: RFC 7230 token characters. */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** A URL path made of unreserved and sub-delimiter characters and percent escapes. */
export const URL_PATH = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$/;
/** `domain/path`, as in a controller name. */
export const DOMAIN_PREFIXED_PATH = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;

const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const CONDITION_TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;

/** The standard status condition (type, status, reason, message, transition time). */
export const condition = object(
  {
    lastTransitionTime: string({ format: "date-time" }),
    message: string({ maxLength: 32768 }),
    observedGeneration: integer({ minimum: 0 }),
    reason: string({ minLength: 1, maxLength: 1024, pattern: CONDITION_REASON }),
    status: string({ enum: ["True", "False", "Unknown"] }),
    type: string({ maxLength: 316, pattern: CONDITION_TYPE }),
  },
  { required: ["lastTransitionTime", "message", "reason", "status", "type"] },
);

/** A list of conditions, one per type. */
export function conditions(options: { minItems?: number; maxItems?: number } = {}): Schema {
  return array(condition, { ...options, listType: "map", mapKeys: ["type"] });
}

/** Conditions every CRD of ours starts with until a controller reports: one `Pending` per type. */
export function waitingFor(...types: string[]) {
  return {
    conditions: types.map((type) => ({
      lastTransitionTime: "1970-01-01T00:00:00Z",
      message: "Waiting for controller",
      reason: "Pending",
      status: "Unknown",
      type,
    })),
  };
}

const ownerReference = object(
  {
    apiVersion: string(),
    kind: string(),
    name: string(),
    uid: string(),
    controller: boolean(),
    blockOwnerDeletion: boolean(),
  },
  { required: ["apiVersion", "kind", "name", "uid"] },
);

/**
 * Object metadata as the API server itself types it. Its name rules are checked where names are
 * made (the store); here: the shape, so a write cannot store `labels: 3` or a bogus field.
 */
export const objectMeta = object({
  name: string(),
  generateName: string(),
  namespace: string(),
  selfLink: string(),
  uid: string(),
  resourceVersion: string(),
  generation: integer(),
  creationTimestamp: string({ format: "date-time" }),
  deletionTimestamp: string({ format: "date-time" }),
  deletionGracePeriodSeconds: integer(),
  labels: mapOf(string()),
  annotations: mapOf(string()),
  ownerReferences: array(ownerReference),
  finalizers: array(string()),
  managedFields: anything(),
});

/** `apiVersion`, `kind` and `metadata`, which every object carries. */
export const typeMeta = {
  apiVersion: string(),
  kind: string(),
  metadata: objectMeta,
} as const;
