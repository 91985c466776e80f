/**
 * Token issuing for the datumctl double: the keyring's stored token per user-key, kept in a sibling
 * of the state file (`<state>.runtime.json`) so it survives across calls as the real keyring does.
 *
 * `sticky` reproduces datumctl exactly (docs/wire-facts.md#token-refresh): the stored token is returned
 * while more than 10 s of validity remain, then a new one is minted. Tokens are JWT-shaped
 * (`{iss, sub, aud, iat, exp, jti}`, dummy signature) so expiry parsing is exercised, except in `opaque`
 * mode.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { authHostOf, type TokenSpec } from "./state.ts";

/** datumctl's `defaultExpiryDelta`. */
const EXPIRY_DELTA_SEC = 10;
/** Issued tokens remembered for leak checks (the call log flags any that shows up in argv or env). */
const ISSUED_KEEP = 100;

export interface StoredToken {
  token: string;
  mode: string;
  /** Seconds since the epoch; `null` for a token without expiry. */
  exp: number | null;
  iat: number;
}

export interface Runtime {
  tokens: Record<string, StoredToken>;
  /** Calls seen per user-key (drives `flaky:N`). */
  calls: Record<string, number>;
  issued: string[];
}

export function runtimePath(statePath: string): string {
  return `${statePath}.runtime.json`;
}

export function readRuntime(statePath: string): Runtime {
  try {
    const doc = JSON.parse(readFileSync(runtimePath(statePath), "utf8")) as Partial<Runtime>;
    return { tokens: doc.tokens ?? {}, calls: doc.calls ?? {}, issued: doc.issued ?? [] };
  } catch {
    return { tokens: {}, calls: {}, issued: [] };
  }
}

/** Atomic replace, so a concurrent reader never sees half a file. */
export function writeRuntime(statePath: string, runtime: Runtime): void {
  const path = runtimePath(statePath);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(runtime), { mode: 0o600 });
  renameSync(tmp, path);
}

function b64url(input: string | Uint8Array): string {
  return Buffer.from(input).toString("base64url");
}

/** A stable numeric subject per user-key, like the identity provider's user IDs. */
function subjectOf(userKey: string): string {
  return BigInt(`0x${createHash("sha256").update(userKey).digest("hex").slice(0, 15)}`).toString();
}

export function mintJwt(userKey: string, iat: number, exp: number): string {
  const header = { alg: "RS256", kid: "datumctl-double", typ: "JWT" };
  const claims = {
    iss: `https://${authHostOf(userKey)}`,
    sub: subjectOf(userKey),
    aud: "datum-api",
    iat,
    exp,
    jti: randomUUID(),
  };
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${b64url(randomBytes(32))}`;
}

export function mintOpaque(): string {
  return `dtmo_${randomBytes(24).toString("base64url")}`;
}

export interface IssueOptions {
  userKey: string;
  spec: TokenSpec;
  nowSec: number;
  /** `expired-token`: hand out a token whose `exp` is already past. */
  expired?: boolean;
  /** `sticky-near-expiry`: a lifetime of at most 5 minutes, so a T−5 min refresher gets the same token. */
  nearExpiry?: boolean;
}

/** Return the token this call hands out, updating `runtime` (the caller writes it back). */
export function issueToken(runtime: Runtime, options: IssueOptions): StoredToken {
  const { userKey, spec, nowSec } = options;
  const stored = runtime.tokens[userKey];
  const lifetime = options.nearExpiry ? Math.min(spec.lifetimeSec, 300) : spec.lifetimeSec;

  const reuse = ((): boolean => {
    if (!stored || stored.mode !== spec.mode || options.expired) return false;
    if (spec.rotateEverySec !== undefined && nowSec - stored.iat >= spec.rotateEverySec) return false;
    if (spec.mode === "always-new") return false;
    if (spec.mode === "fixed") return spec.value === undefined || stored.token === spec.value;
    return stored.exp === null || stored.exp - nowSec > EXPIRY_DELTA_SEC;
  })();
  if (reuse && stored) return stored;

  let next: StoredToken;
  if (options.expired) {
    const exp = nowSec - 60;
    next = { token: mintJwt(userKey, exp - lifetime, exp), mode: spec.mode, exp, iat: exp - lifetime };
  } else if (spec.mode === "fixed" && spec.value !== undefined) {
    next = { token: spec.value, mode: spec.mode, exp: null, iat: nowSec };
  } else if (spec.mode === "opaque") {
    next = { token: mintOpaque(), mode: spec.mode, exp: nowSec + lifetime, iat: nowSec };
  } else {
    next = { token: mintJwt(userKey, nowSec, nowSec + lifetime), mode: spec.mode, exp: nowSec + lifetime, iat: nowSec };
  }
  runtime.tokens[userKey] = next;
  runtime.issued = [...runtime.issued.filter((t) => t !== next.token), next.token].slice(-ISSUED_KEEP);
  return next;
}
