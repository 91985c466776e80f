/**
 * datumctl's `auth get-token` failures, word for word (docs/wire-facts.md#get-token-failures), and its error
 * printer: `error: <message>`, then the hint line for user errors, in human format; one envelope
 * line `{"error":{...}}` with `--error-format json`; the same structure as YAML with `yaml`.
 *
 * The contract does not publish datumctl's machine `code` values, so the envelope leaves `code`
 * out (it is omitted whenever empty) rather than invent one a plugin might come to rely on.
 */
import type { ErrorFormat } from "./args.ts";

export interface DatumctlFailure {
  message: string;
  hint?: string;
  /** The wrapped cause: JSON/YAML `details`. */
  details?: string;
}

const RELOGIN_SA = "Please re-authenticate using: `datumctl login --credentials <file>`";
const SA_KEY_HINT =
  "re-run 'datumctl login --credentials <file>'; you may need to download a new service account " +
  "credentials file from the Datum portal if the original is no longer available";

export const failures = {
  noSession: (session: string): DatumctlFailure => ({
    message: `no session named "${session}" — run 'datumctl login' or 'datumctl auth update-kubeconfig'`,
  }),
  noUserKey: (session: string): DatumctlFailure => ({ message: `session "${session}" has no user key` }),
  keyringMissing: (userKey: string): DatumctlFailure => ({
    message: `failed to get token source: credentials for user '${userKey}' not found in keyring`,
  }),
  keyringNoToken: (userKey: string): DatumctlFailure => ({
    message: `failed to get token source: stored credentials for '${userKey}' are missing token information`,
  }),
  /** The keyring item vanished between read and refresh (a concurrent `logout`). */
  loggedOut: (userKey: string): DatumctlFailure => ({
    message: `The stored credentials for ${userKey} are no longer available — the session may have been logged out.`,
    hint: "Run 'datumctl login' to re-authenticate.",
  }),
  configUnreadable: (): DatumctlFailure => ({
    message: "unmarshal config: yaml: line 3: did not find expected key",
  }),
  noActiveUser: (): DatumctlFailure => ({
    message: "no active user found in keyring. Please login first using 'datumctl login'",
  }),
  interactiveExpired: (): DatumctlFailure => ({
    message: "Authentication session has expired or refresh token is no longer valid.",
    hint: "Please re-authenticate using: `datumctl login`",
    details: 'oauth2: "invalid_grant" "Refresh token is invalid or expired"',
  }),
  saRevoked: (): DatumctlFailure => ({
    message: "Failed to exchange JWT for access token.",
    hint: RELOGIN_SA,
    details: "JWT bearer exchange failed: invalid_grant (Errors.User.NotFound)",
  }),
  saKeyfileMissing: (path: string): DatumctlFailure => ({
    message: `failed to read service account private key from ${path}`,
    hint: SA_KEY_HINT,
    details: `open ${path}: no such file or directory`,
  }),
  saNoKey: (): DatumctlFailure => ({ message: "service account session is missing its private key", hint: SA_KEY_HINT }),
  saBadKey: (): DatumctlFailure => ({
    message: "Failed to mint JWT for service account authentication.",
    hint: RELOGIN_SA,
    details: "failed to parse private key: x509: failed to parse private key",
  }),
  /** The identity provider is unreachable: a raw error for interactive sessions, the exchange error for service accounts. */
  network: (authHost: string, serviceAccount: boolean): DatumctlFailure => {
    const cause = `Post "https://${authHost}/oauth/v2/token": dial tcp: lookup ${authHost}: no such host`;
    return serviceAccount
      ? { message: "Failed to exchange JWT for access token.", hint: RELOGIN_SA, details: `JWT bearer exchange failed: ${cause}` }
      : { message: `failed to get token: ${cause}` };
  },
  badOutput: (format: string): DatumctlFailure => ({
    message: `invalid --output format "${format}". Must be token or client.authentication.k8s.io/v1`,
  }),
  unknownCommand: (word: string, parent: string): DatumctlFailure => ({
    message: `unknown command "${word}" for "${parent}"`,
  }),
};

export function renderFailure(failure: DatumctlFailure, format: ErrorFormat): string {
  if (format === "human") return `error: ${failure.message}\n${failure.hint ? `${failure.hint}\n` : ""}`;
  const body: Record<string, unknown> = { message: failure.message };
  if (failure.hint) body.hint = failure.hint;
  body.retryable = false;
  if (failure.details) body.details = failure.details;
  if (format === "json") return `${JSON.stringify({ error: body })}\n`;
  const yaml = Bun.YAML.stringify({ error: body }, null, 2);
  return yaml.endsWith("\n") ? yaml : `${yaml}\n`;
}
