/**
 * Unverified reads of a JWT access token's payload (docs/wire-facts.md#authorization, #credentials-helper).
 *
 * We never verify signatures: the token is only ever checked by the server it is sent to. We read
 * `exp` to schedule refreshes and `sub` to name the user. Real Datum access tokens may be opaque
 * (datumctl never parses them, docs/architecture.md#datumctl-double), so anything that is not a three-segment
 * token with a JSON-object payload is "opaque": no claims, no expiry — never an error.
 */

export interface JwtClaims {
  /** Expiry, seconds since the epoch, when the payload carries a finite numeric `exp`. */
  exp?: number;
  /** Subject, when the payload carries a non-empty string `sub`. */
  sub?: string;
}

/** base64url → bytes, re-adding the `=` padding that JWT segments drop (RFC 7515 §2). */
export function decodeBase64Url(segment: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(segment) || segment.length % 4 === 1) return undefined;
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  try {
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** The `exp` and `sub` claims of a JWT, or `undefined` for an opaque token. */
export function decodeJwtClaims(token: string): JwtClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined || parts[1] === "") return undefined;
  const bytes = decodeBase64Url(parts[1]);
  if (bytes === undefined) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return undefined;
  const { exp, sub } = payload as Record<string, unknown>;
  const claims: JwtClaims = {};
  if (typeof exp === "number" && Number.isFinite(exp)) claims.exp = exp;
  if (typeof sub === "string" && sub !== "") claims.sub = sub;
  return claims;
}

/** When the token expires, in epoch milliseconds; `undefined` for opaque tokens or no `exp`. */
export function tokenExpiryMs(token: string): number | undefined {
  const exp = decodeJwtClaims(token)?.exp;
  return exp === undefined ? undefined : exp * 1000;
}
