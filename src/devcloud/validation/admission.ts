/**
 * The local Datum's server-side admission of a write, in the API server's order: the kind's schema
 * (pruning, defaulting, structural checks, validation rules), then for main-resource writes the
 * platform's validating webhooks. A rejected write becomes a 422 `Invalid` Status with one cause per
 * violation. These rules are the platform's, written down by us (docs/platform-rules.md); nothing
 * here comes from the client's own schemas.
 */
import type { KindName } from "../../controlplane/kinds.ts";
import type { JsonObject } from "../json.ts";
import { ApiError, type StatusCause, qualifiedResource } from "../status.ts";
import { connectorAdvertisementSchema } from "./connector-advertisement.ts";
import { connectorClassSchema } from "./connector-class.ts";
import { connectorSchema } from "./connector.ts";
import { HTTPPROXY_WEBHOOK, httpProxyWebhookViolations } from "./httpproxy-webhook.ts";
import { httpProxySchema } from "./httpproxy.ts";
import { leaseSchema } from "./lease.ts";
import { type Conformed, type ObjectSchema, type Violation, conform } from "./schema.ts";
import { trafficProtectionPolicySchema } from "./traffic-protection-policy.ts";

export const PlatformSchemas: Readonly<Record<KindName, ObjectSchema>> = {
  Connector: connectorSchema,
  ConnectorAdvertisement: connectorAdvertisementSchema,
  ConnectorClass: connectorClassSchema,
  HTTPProxy: httpProxySchema,
  TrafficProtectionPolicy: trafficProtectionPolicySchema,
  Lease: leaseSchema,
};

/** Validating admission webhooks by kind: name and check (the platform registers one, for HTTPProxy). */
const Webhooks: Partial<Record<KindName, { readonly name: string; readonly check: (obj: JsonObject) => Violation[] }>> = {
  HTTPProxy: { name: HTTPPROXY_WEBHOOK, check: httpProxyWebhookViolations },
};

/** The kind's schema applied to `obj`: the stored form (pruned, defaulted) and what is wrong with it. */
export function conformToSchema(kind: KindName, obj: JsonObject): Conformed {
  return conform(PlatformSchemas[kind], obj);
}

export interface Target {
  readonly kindName: KindName;
  /** The kind as messages name it (`HTTPProxy`) and its API group. */
  readonly kind: string;
  readonly group: string;
}

/**
 * Admits `obj` as a write of `target`: the stored form, or an `ApiError` (422) to throw.
 * `webhooks` is false for `/status` writes and the platform's own controllers' writes, which the
 * webhooks do not see.
 */
export function admit(target: Target, obj: JsonObject, name: string, options: { webhooks: boolean }): JsonObject {
  const result = conformToSchema(target.kindName, obj);
  if (result.violations.length > 0) throw invalidWrite(target, name, result.violations);
  const stored = result.value as JsonObject;
  const webhook = options.webhooks ? Webhooks[target.kindName] : undefined;
  if (webhook) {
    const violations = webhook.check(stored);
    if (violations.length > 0) throw invalidWrite(target, name, violations, webhook.name);
  }
  return stored;
}

/**
 * `<Kind>.<group> "<name>" is invalid: <field>: <message>` (several in `[…]`, duplicates once), as
 * the API server words it; a webhook's answer is prefixed with `admission webhook "<name>" denied
 * the request: `.
 */
export function invalidWrite(target: Target, name: string, violations: readonly Violation[], deniedBy?: string): ApiError {
  const causes: StatusCause[] = violations.map((v) => ({ reason: v.reason, message: v.message, field: v.field }));
  const lines = [...new Set(violations.map((v) => (v.field ? `${v.field}: ${v.message}` : v.message)))];
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(", ")}]`;
  const message = `${qualifiedResource(target.kind, target.group)} ${JSON.stringify(name)} is invalid: ${summary}`;
  return new ApiError(422, "Invalid", deniedBy ? `admission webhook ${JSON.stringify(deniedBy)} denied the request: ${message}` : message, {
    name,
    group: target.group,
    kind: target.kind,
    causes,
  });
}
