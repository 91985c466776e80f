/**
 * The datumctl test double's command line (docs/architecture.md#datumctl-double): `datumctl auth get-token
 * [--session S] [-o token|client.authentication.k8s.io/v1] [--error-format human|json|yaml]` with
 * datumctl v0.18.0's exact outputs, errors and exit codes, driven by the state file
 * `$DATUMCTL_DOUBLE_STATE` (re-read on every call) and logging every call to `$DATUMCTL_DOUBLE_LOG`;
 * and dispatcher mode, `datumctl <plugin> <args…>` (docs/architecture.md#datumctl-double, `dispatch.ts`).
 *
 * `main.ts` runs it from source; a compiled executable runs it as its hidden `dev datumctl`
 * subcommand. It is a development tool: the product never imports it.
 */
import { readFileSync, writeSync } from "node:fs";
import { isatty } from "node:tty";
import * as v from "valibot";
import { serviceAccountKeyPath } from "../../context/session-type.ts";
import { GET_TOKEN_USAGE, GET_TOKEN_USAGE_WITHOUT_SESSION, parseArgs, type ErrorFormat } from "./args.ts";
import { LOGGED_ENV, recordEnd, recordStart, type CallRecord } from "./call-log.ts";
import { failures, renderFailure, type DatumctlFailure } from "./messages.ts";
import { authHostOf, flakyCount, parseDoubleState, SessionState, type DoubleState } from "./state.ts";
import { issueToken, readRuntime, writeRuntime, type Runtime, type StoredToken } from "./tokens.ts";
import { dispatchPlugin } from "./dispatch.ts";

const EXEC_CREDENTIAL = "client.authentication.k8s.io/v1";
/** The datumctl release this double stands for. */
export const DOUBLE_VERSION = "v0.18.0";
const UPDATE_NOTICE = "A new version of datumctl is available: v0.18.0 → v0.19.0";

/** Block until a signal ends us; a timer keeps Bun's event loop alive. */
function waitForever(): Promise<never> {
  setInterval(() => undefined, 1 << 30);
  return new Promise<never>(() => undefined);
}

function readState(path: string): DoubleState {
  return parseDoubleState(readFileSync(path, "utf8"), path);
}

