/**
 * Turning a failed control-plane call into one of our errors (pure; docs/wire-facts.md#authorization,
 * #quota-and-retries).
 *
 * The client reports what happened to an attempt as a `Failure` (an HTTP status with its body, a
 * network error, or a per-attempt timeout); `classifyFailure` says whether that is worth another
 * attempt (a stale token, the operator's quota-check timeout, a transient outage) or final, and if
 * final, which `CliError` the user sees. Only 401 means "refresh the token": a 403 is RBAC or quota
 * and must never be treated as a login problem (docs/wire-facts.md#authorization). Of the quota
 * admission's 403s only exhaustion is final; the others ask to be tried again (`quotaAnswerOf`).
 */
import * as v from "valibot";
import { type CliError, Malformed, NotAuthenticated, Rejected, Unreachable } from "../errors.ts";
import { Status } from "./schemas.ts";

export type Verb = "get" | "list" | "create" | "patch" | "patchStatus" | "delete";

/** What the failed call was doing, for messages and for deciding whether it may be repeated. */
export interface CallContext {
  readonly verb: Verb;
  /** Kind name, e.g. `HTTPProxy`. */
  readonly kind: string;
  /** Resource plural, e.g. `httpproxies`. */
  readonly plural: string;
  /** Object name, when the call addresses (or creates) a named object. */
  readonly name?: string;
  readonly project: string;
  /** Host of the control-plane URL, named in unreachable errors. */
  readonly host: string;
}

/** How one attempt failed. */
export type Failure =
  | { readonly type: "http"; readonly status: number; readonly body: string }
  | { readonly type: "network"; readonly code?: string; readonly message: string }
  | { readonly type: "timeout"; readonly afterMs: number };

export type Classification =
  /** 401: fetch a fresh token and try once more. */
  | { readonly type: "unauthorized"; readonly detail: string }
  /** A retryable quota-admission 403 (check timed out or failed, or cleanup pending): try again in a moment. */
  | { readonly type: "quota-check"; readonly detail: string; readonly answer: RetryableQuotaAnswer; readonly message: string }
  /** 5xx, 429, network error or timeout that another attempt may get past. */
  | { readonly type: "transient"; readonly detail: string }
  | { readonly type: "final"; readonly error: CliError };

/**
 * What the quota admission said in a 403, by the stable phrases of
 * milo's messages. The retryable ones are matched first: "still cleaning up" quotes the denied
 * claim's message, which names the exhaustion, yet only asks to try again in a few seconds.
 */
export type QuotaAnswer = "check-timeout" | "check-error" | "cleanup-pending" | "exhausted" | "misconfigured";
export type RetryableQuotaAnswer = "check-timeout" | "check-error" | "cleanup-pending";

const QUOTA_PHRASES: readonly (readonly [string, QuotaAnswer])[] = [
  ["took too long to be checked against your quota", "check-timeout"],
  ["something went wrong while checking your quota", "check-error"],
  ["still cleaning up from a previous attempt to create this resource", "cleanup-pending"],
  ["you've reached your quota for this resource type", "exhausted"],
  ["insufficient quota resources", "exhausted"],
  ["quota enforcement for this resource type is misconfigured", "misconfigured"],
];

/** The quota answer a response carries, or `undefined` for any other status or message (RBAC). */
export function quotaAnswerOf(status: number, message: string): QuotaAnswer | undefined {
  if (status !== 403) return undefined;
  const text = message.toLowerCase().replaceAll("\u2019", "'");
  return QUOTA_PHRASES.find(([phrase]) => text.includes(phrase))?.[1];
}

export function isRetryableQuotaAnswer(answer: QuotaAnswer | undefined): answer is RetryableQuotaAnswer {
  return answer === "check-timeout" || answer === "check-error" || answer === "cleanup-pending";
}

/** Decode a `meta/v1 Status` body; anything else (HTML error pages, empty bodies) is `undefined`. */
export function decodeStatus(body: string): Status | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(Status, json);
  return parsed.success ? parsed.output : undefined;
}

