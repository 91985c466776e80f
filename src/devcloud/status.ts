/**
 * `meta/v1 Status` bodies with the API server's own wording, so a client's error handling is
 * exercised against the texts it will meet in production (`httpproxies.networking.datumapis.com
 * "tunnel-abcde" not found`, …).
 */
import type { JsonObject } from "./json.ts";

export type StatusReason =
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "MethodNotAllowed"
  | "AlreadyExists"
  | "Conflict"
  | "Gone"
  | "Invalid"
  | "UnsupportedMediaType"
  | "TooManyRequests"
  | "InternalError"
  | "ServiceUnavailable"
  | "Timeout"
  | "Unknown";

export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
}

/** A failure the API answers with a Status body; thrown by the store, caught by the HTTP layer. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): JsonObject {
    return failureStatus(this.code, this.reason, this.message, this.details);
  }
}

export function failureStatus(code: number, reason: string, message: string, details?: StatusDetails): JsonObject {
  const body: JsonObject = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
  };
  if (details) body.details = detailsJson(details);
  body.code = code;
  return body;
}

export function successStatus(details: StatusDetails): JsonObject {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: detailsJson(details) };
}

/** The reason the API server uses for a bare HTTP status code (`StatusReasonForCode`-like). */
export function reasonForCode(code: number): StatusReason {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

/** Default message per code, as the API server (or the gateway in front of it) words it. */
export function defaultMessageForCode(code: number): string {
  switch (code) {
    case 401:
      return "Unauthorized";
    case 403:
      return "forbidden";
    case 429:
      return "Too many requests, please try again later.";
    case 500:
      return "Internal error occurred: the server has encountered an unexpected error";
    case 503:
      return "the server is currently unable to handle the request";
    case 504:
      return "the server was unable to return a response in the time allotted, but may still be processing the request";
    default:
      return `the server responded with the status code ${code}`;
  }
}

/** `httpproxies.networking.datumapis.com` — the qualified resource the API server names in messages. */
export function qualifiedResource(plural: string, group: string): string {
  return group ? `${plural}.${group}` : plural;
}

export const Errors = {
  notFound: (plural: string, group: string, name: string) =>
    new ApiError(404, "NotFound", `${qualifiedResource(plural, group)} "${name}" not found`, { name, group, kind: plural }),
  alreadyExists: (plural: string, group: string, name: string) =>
    new ApiError(409, "AlreadyExists", `${qualifiedResource(plural, group)} "${name}" already exists`, {
      name,
      group,
      kind: plural,
    }),
  conflict: (plural: string, group: string, name: string) =>
    new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualifiedResource(plural, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group, kind: plural },
    ),
  /** 422 with one cause per issue; `summary` is the human text after `is invalid: `. */
  invalid: (kind: string, group: string, name: string, summary: string, causes: readonly StatusCause[]) =>
    new ApiError(422, "Invalid", `${kind}${group ? `.${group}` : ""} "${name}" is invalid: ${summary}`, {
      name,
      group,
      kind,
      causes,
    }),
  badRequest: (message: string) => new ApiError(400, "BadRequest", message),
  unauthorized: () => new ApiError(401, "Unauthorized", "Unauthorized"),
  forbidden: (message: string) => new ApiError(403, "Forbidden", message),
  pathNotFound: () => new ApiError(404, "NotFound", "the server could not find the requested resource"),
  methodNotAllowed: (method: string) =>
    new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource (${method})`),
  // The real server also takes JSON patch and apply patches; the local Datum serves only what the
  // agent may send (docs/wire-facts.md#writes), so anything else is refused the way unknown types are.
  unsupportedPatch: () =>
    new ApiError(
      415,
      "UnsupportedMediaType",
      "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json",
    ),
} as const;

function detailsJson(details: StatusDetails): JsonObject {
  const out: JsonObject = {};
  if (details.name !== undefined) out.name = details.name;
  if (details.group !== undefined) out.group = details.group;
  if (details.kind !== undefined) out.kind = details.kind;
  if (details.uid !== undefined) out.uid = details.uid;
  if (details.causes !== undefined) {
    out.causes = details.causes.map((c) => {
      const cause: JsonObject = { reason: c.reason, message: c.message };
      if (c.field !== undefined) cause.field = c.field;
      return cause;
    });
  }
  return out;
}