function expirationTimestamp(stored: StoredToken, nowSec: number): string {
  // A token without expiry gets now + 5 minutes (docs/wire-facts.md#credentials-helper).
  const exp = stored.exp ?? nowSec + 300;
  return new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Run one datumctl call with `argv` (the arguments after the program name) and exit the process
 * with its code; never returns.
 */
export async function runDatumctlDouble(argv: readonly string[]): Promise<never> {
  // A plugin invocation never reaches datumctl's own commands (docs/wire-facts.md#datumctl);
  // dispatchPlugin exits when it is one.
  await dispatchPlugin(argv);
  // `version --client -o json` (docs/architecture.md#datumctl-double): kubectl-shaped, as the real
  // command prints it. Not a credentials call, so it is not in the call log.
  if (argv[0] === "version") {
    process.stdout.write(`${JSON.stringify({ clientVersion: { gitVersion: DOUBLE_VERSION, platform: `${process.platform}/${process.arch}` } })}\n`);
    process.exit(0);
  }

  const statePath = process.env.DATUMCTL_DOUBLE_STATE;
  const logPath = process.env.DATUMCTL_DOUBLE_LOG;
  const startMs = Date.now();

  const record: CallRecord = {
    ts: new Date(startMs).toISOString(),
    startMs,
    pid: process.pid,
    argv: [...argv],
    cwd: process.cwd(),
    env: Object.fromEntries(LOGGED_ENV.map((name) => [name, process.env[name] ?? null])) as CallRecord["env"],
    stdinIsTTY: isatty(0),
    stderrIsTTY: isatty(2),
    envWithIssuedToken: [],
    argvHasIssuedToken: false,
  };

  function leakCheck(runtime: Runtime): void {
    const issued = runtime.issued.filter((token) => token.length >= 8);
    record.envWithIssuedToken = Object.entries(process.env)
      .filter(([, value]) => value !== undefined && issued.some((token) => value.includes(token)))
      .map(([name]) => name)
      .sort();
    record.argvHasIssuedToken = argv.some((arg) => issued.some((token) => arg.includes(token)));
  }

  /** Write, log and exit. Synchronous writes: a token on a pipe must not be cut short by exit. */
  function finish(code: number, out = "", err = ""): never {
    if (out) writeSync(1, out);
    if (err) writeSync(2, err);
    if (logPath) {
      record.endMs = Date.now();
      record.exitCode = code;
      recordEnd(logPath, record);
    }
    process.exit(code);
  }

  function fail(failure: DatumctlFailure, format: ErrorFormat, prefix = ""): never {
    return finish(1, "", prefix + renderFailure(failure, format));
  }

  // datumctl's main turns SIGINT/SIGTERM into "\nAborted." and exit 130
  // (docs/wire-facts.md#get-token-failures, #output-conventions).
  const onInterrupt = () => finish(130, "", "\nAborted.\n");
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);

  if (logPath) recordStart(logPath, record);
  if (!statePath) return finish(1, "", "error: datumctl double: DATUMCTL_DOUBLE_STATE is not set\n");
  let state: DoubleState;
  try {
    state = readState(statePath);
  } catch (err) {
    return finish(1, "", `error: datumctl double: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  const runtime = readRuntime(statePath);
  leakCheck(runtime);

  const withoutSession = state.fail === "bad-flag";
  const parsed = parseArgs(argv, { withoutSession });
  const usage = withoutSession ? GET_TOKEN_USAGE_WITHOUT_SESSION : GET_TOKEN_USAGE;
  if (!parsed.ok) return fail({ message: parsed.error }, parsed.errorFormat, usage);
  const args = parsed.args;
  const format = args.errorFormat;

  const [group, command, ...extra] = args.positionals;
  if (group === undefined) return finish(0, "datumctl (test double)\n\nUsage:\n  datumctl auth get-token [flags]\n");
  if (group !== "auth") return fail(failures.unknownCommand(group, "datumctl"), format);
  if (command === undefined) return finish(0, "Usage:\n  datumctl auth get-token [flags]\n");
  if (command !== "get-token") return fail(failures.unknownCommand(command, "datumctl auth"), format);
  if (args.help) return finish(0, usage);
  if (extra[0] !== undefined) return fail(failures.unknownCommand(extra[0], "datumctl auth get-token"), format);
  const output = args.output ?? "token";
  if (output !== "token" && output !== EXEC_CREDENTIAL) return fail(failures.badOutput(output), format);

  // Which credentials (docs/wire-facts.md#credentials-helper): the named session's user-key, else the
  // keyring's active user.
  let sessionName: string;
  let session: SessionState;
  const requested = args.session?.trim() ? args.session : undefined;
  if (requested !== undefined) {
    const found = state.sessions[requested];
    if (!found) return fail(failures.noSession(requested), format);
    sessionName = requested;
    session = found;
  } else {
    const active = state.keyringActiveUser?.trim();
    if (!active) return fail(failures.noActiveUser(), format);
    const match = Object.entries(state.sessions).find(([, s]) => s.userKey === active);
    sessionName = match?.[0] ?? active;
    session = match?.[1] ?? v.parse(SessionState, { userKey: active });
  }
  record.session = sessionName;

  const mode = session.fail ?? state.fail ?? null;
  const delayMs = session.delayMs || state.delayMs || (mode === "slow" ? 3_000 : 0);

  if (mode === "hang") {
    // An identity provider that accepted the connection and never answers; the real datumctl
    // would still die of SIGTERM, but a process stuck like this is what the plugin's SIGKILL is for.
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onInterrupt);
    process.on("SIGINT", () => undefined);
    process.on("SIGTERM", () => undefined);
    return waitForever();
  }
  if (mode === "interrupted") return waitForever(); // ends only through "\nAborted." on a signal
  if (delayMs > 0) await Bun.sleep(delayMs);

  if (mode === "config-unreadable") return fail(failures.configUnreadable(), format);
  if (mode === "no-session") return fail(failures.noSession(sessionName), format);
  const userKey = session.userKey.trim();
  if (!userKey || mode === "no-user-key") return fail(failures.noUserKey(sessionName), format);
  if (mode === "no-active-user") return fail(failures.noActiveUser(), format);
  if (mode === "keyring-missing") return fail(failures.keyringMissing(userKey), format);
  if (mode === "keyring-no-token") return fail(failures.keyringNoToken(userKey), format);
  if (mode === "logged-out") return fail(failures.loggedOut(userKey), format);
  const serviceAccount = session.type === "service_account";
  if (mode === "interactive-expired") return fail(failures.interactiveExpired(), format);
  if (mode === "sa-revoked") return fail(failures.saRevoked(), format);
  if (mode === "sa-keyfile-missing") {
    const path = serviceAccountKeyPath(userKey, process.env) ?? "service-accounts/<key>.pem";
    return fail(failures.saKeyfileMissing(path), format);
  }
  if (mode === "sa-no-key") return fail(failures.saNoKey(), format);
  if (mode === "sa-bad-key") return fail(failures.saBadKey(), format);
  if (mode === "network") return fail(failures.network(authHostOf(userKey), serviceAccount), format);

  const calls = (runtime.calls[userKey] ?? 0) + 1;
  runtime.calls[userKey] = calls;
  const flaky = flakyCount(mode);
  if (flaky !== undefined && calls <= flaky) {
    writeRuntime(statePath, runtime);
    return fail(failures.network(authHostOf(userKey), serviceAccount), format);
  }

  const nowSec = Math.floor(Date.now() / 1000);
  const stored = issueToken(runtime, {
    userKey,
    spec: session.token,
    nowSec,
    expired: mode === "expired-token",
    nearExpiry: mode === "sticky-near-expiry",
  });
  writeRuntime(statePath, runtime);

  const noise = mode === "stderr-noise" ? `${UPDATE_NOTICE}\n` : "";
  if (output === EXEC_CREDENTIAL) {
    const credential = {
      kind: "ExecCredential",
      apiVersion: EXEC_CREDENTIAL,
      spec: { interactive: false },
      status: { expirationTimestamp: expirationTimestamp(stored, nowSec), token: stored.token },
    };
    return finish(0, JSON.stringify(credential, null, 2), noise);
  }
  const newline = mode === "stdout-trailing-newline" ? "\n" : "";
  return finish(0, stored.token + newline, noise);
}
