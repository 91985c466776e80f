/**
 * One call of datumctl's credentials helper: `$DATUM_CREDENTIALS_HELPER auth get-token [--session S]`
 * (docs/wire-facts.md#credentials-helper, #token-refresh; docs/architecture.md#tokens).
 *
 * What we add to the Go SDK's contract, and why:
 * - stderr is always piped: with a non-TTY stderr datumctl skips its update check and can never
 *   self-update or re-exec mid-call; `DATUMCTL_NO_UPDATE_CHECK=1` says the same explicitly.
 * - our own timeout (default 45 s): an interactive refresh has no upper bound in datumctl. On expiry
 *   the helper's whole process group gets SIGKILL (a wrapper script that did not `exec` cannot
 *   leave datumctl running) and we wait for the exit, so nothing is left as a zombie.
 * - calls are serialized process-wide: datumctl has no file lock, and two concurrent refreshes of
 *   one interactive session can burn a rotating refresh token (docs/wire-facts.md#token-refresh).
 * - the child environment drops every token-like variable, and error text is scrubbed of the
 *   secrets the caller names: the token never reaches argv, a child environment, a log or an error.
 *
 * Classification of failures into our exit codes is a pure function (`classifyOutcome`), tested by a
 * table; `runGetToken` only performs the I/O.
 */
import { statSync } from "node:fs";
import { ConfigError, NotAuthenticated, type CliError } from "../errors.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_HELPER_TIMEOUT_MS = 45_000;
/** Overrides `DEFAULT_HELPER_TIMEOUT_MS` (milliseconds): for tests, and for unusually slow identity providers. */
export const HELPER_TIMEOUT_ENV = "DATUM_CONNECT_HELPER_TIMEOUT_MS";

/** The per-call helper timeout from `DATUM_CONNECT_HELPER_TIMEOUT_MS`, else the default (45 s). */
export function helperTimeoutMs(env: Env): number {
  const raw = env[HELPER_TIMEOUT_ENV]?.trim();
  if (!raw) return DEFAULT_HELPER_TIMEOUT_MS;
  const ms = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new ConfigError(`${HELPER_TIMEOUT_ENV} must be a whole number of milliseconds, not '${raw}'`, `unset it to use the default (${DEFAULT_HELPER_TIMEOUT_MS / 1000}s)`);
  }
  return ms;
}
/** Cap on what we read from the helper's stdout and stderr; a token is a few KiB at most. */
const MAX_OUTPUT_BYTES = 1 << 20;
/** After the helper exits, how long its pipes may stay open (held by a stray grandchild). */
const PIPE_DRAIN_MS = 1_000;

export interface GetTokenRequest {
  /** `DATUM_CREDENTIALS_HELPER` (or the path a persisted tunnel recorded). */
  helper: string | undefined;
  /** Passed as `--session` only when non-empty (docs/wire-facts.md#credentials-helper). */
  session?: string | undefined;
  timeoutMs?: number;
  /** The environment to derive the child's from; `process.env` by default. */
  env?: Env;
  signal?: AbortSignal;
  /** Values to keep out of the child environment and out of error text (e.g. the current token). */
  secrets?: readonly string[];
}

/** Everything that can come back from one attempt, before classification. */
export type HelperOutcome =
  | { kind: "unset" }
  | { kind: "spawn-error"; helper: string; code: string | undefined; message: string; target: PathKind }
  | { kind: "timeout"; timeoutMs: number; session: string | undefined }
  | { kind: "exit"; exitCode: number | null; signal: string | null; stdout: string; stderr: string };

/** What is at the helper path, to explain a spawn failure. */
export type PathKind = "missing" | "directory" | "file" | "other";

export function getTokenArgv(session?: string): string[] {
  const name = session?.trim();
  return name ? ["auth", "get-token", "--session", name] : ["auth", "get-token"];
}

const TOKEN_LIKE =
  /(^|_)(TOKENS?|SECRETS?|PASSWORD|PASSWD|PASSPHRASE|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?|BEARER|AUTHORIZATION|COOKIE)($|_)/;

/** Names that may carry a secret (`DATUM_ACCESS_TOKEN`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, ...). */
export function isTokenLikeName(name: string): boolean {
  const upper = name.toUpperCase();
  // A path to datumctl, not a secret; kept so a helper that re-invokes itself still finds it.
  if (upper === "DATUM_CREDENTIALS_HELPER") return false;
  return TOKEN_LIKE.test(upper);
}