/** The server's own words for a failure: the Status message, else the start of the body. */
export function serverMessage(status: number, body: string): string {
  const decoded = decodeStatus(body);
  if (decoded?.message) return decoded.message;
  const text = body.trim().replace(/\s+/g, " ");
  if (!text) return `HTTP ${status}`;
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** `HTTPProxy create`: the short operation name used in the quota-check notice (upstream wording). */
export function operationLabel(ctx: CallContext): string {
  const verb = ctx.verb === "patchStatus" ? "status patch" : ctx.verb;
  return `${ctx.kind} ${verb}`;
}

/** `listing connectors`, `creating HTTPProxy`, `deleting ConnectorAdvertisement tunnel-x`. */
export function describeCall(ctx: CallContext): string {
  const target = ctx.name ? `${ctx.kind} ${ctx.name}` : ctx.kind;
  switch (ctx.verb) {
    case "list":
      return `listing ${ctx.plural}`;
    case "get":
      return `reading ${target}`;
    case "create":
      return `creating ${target}`;
    case "patch":
      return `updating ${target}`;
    case "patchStatus":
      return `updating the status of ${target}`;
    case "delete":
      return `deleting ${target}`;
    default: {
      const unknownVerb: never = ctx.verb;
      return String(unknownVerb);
    }
  }
}

export function failureDetail(failure: Failure): string {
  switch (failure.type) {
    case "http":
      return `HTTP ${failure.status}: ${serverMessage(failure.status, failure.body)}`;
    case "network":
      return failure.code ? `${failure.code}: ${failure.message}` : failure.message;
    case "timeout":
      return `no response within ${Math.round(failure.afterMs / 1000)}s`;
    default: {
      const unknownFailure: never = failure;
      return String(unknownFailure);
    }
  }
}

/** The friendly text for real quota exhaustion (upstream `format_quota_error`, docs/wire-facts.md#tunnel-operations). */
export function quotaExceededText(kind: string): string {
  return [
    `Quota limit exceeded for ${kind} resources.`,
    "",
    `You've reached the limit for creating ${kind} resources in this project.`,
    "",
    "To fix this, you can:",
    "  - Delete unused tunnels to free up capacity",
    "  - Contact support to request a higher quota limit",
    "",
    "Run 'tunnel list' to see existing tunnels.",
  ].join("\n");
}

export function isQuotaCheckTimeout(status: number, message: string): boolean {
  return quotaAnswerOf(status, message) === "check-timeout";
}

export function isQuotaExceeded(status: number, message: string): boolean {
  return quotaAnswerOf(status, message) === "exhausted";
}

/** Network error codes meaning the request never reached a server (Bun and Node spellings). */
const NEVER_SENT = new Set(["ECONNREFUSED", "ConnectionRefused", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * True when the server certainly did not act on the request: it refused the connection, or
 * answered 429/503 (shed before processing). A 500/502/504, a reset or a timeout leaves it open
 * whether the write happened.
 */
export function certainlyUnprocessed(failure: Failure): boolean {
  if (failure.type === "http") return failure.status === 429 || failure.status === 503;
  if (failure.type === "network") return failure.code !== undefined && NEVER_SENT.has(failure.code);
  return false;
}

export function classifyFailure(failure: Failure, ctx: CallContext): Classification {
  const detail = failureDetail(failure);
  if (failure.type !== "http") return transient(failure, detail, ctx);

  const { status } = failure;
  const message = serverMessage(status, failure.body);
  if (status === 401) return { type: "unauthorized", detail };
  const quota = quotaAnswerOf(status, message);
  if (isRetryableQuotaAnswer(quota)) return { type: "quota-check", detail, answer: quota, message };
  // 408/429 ask us to come back later; 5xx is the server's trouble, not ours.
  if (status === 408 || status === 429 || status >= 500) return transient(failure, detail, ctx);
  return { type: "final", error: finalError(status, message, detail, ctx) };
}

function transient(failure: Failure, detail: string, ctx: CallContext): Classification {
  // A create with `generateName` cannot be repeated blindly: if the first attempt was applied, a
  // second one makes a second object (an orphan tunnel holding quota). Named creates and the other
  // verbs are safe to repeat: a repeat answers 409/404, which the client folds back into success.
  if (ctx.verb === "create" && ctx.name === undefined && !certainlyUnprocessed(failure)) {
    return {
      type: "final",
      error: new Unreachable(
        `The control plane at ${ctx.host} failed while ${describeCall(ctx)}; it may or may not have been created`,
        "run 'tunnel list' to check, then retry",
        detail,
      ),
    };
  }
  return { type: "transient", detail };
}

function finalError(status: number, message: string, detail: string, ctx: CallContext): CliError {
  const call = describeCall(ctx);
  if (status === 403) {
    const quota = quotaAnswerOf(status, message);
    if (quota === "exhausted") return new Rejected(quotaExceededText(ctx.kind), undefined, "quota");
    if (quota === "misconfigured") {
      return new Rejected(`The platform could not apply its quota to ${call}: ${message}`, "contact Datum support", "rejected");
    }
    return permissionDenied(ctx, detail);
  }
  if (status === 404) {
    // A list or create against a missing project answers 404 for the collection itself.
    if (ctx.name === undefined || ctx.verb === "create") {
      return new Rejected(
        `Control plane for project '${ctx.project}' has no ${ctx.plural} (HTTP 404 ${call})`,
        "check the project id (--project or DATUM_PROJECT)",
        "not_found",
      );
    }
    return new Rejected(`${ctx.kind} ${ctx.name} not found in project ${ctx.project}`, undefined, "not_found");
  }
  if (status === 409) {
    const what = ctx.verb === "create" && ctx.name ? `${ctx.kind} ${ctx.name} already exists` : `Conflict ${call}`;
    return new Rejected(`${what}: ${message}`, undefined, "conflict");
  }
  if (status >= 400 && status < 500) {
    return new Rejected(`The control plane rejected ${call}: ${message}`, undefined, "rejected");
  }
  // 1xx/3xx: nothing a Kubernetes-style API server should send us.
  return new Malformed(`Unexpected HTTP ${status} from the control plane at ${ctx.host} (${call})`, undefined, detail);
}

/** 403 that is neither quota case: RBAC, usually the wrong project for this session (docs/wire-facts.md#connector-resolution). */
export function permissionDenied(ctx: CallContext, detail: string): NotAuthenticated {
  return new NotAuthenticated(
    `Permission denied ${describeCall(ctx)} in project ${ctx.project}.`,
    `Switch your datumctl context to this project first: 'datumctl ctx switch ${ctx.project}'`,
    detail,
    "forbidden",
  );
}

/** A second 401, after a fresh token. */
export function notAuthenticated(ctx: CallContext, detail: string): NotAuthenticated {
  return new NotAuthenticated(`Authentication failed for project ${ctx.project}.`, "run 'datumctl login'", detail);
}

/** The transient budget ran out. */
export function unreachable(ctx: CallContext, attempts: number, detail: string): Unreachable {
  return new Unreachable(
    `Datum control plane at ${ctx.host} is unreachable (${describeCall(ctx)} failed ${attempts} ${attempts === 1 ? "time" : "times"})`,
    "check your network connection and the API host (DATUM_API_HOST or the datumctl session), then retry",
    detail,
  );
}

/** The quota admission kept answering a retryable 403 past its ~15 s window: the platform's own words. */
export function quotaCheckExhausted(ctx: CallContext, attempts: number, message: string, detail: string): Unreachable {
  return new Unreachable(
    `The quota check for ${operationLabel(ctx)} did not succeed after ${attempts} ${attempts === 1 ? "attempt" : "attempts"}: ${message}`,
    "the platform's quota check is having trouble right now; try again in a moment",
    detail,
  );
}

/** The one-line notice before the first quota wait; the check timeout keeps upstream's wording. */
export function quotaWaitNotice(ctx: CallContext, answer: RetryableQuotaAnswer, windowS: number): string {
  const what =
    answer === "check-timeout"
      ? "quota check timed out"
      : answer === "check-error"
        ? "quota check failed"
        : "quota cleanup still pending";
  return `  … ${what} for ${operationLabel(ctx)}; retrying for up to ${windowS}s`;
}

/** A 2xx answer that is not JSON or does not match the kind's schema. */
export function malformedResponse(ctx: CallContext, details: string): Malformed {
  return new Malformed(
    `Malformed ${ctx.kind} data from the control plane at ${ctx.host} (${describeCall(ctx)})`,
    "the control plane answered with data this version does not understand; retry, or upgrade datumctl-connect",
    details,
  );
}
