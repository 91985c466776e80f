/**
 * Fault injection for the local Datum's API (docs/architecture.md#local-datum): 5xx bursts and outage windows,
 * latency, malformed bodies, and the platform's quota-admission 403s, driven over HTTP from tests
 * (`POST /_dev/faults`). Rules are data; `FaultInjector.decide` is the only logic and takes the
 * clock as an argument, so it is table-tested without waiting.
 */
import * as v from "valibot";
import { qualifiedResource } from "./status.ts";

/**
 * The quota admission's answers: real exhaustion, the three retryable
 * ones (the claim wait timed out, an internal error, a denied claim not yet cleaned up), and a
 * policy the platform itself got wrong.
 */
export const QUOTA_ANSWERS = ["exceeded", "check-timeout", "check-error", "cleanup-pending", "misconfigured"] as const;
export type QuotaAnswer = (typeof QUOTA_ANSWERS)[number];

const Count = v.pipe(v.number(), v.integer(), v.minValue(1));

export const FaultRuleInput = v.pipe(
  v.strictObject({
    match: v.optional(
      v.strictObject({
        /** HTTP method, case-insensitive. */
        method: v.optional(v.string()),
        /** Substring of the request path (after the project prefix is NOT stripped: the full path). */
        pathIncludes: v.optional(v.string()),
        /** Resource plural, e.g. `httpproxies`. */
        resource: v.optional(v.string()),
        project: v.optional(v.string()),
      }),
    ),
    /** Answer with this status instead of serving the request. */
    status: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(599))),
    reason: v.optional(v.string()),
    message: v.optional(v.string()),
    /** Raw body instead of a Status (e.g. malformed JSON, a gateway's HTML page). */
    body: v.optional(v.string()),
    contentType: v.optional(v.string()),
    /** 403 with the platform's exact text for this request's object. */
    quota: v.optional(v.picklist(QUOTA_ANSWERS)),
    /** Let this many matching requests through before the rule starts to apply ("5xx on the Nth"). */
    skip: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    /** Apply to this many requests, then retire. */
    count: v.optional(Count),
    /** Apply for this long after the rule is added (an outage window). */
    forMs: v.optional(Count),
    /** Delay before answering (or before serving, when the rule sets no status). */
    latencyMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(120_000))),
  }),
  v.check(
    (r) => r.status !== undefined || r.quota !== undefined || r.latencyMs !== undefined,
    "a fault needs a status, a quota kind or a latency",
  ),
  v.check((r) => r.body === undefined || r.status !== undefined, "a fault body needs a status"),
);
export type FaultRuleInput = v.InferOutput<typeof FaultRuleInput>;

export interface FaultRule extends FaultRuleInput {
  readonly id: string;
  readonly addedAt: number;
  /** Requests the rule has acted on. */
  hits: number;
  /** Matching requests let through because of `skip`. */
  skipped: number;
}

export interface FaultRequest {
  readonly method: string;
  readonly path: string;
  readonly project?: string;
  readonly resource?: string;
}

export interface FaultDecision {
  /** Sum of the latencies of every rule that acted. */
  readonly latencyMs: number;
  /** The first acting rule that answers instead of the server, if any. */
  readonly answer?: FaultRule;
  readonly ruleIds: readonly string[];
}

export class FaultInjector {
  #rules: FaultRule[] = [];
  #nextId = 1;

  add(input: FaultRuleInput, now: number): FaultRule {
    const rule: FaultRule = { ...input, id: `fault-${this.#nextId++}`, addedAt: now, hits: 0, skipped: 0 };
    this.#rules.push(rule);
    return rule;
  }

  remove(id: string): boolean {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((r) => r.id !== id);
    return this.#rules.length < before;
  }

  clear(): void {
    this.#rules = [];
  }

  list(now: number): FaultRule[] {
    this.#retire(now);
    return this.#rules.map((r) => ({ ...r }));
  }

  /** Which rules act on this request; consumes their counts. */
  decide(request: FaultRequest, now: number): FaultDecision {
    this.#retire(now);
    let latencyMs = 0;
    let answer: FaultRule | undefined;
    const ruleIds: string[] = [];
    for (const rule of this.#rules) {
      if (!matches(rule, request)) continue;
      if (rule.skipped < (rule.skip ?? 0)) {
        rule.skipped++;
        continue;
      }
      // A rule that would only repeat an answer already chosen is not consumed by this request.
      const answers = rule.status !== undefined || rule.quota !== undefined;
      if (answers && answer) continue;
      rule.hits++;
      ruleIds.push(rule.id);
      latencyMs += rule.latencyMs ?? 0;
      if (answers) answer = rule;
    }
    this.#retire(now);
    return { latencyMs, ...(answer ? { answer } : {}), ruleIds };
  }

  #retire(now: number): void {
    this.#rules = this.#rules.filter(
      (r) => (r.count === undefined || r.hits < r.count) && (r.forMs === undefined || now < r.addedAt + r.forMs),
    );
  }
}

function matches(rule: FaultRule, request: FaultRequest): boolean {
  const m = rule.match;
  if (!m) return true;
  if (m.method !== undefined && m.method.toUpperCase() !== request.method.toUpperCase()) return false;
  if (m.pathIncludes !== undefined && !request.path.includes(m.pathIncludes)) return false;
  if (m.resource !== undefined && m.resource !== request.resource) return false;
  if (m.project !== undefined && m.project !== request.project) return false;
  return true;
}

/**
 * The platform's quota 403 texts. Exhaustion is the app's test fixture; the
 * others are the quota admission plugin's wording: the agent retries the three transient ones.
 */
export function quotaMessage(kind: QuotaAnswer, plural: string, group: string, name: string): string {
  const subject = plural ? `${qualifiedResource(plural, group)} "${name}" is forbidden: ` : "forbidden: ";
  return subject + QUOTA_TEXTS[kind];
}

const QUOTA_TEXTS: Record<QuotaAnswer, string> = {
  exceeded:
    "You've reached your quota for this resource type (Insufficient quota resources. Contact your account administrator to review quota limits and usage.).",
  "check-timeout": "Your request took too long to be checked against your quota. Please try again in a moment — if this keeps happening, contact support.",
  "check-error": "Something went wrong while checking your quota for this request. Please try again — if this keeps happening, contact support.",
  // The denied claim's message in parentheses: it names the exhaustion, yet the answer is transient.
  "cleanup-pending":
    "We're still cleaning up from a previous attempt to create this resource (Insufficient quota resources. Contact your account administrator to review quota limits and usage.). Please try again in a few seconds.",
  misconfigured:
    "Quota enforcement for this resource type is misconfigured and can't be applied. This needs a fix from the service provider — please contact support.",
};
