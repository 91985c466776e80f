/**
 * Lease (`coordination.k8s.io/v1`), a core Kubernetes type: the agent's heartbeat renews one. Typed
 * by the API server itself, so unknown fields are dropped and the spec's numbers and times must
 * have their types; durations are positive and the transition count is never negative.
 */
import { typeMeta } from "./common.ts";
import { integer, object, rule, string } from "./schema.ts";

export const leaseSchema = object({
  ...typeMeta,
  spec: object({
    holderIdentity: string(),
    leaseDurationSeconds: integer({ rules: [rule("must be greater than 0", (self: number) => self > 0, { showValue: true })] }),
    acquireTime: string({ format: "date-time" }),
    renewTime: string({ format: "date-time" }),
    leaseTransitions: integer({ rules: [rule("must be greater than or equal to 0", (self: number) => self >= 0, { showValue: true })] }),
    strategy: string(),
    preferredHolder: string(),
  }),
});
