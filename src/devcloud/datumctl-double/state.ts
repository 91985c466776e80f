/**
 * The datumctl test double's state file, `$DATUMCTL_DOUBLE_STATE` (docs/architecture.md#datumctl-double): JSON,
 * re-read on every call so tests change behaviour between calls by rewriting it.
 *
 * Schemas are strict: a typo in a test's state (`"mdoe"`) must fail loudly, not silently fall back
 * to a default. The token cache and counters live in a sibling file the double owns
 * (`<state>.runtime.json`, see `runtime.ts`).
 */
import * as v from "valibot";

export const TOKEN_MODES = ["sticky", "always-new", "fixed", "opaque"] as const;
export type TokenMode = (typeof TOKEN_MODES)[number];

/**
 * Failure modes the double itself simulates (docs/architecture.md#datumctl-double); the
 * helper-unset/missing ones are harness setups.
 */
export const FAIL_MODES = [
  "no-session",
  "no-user-key",
  "no-active-user",
  "keyring-missing",
  "keyring-no-token",
  "logged-out",
  "config-unreadable",
  "interactive-expired",
  "sa-revoked",
  "sa-keyfile-missing",
  "sa-no-key",
  "sa-bad-key",
  "network",
  "slow",
  "hang",
  "expired-token",
  "sticky-near-expiry",
  "interrupted",
  "bad-flag",
  "stderr-noise",
  "stdout-trailing-newline",
] as const;
export type FailMode = (typeof FAIL_MODES)[number] | `flaky:${number}`;

const FailModeSchema = v.nullish(
  v.union([v.picklist(FAIL_MODES), v.pipe(v.string(), v.regex(/^flaky:\d+$/, "flaky:N needs a number"))]),
);

const NonNegativeInt = v.pipe(v.number(), v.integer(), v.minValue(0));
const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));

export const TokenSpec = v.strictObject({
  /** sticky: same token until < 10 s remain (datumctl's real rule); always-new; fixed; opaque (sticky, not a JWT). */
  mode: v.optional(v.picklist(TOKEN_MODES), "sticky"),
  lifetimeSec: v.optional(PositiveInt, 3600),
  /** `fixed` mode: this exact token (else one minted once and kept forever, even past expiry). */
  value: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Issue a new token every N seconds regardless of expiry (credential-rotation tests). */
  rotateEverySec: v.optional(PositiveInt),
});
export type TokenSpec = v.InferOutput<typeof TokenSpec>;

export const SessionState = v.strictObject({
  /** Keyring account, `<email>@<auth-host>`; empty simulates "session has no user key". */
  userKey: v.optional(v.string(), ""),
  type: v.optional(v.picklist(["interactive", "service_account"]), "interactive"),
  apiHost: v.optional(v.string()),
  token: v.optional(TokenSpec, {}),
  fail: FailModeSchema,
  delayMs: v.optional(NonNegativeInt, 0),
});
export type SessionState = v.InferOutput<typeof SessionState>;
export type SessionStateInput = v.InferInput<typeof SessionState>;

export const DoubleState = v.strictObject({
  /** The keyring's `active_user` pointer: what `get-token` without `--session` uses (docs/wire-facts.md#credentials-helper). */
  keyringActiveUser: v.nullish(v.string()),
  activeSession: v.nullish(v.string()),
  currentContext: v.nullish(
    v.strictObject({ session: v.string(), org: v.string(), project: v.nullish(v.string()) }),
  ),
  sessions: v.optional(v.record(v.string(), SessionState), {}),
  /** Applies to every call whose session sets no `fail` of its own. */
  fail: FailModeSchema,
  delayMs: v.optional(NonNegativeInt, 0),
});
export type DoubleState = v.InferOutput<typeof DoubleState>;
export type DoubleStateInput = v.InferInput<typeof DoubleState>;

export function parseDoubleState(text: string, path: string): DoubleState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`invalid state file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = v.safeParse(DoubleState, doc);
  if (!parsed.success) throw new Error(`invalid state file ${path}: ${v.summarize(parsed.issues)}`);
  return parsed.output;
}

/** `flaky:3` → 3; other modes → undefined. */
export function flakyCount(fail: string | null | undefined): number | undefined {
  const match = fail?.match(/^flaky:(\d+)$/);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** `alice@example.com@auth.datum.net` → `auth.datum.net`. */
export function authHostOf(userKey: string): string {
  const at = userKey.lastIndexOf("@");
  return at >= 0 && at < userKey.length - 1 ? userKey.slice(at + 1) : "auth.datum.net";
}
