/**
 * Bearer-token admission of the local Datum: any non-empty token is a valid identity, except one
 * a test denied (to force the agent's refresh path, docs/wire-facts.md#authorization) or a JWT whose `exp`
 * has passed (what the real issuer's tokens do when the helper hands out a stale one).
 */

export type AuthVerdict = { readonly ok: true; readonly token: string } | { readonly ok: false; readonly why: string };

export function checkBearer(authorization: string | null, denied: ReadonlySet<string>, nowMs: number): AuthVerdict {
  if (!authorization) return { ok: false, why: "no Authorization header" };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m?.[1]) return { ok: false, why: "Authorization is not a bearer token" };
  const token = m[1];
  if (denied.has(token)) return { ok: false, why: "token denied" };
  const exp = jwtExpiry(token);
  if (exp !== undefined && exp * 1000 <= nowMs) return { ok: false, why: "token expired" };
  return { ok: true, token };
}

/** `exp` (seconds) from a JWT's payload, unverified; undefined for opaque tokens. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    if (typeof payload === "object" && payload !== null && "exp" in payload && typeof payload.exp === "number") {
      return payload.exp;
    }
  } catch {
    // Not a JWT after all: an opaque token, accepted as is.
  }
  return undefined;
}