/** A JWT (`eyJ…` header) or an Authorization value anywhere in a variable: a credential, whatever its name. */
const TOKEN_LIKE_VALUE = /(^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|^\s*Bearer\s/i;

export function isTokenLikeValue(value: string): boolean {
  return TOKEN_LIKE_VALUE.test(value);
}

/** Secrets shorter than this are not matched by value: they would match innocent text. */
const MIN_SECRET_LENGTH = 8;

function realSecrets(secrets: readonly string[] | undefined): string[] {
  return (secrets ?? []).filter((s) => s.length >= MIN_SECRET_LENGTH);
}

/**
 * The helper's environment: ours, minus anything token-like — by name, by JWT- or Bearer-shaped
 * value, or by containing one of `secrets` — plus `DATUMCTL_NO_UPDATE_CHECK=1`.
 */
export function helperChildEnv(env: Env, secrets?: readonly string[]): Record<string, string> {
  const known = realSecrets(secrets);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isTokenLikeName(name) || isTokenLikeValue(value)) continue;
    if (known.some((secret) => value.includes(secret))) continue;
    out[name] = value;
  }
  out.DATUMCTL_NO_UPDATE_CHECK = "1";
  return out;
}

export function redact(text: string, secrets?: readonly string[]): string {
  let out = text;
  for (const secret of realSecrets(secrets)) out = out.split(secret).join("[redacted]");
  return out;
}

/** datumctl's human error format: `error: <message>`, then an optional hint line (docs/wire-facts.md#get-token-failures). */
export function splitHelperStderr(stderr: string): { message?: string; hint?: string } {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const first = lines[0]?.replace(/^error:\s*/i, "");
  const result: { message?: string; hint?: string } = {};
  if (first) result.message = first;
  if (lines[1]) result.hint = lines[1];
  return result;
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : Number(seconds.toFixed(1))}s`;
}

const SET_HELPER_HINT =
  "run it as 'datumctl connect ...', or set DATUM_CREDENTIALS_HELPER to the path of the datumctl executable";

function spawnHint(outcome: Extract<HelperOutcome, { kind: "spawn-error" }>): string {
  const { helper, code, target } = outcome;
  if (target === "directory") return `${helper} is a directory; point DATUM_CREDENTIALS_HELPER at the datumctl executable`;
  if (code === "EACCES") return `${helper} is not executable; reinstall datumctl or fix its permissions`;
  if (code === "ENOEXEC") return `${helper} is not a program this system can run; reinstall datumctl`;
  if (code === "ENOENT" && target === "file") {
    return `${helper} exists but could not be started (a missing interpreter?); reinstall datumctl`;
  }
  if (code === "ENOENT" || target === "missing") {
    return `nothing is there (was datumctl moved or upgraded?); reinstall datumctl, or point DATUM_CREDENTIALS_HELPER at it`;
  }
  return `it could not be started (${outcome.message}); reinstall datumctl or fix DATUM_CREDENTIALS_HELPER`;
}

/** A hint for datumctl failures that come without one. */
function helperHint(message: string): string | undefined {
  const session = /^no session named "([^"]*)"/.exec(message)?.[1];
  if (session === undefined) return undefined;
  return `datumctl has no session "${session}" (any more): 'datumctl auth list' shows the sessions it has; log in again to recreate it (a local Datum started on another --dir is a new cloud: source its new env file)`;
}

/**
 * Turn one attempt's outcome into the token or the error the user sees. Pure.
 * `secrets` are scrubbed from every text that reaches the error.
 */
export function classifyOutcome(outcome: HelperOutcome, secrets?: readonly string[]): string | CliError {
  switch (outcome.kind) {
    case "unset":
      return new ConfigError("DATUM_CREDENTIALS_HELPER is not set; is this plugin running via datumctl?", SET_HELPER_HINT);
    case "spawn-error":
      return new ConfigError(`credentials helper not found at ${outcome.helper}`, spawnHint(outcome));
    case "timeout": {
      const byHand = outcome.session ? `datumctl auth get-token --session ${outcome.session}` : "datumctl auth get-token";
      return new NotAuthenticated(
        `datumctl auth get-token did not answer within ${formatSeconds(outcome.timeoutMs)}`,
        `the identity provider may be unreachable; run '${byHand}' by hand to see what it waits for`,
      );
    }
    case "exit": {
      const token = outcome.stdout.trim();
      // Whatever the helper printed on stdout is secret too, even on failure.
      const scrub = [...(secrets ?? []), ...(token ? [token] : [])];
      if (outcome.exitCode !== 0) {
        const stderr = redact(outcome.stderr.trim(), scrub);
        const { message, hint } = splitHelperStderr(stderr);
        if (message) {
          return new NotAuthenticated(`datumctl auth get-token failed: ${message}`, hint ?? helperHint(message), stderr);
        }
        const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with status ${outcome.exitCode}`;
        return new NotAuthenticated(`datumctl auth get-token ${how}`, "run 'datumctl login', then try again");
      }
      if (token === "") {
        return new NotAuthenticated(
          "datumctl returned an empty access token",
          "run 'datumctl auth get-token' by hand to check the session",
        );
      }
      // A banner or a second line on stdout would become part of an Authorization header.
      if (/[\s\x00-\x1f\x7f]/.test(token)) {
        return new NotAuthenticated(
          "datumctl auth get-token printed more than a token on stdout",
          "run 'datumctl auth get-token' by hand; its stdout must hold only the token",
        );
      }
      return token;
    }
  }
}

