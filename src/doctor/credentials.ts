/**
 * Doctor's first hops: datumctl, the credentials helper (found, its version, the session, a token
 * minted and its expiry) and the clock against the API's `Date`. The helper is datumctl's own
 * process: it inherits our environment, so it honours HTTPS_PROXY itself.
 */
import { statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { helperChildEnv, runGetToken } from "../auth/credentials-helper.ts";
import { tokenExpiryMs } from "../auth/jwt.ts";
import { CliError } from "../errors.ts";
import { classOfExit, hop, type Hop } from "./report.ts";

const S = "credentials" as const;

/** Beyond this the token's `exp` and the server's idea of now disagree enough to matter. */
export const MAX_CLOCK_SKEW_MS = 30_000;
const VERSION_TIMEOUT_MS = 5_000;

export interface CredentialsInput {
  readonly helper: string | undefined;
  readonly session: string | undefined;
  /** Where the session came from (`--session`, `tunnel.yaml`, a datumctl context…). */
  readonly sessionOrigin: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
  readonly now?: () => number;
}

export interface CredentialsResult {
  readonly hops: Hop[];
  readonly token: string | undefined;
}

/** The helper as a path to look at: absolute as given, else found on PATH. */
function locate(helper: string, env: Readonly<Record<string, string | undefined>>): string | null {
  if (isAbsolute(helper) || helper.includes("/")) {
    try {
      return statSync(helper).isFile() ? helper : null;
    } catch {
      return null;
    }
  }
  return Bun.which(helper, { PATH: env.PATH ?? "" });
}

/** `{"clientVersion":{"gitVersion":"v0.18.0"}}` → `v0.18.0`. Pure. */
export function parseDatumctlVersion(stdout: string): string | undefined {
  try {
    const doc = JSON.parse(stdout) as { clientVersion?: { gitVersion?: unknown } };
    const version = doc.clientVersion?.gitVersion;
    return typeof version === "string" && version !== "" ? version : undefined;
  } catch {
    return undefined;
  }
}

async function helperVersion(path: string, env: Readonly<Record<string, string | undefined>>): Promise<{ version?: string; error?: string; ms: number }> {
  const started = performance.now();
  try {
    const proc = Bun.spawn([path, "version", "--client", "-o", "json"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: helperChildEnv(env),
      timeout: VERSION_TIMEOUT_MS,
      killSignal: "SIGKILL",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const ms = performance.now() - started;
    const version = parseDatumctlVersion(stdout);
    if (code === 0 && version) return { version, ms };
    return { error: stderr.trim().split("\n")[0] || `exit ${code}`, ms };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), ms: performance.now() - started };
  }
}

/** "in 14m", "3h 2m ago". Pure. */
export function relativeTime(deltaMs: number): string {
  const abs = Math.abs(deltaMs);
  const s = Math.round(abs / 1000);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return deltaMs >= 0 ? `in ${text}` : `${text} ago`;
}

export async function checkCredentials(input: CredentialsInput): Promise<CredentialsResult> {
  const now = input.now ?? Date.now;
  const hops: Hop[] = [];
  const helper = input.helper?.trim();
  if (!helper) {
    hops.push(
      hop.fail("credentials.helper", S, "datumctl credentials helper", "config", "DATUM_CREDENTIALS_HELPER is not set", "run it as 'datumctl connect tunnel doctor', or set DATUM_CREDENTIALS_HELPER to the datumctl executable"),
    );
    for (const [id, title] of [
      ["credentials.version", "datumctl version"],
      ["credentials.token", "token minted"],
    ] as const) hops.push(hop.skip(id, S, title, "no credentials helper"));
    return { hops, token: undefined };
  }
  const found = locate(helper, input.env);
  if (!found) {
    hops.push(
      hop.fail("credentials.helper", S, "datumctl credentials helper", "config", `nothing runnable at ${helper}`, "reinstall datumctl, or point DATUM_CREDENTIALS_HELPER at it (was it moved or upgraded?)", { target: helper }),
    );
    for (const [id, title] of [
      ["credentials.version", "datumctl version"],
      ["credentials.token", "token minted"],
    ] as const) hops.push(hop.skip(id, S, title, "no credentials helper"));
    return { hops, token: undefined };
  }
  hops.push(hop.pass("credentials.helper", S, "datumctl credentials helper", `found at ${found}`, { target: helper === found ? null : helper }));

  const version = await helperVersion(found, input.env);
  hops.push(
    version.version
      ? hop.pass("credentials.version", S, "datumctl version", version.version, { ms: version.ms })
      : hop.warn("credentials.version", S, "datumctl version", `unknown (${version.error})`, "'datumctl version' should answer; an old or broken datumctl may also fail to mint tokens", { ms: version.ms }),
  );

  hops.push(
    input.session
      ? hop.pass("credentials.session", S, "datumctl session", `${input.session}${input.sessionOrigin ? ` (from ${input.sessionOrigin})` : ""}`)
      : hop.pass("credentials.session", S, "datumctl session", "none named: datumctl uses its active user"),
  );

  const started = performance.now();
  let token: string;
  try {
    token = await runGetToken({ helper: found, session: input.session, timeoutMs: input.timeoutMs, env: input.env });
  } catch (err) {
    const ms = performance.now() - started;
    if (err instanceof CliError) {
      hops.push(hop.fail("credentials.token", S, "token minted", classOfExit(err.exit), err.message, err.hint ?? "run 'datumctl login', then try again", { ms }));
    } else {
      hops.push(hop.fail("credentials.token", S, "token minted", "unexpected", err instanceof Error ? err.message : String(err), "run 'datumctl auth get-token' by hand to see what fails", { ms }));
    }
    hops.push(hop.skip("credentials.expiry", S, "token expiry", "no token"));
    return { hops, token: undefined };
  }
  hops.push(hop.pass("credentials.token", S, "token minted", `${token.length} characters`, { ms: performance.now() - started }));
  hops.push(expiryHop(tokenExpiryMs(token), now()));
  return { hops, token };
}

/** The token's expiry against the local clock. Pure. */
export function expiryHop(expiresAt: number | undefined, now: number): Hop {
  if (expiresAt === undefined) return hop.pass("credentials.expiry", S, "token expiry", "an opaque token (no exp to read)");
  const when = new Date(expiresAt).toISOString();
  if (expiresAt <= now) {
    return hop.fail("credentials.expiry", S, "token expiry", "auth", `expired ${relativeTime(expiresAt - now).replace(" ago", "")} ago (${when})`, "run 'datumctl login' (or check the clock: see the next line)");
  }
  return hop.pass("credentials.expiry", S, "token expiry", `${relativeTime(expiresAt - now)} (${when})`);
}

/**
 * The local clock against the API server's `Date` header (one-second resolution; half the round
 * trip is allowed for). Pure.
 */
export function clockSkewHop(serverDate: string | null, localAtResponse: number, roundTripMs: number): Hop {
  if (!serverDate) return hop.skip("credentials.clock", S, "clock skew", "the API gave no Date header");
  const server = Date.parse(serverDate);
  if (Number.isNaN(server)) return hop.skip("credentials.clock", S, "clock skew", `unreadable Date header "${serverDate}"`);
  // The header is truncated to the second: the server's now lies in [server, server + 1 s).
  const skew = localAtResponse - roundTripMs / 2 - (server + 500);
  const seen = `${skew >= 0 ? "+" : "-"}${(Math.abs(skew) / 1000).toFixed(1)}s against the API's Date`;
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS + roundTripMs / 2 + 500) {
    return hop.fail("credentials.clock", S, "clock skew", "config", seen, "set this machine's clock right (enable NTP: timedatectl set-ntp true); tokens look expired or not yet valid otherwise");
  }
  return hop.pass("credentials.clock", S, "clock skew", seen);
}