function pathKind(path: string): PathKind {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? "directory" : stat.isFile() ? "file" : "other";
  } catch {
    return "missing";
  }
}

/** Read a child's pipe to the end (bounded), cancellable when the child is gone but the pipe is not. */
function collect(stream: ReadableStream<Uint8Array>): { done: Promise<string>; cancel(): void } {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const done = (async () => {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      if (size < MAX_OUTPUT_BYTES) chunks.push(value);
      size += value.byteLength;
    }
    return Buffer.concat(chunks).subarray(0, MAX_OUTPUT_BYTES).toString("utf8");
  })().catch(() => Buffer.concat(chunks).toString("utf8"));
  return {
    done,
    cancel: () => {
      reader.cancel().catch(() => undefined);
    },
  };
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

/** Kill the helper and everything it started: it leads its own process group (`detached`). */
function killTree(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

async function attempt(req: GetTokenRequest): Promise<HelperOutcome> {
  const helper = req.helper?.trim();
  if (!helper) return { kind: "unset" };
  const timeoutMs = req.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  const signal = req.signal;
  if (signal?.aborted) throw abortError(signal);

  let proc: ReturnType<typeof Bun.spawn<"ignore", "pipe", "pipe">>;
  try {
    proc = Bun.spawn([helper, ...getTokenArgv(req.session)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: helperChildEnv(req.env ?? process.env, req.secrets),
      // Own process group: the timeout kills the whole group, and a Ctrl+C on our terminal is
      // handled by us (we abort the call) rather than racing datumctl's own "Aborted." exit.
      detached: true,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { kind: "spawn-error", helper, code: e.code, message: e.message, target: pathKind(helper) };
  }

  const stdout = collect(proc.stdout);
  const stderr = collect(proc.stderr);
  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(proc.pid);
  }, timeoutMs);
  const onAbort = () => {
    aborted = true;
    killTree(proc.pid);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await proc.exited; // also reaps the child: no zombie is left behind
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }

  if (timedOut || aborted) {
    stdout.cancel();
    stderr.cancel();
    if (aborted && signal) throw abortError(signal);
    return { kind: "timeout", timeoutMs, session: req.session?.trim() || undefined };
  }
  // A grandchild may still hold the pipes open; do not wait for it forever.
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([
    Promise.all([stdout.done, stderr.done]),
    new Promise<undefined>((resolve) => {
      drainTimer = setTimeout(resolve, PIPE_DRAIN_MS, undefined);
    }),
  ]);
  // Cleared, so a one-shot command does not linger for the drain window after its last call.
  clearTimeout(drainTimer);
  if (!drained) {
    stdout.cancel();
    stderr.cancel();
  }
  const [out, err] = drained ?? [await stdout.done, await stderr.done];
  const killedBy = proc.signalCode;
  return {
    kind: "exit",
    exitCode: proc.exitCode,
    signal: killedBy == null ? null : String(killedBy),
    stdout: out,
    stderr: err,
  };
}

let queue: Promise<unknown> = Promise.resolve();

/** Run `fn` after every earlier helper call in this process has finished. */
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

/**
 * Run the helper once and return the access token, or throw the classified `CliError`
 * (`ConfigError` 78 when the helper is unset or cannot start, `NotAuthenticated` 77 otherwise).
 * Aborting `signal` kills the helper and rejects with the signal's reason.
 */
export function runGetToken(req: GetTokenRequest): Promise<string> {
  return serialized(async () => {
    const result = classifyOutcome(await attempt(req), req.secrets);
    if (typeof result !== "string") throw result;
    return result;
  });
}
