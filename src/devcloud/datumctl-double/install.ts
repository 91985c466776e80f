/**
 * Set up the datumctl test double in a directory: a state file, a call log path, and an executable
 * POSIX sh wrapper `<dir>/bin/datumctl` to export as `DATUM_CREDENTIALS_HELPER` (or put on `PATH`).
 * On Windows, which cannot start a sh script, the wrapper is a batch file, `<dir>\bin\datumctl.cmd`,
 * doing the same (`cmdWrapperScript`).
 *
 * The wrapper `exec`s the running Bun (`process.execPath`) on `main.ts` by absolute paths, so it
 * works without `bun` on `PATH` and keeps one PID (what the plugin spawns is what it kills). Inside
 * a compiled executable there is no `main.ts` on disk and `process.execPath` is the executable
 * itself, so the wrapper runs `<executable> dev datumctl -- …` (a hidden subcommand) instead. It
 * also carries the state and log paths as defaults, so the double keeps working under a scrubbed
 * environment; `DATUMCTL_DOUBLE_STATE` / `DATUMCTL_DOUBLE_LOG` in the environment still win. And it
 * exports its own path as `DATUMCTL_DOUBLE_SELF`, which dispatcher mode hands a plugin as
 * `DATUM_CREDENTIALS_HELPER`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { isCompiled } from "../../daemon/self-command.ts";
import { writeDatumctlConfig, writeServiceAccountKeyFile, type DatumctlConfigSpec } from "./config-files.ts";
import {
  DoubleState,
  parseDoubleState,
  type DoubleStateInput,
  type FailMode,
  type SessionStateInput,
  type TokenSpec,
} from "./state.ts";

export const DEFAULT_DOUBLE_SESSION = "alice@example.com@api.datum.net";

export interface InstallDatumctlDoubleOptions {
  /** Whose wrapper to write: a batch file for `win32`, else a sh script (default: this platform). */
  platform?: NodeJS.Platform;
  /** Session name `<email>@<api host>`; default `alice@example.com@api.datum.net`. */
  session?: string;
  type?: "interactive" | "service_account";
  /** Default: the session name's part after its last `@`. */
  apiHost?: string;
  /** Default: the API host with `api.` → `auth.` (datumctl's derivation), else `auth.datum.net`. */
  authHost?: string;
  /** The session's `endpoint.server` in the written config; default `https://<apiHost>`. */
  server?: string;
  org?: string;
  project?: string;
  token?: Partial<TokenSpec>;
  fail?: FailMode | null;
  delayMs?: number;
  /** More sessions, by name, in the state file's format. */
  extraSessions?: Record<string, SessionStateInput>;
  /** The keyring's `active_user`; default the session's user-key; `null` for "never logged in". */
  keyringActiveUser?: string | null;
  /** Also write a matching `<home>/.datumctl/config`. */
  home?: string;
  /** Also write the service account's key file under this `UserConfigDir` (service-account sessions). */
  userConfigDir?: string;
  /**
   * Keep a state file already in `dir` (its sessions, context and failure modes) instead of
   * writing a fresh one: a local Datum restarted on its `--dir` keeps its datumctl double as it was.
   */
  keepState?: boolean;
}

export interface InstalledDatumctlDouble {
  dir: string;
  /** `<dir>/bin/datumctl` (`datumctl.cmd` on Windows): the value for `DATUM_CREDENTIALS_HELPER`. */
  helperPath: string;
  statePath: string;
  logPath: string;
  session: string;
  userKey: string;
  /** The `~/.datumctl/config` written, with `home`. */
  configPath?: string;
  /** The key file written, with `userConfigDir` and a service-account session. */
  keyPath?: string;
  /** What was (or would be) written as `~/.datumctl/config`. */
  config: DatumctlConfigSpec;
}

/** Absolute path of the double's entry point. */
export function datumctlDoubleMain(): string {
  return fileURLToPath(new URL("./main.ts", import.meta.url));
}

function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * What runs the double: Bun on `main.ts` from source (`--no-env-file`: a `.env` in the caller's
 * directory must not change it), or the compiled executable's hidden `dev datumctl` subcommand,
 * whose `--` keeps the CLI's own flag parsing away from datumctl's flags.
 */
export function doubleCommand(): string[] {
  if (isCompiled()) return [process.execPath, "dev", "datumctl", "--"];
  return [process.execPath, "--no-env-file", datumctlDoubleMain()];
}

/** The wrapper script around `command` (an argv prefix, e.g. `doubleCommand()`). */
export function wrapperScript(command: readonly string[], statePath: string, logPath: string): string {
  return [
    "#!/bin/sh",
    "# datumctl test double (src/devcloud/datumctl-double), written by installDatumctlDouble().",
    `: "\${DATUMCTL_DOUBLE_STATE:=${statePath.replace(/["\\$`]/g, "\\$&")}}"`,
    `: "\${DATUMCTL_DOUBLE_LOG:=${logPath.replace(/["\\$`]/g, "\\$&")}}"`,
    'DATUMCTL_DOUBLE_SELF="$0"',
    "export DATUMCTL_DOUBLE_STATE DATUMCTL_DOUBLE_LOG DATUMCTL_DOUBLE_SELF",
    `exec ${command.map(shQuote).join(" ")} "$@"`,
    "",
  ].join("\n");
}

/** `%` doubled: inside a batch file a single one starts a variable reference. */
function cmdLiteral(value: string): string {
  return value.replace(/%/g, "%%");
}

/** A batch-file argument: quoted (Windows paths hold no `"`), `%` doubled. */
function cmdQuote(value: string): string {
  if (value.includes('"')) throw new Error(`cannot put ${value} in a batch file: it contains a double quote`);
  return `"${cmdLiteral(value)}"`;
}

/**
 * The Windows wrapper around `command`: the same defaults and `DATUMCTL_DOUBLE_SELF` as
 * `wrapperScript`, as a batch file (`%~f0` is its own full path), leaving with the double's exit code.
 */
export function cmdWrapperScript(command: readonly string[], statePath: string, logPath: string): string {
  return [
    "@echo off",
    "rem datumctl test double (src/devcloud/datumctl-double), written by installDatumctlDouble().",
    "setlocal",
    `if not defined DATUMCTL_DOUBLE_STATE set "DATUMCTL_DOUBLE_STATE=${cmdLiteral(statePath)}"`,
    `if not defined DATUMCTL_DOUBLE_LOG set "DATUMCTL_DOUBLE_LOG=${cmdLiteral(logPath)}"`,
    'set "DATUMCTL_DOUBLE_SELF=%~f0"',
    `${command.map(cmdQuote).join(" ")} %*`,
    "exit /b %ERRORLEVEL%",
    "",
  ].join("\r\n");
}

/** The wrapper's file name and text for `platform`: a sh script, or a batch file on Windows. */
export function wrapperFor(platform: NodeJS.Platform, command: readonly string[], statePath: string, logPath: string): { file: string; text: string } {
  return platform === "win32"
    ? { file: "datumctl.cmd", text: cmdWrapperScript(command, statePath, logPath) }
    : { file: "datumctl", text: wrapperScript(command, statePath, logPath) };
}

export function writeDoubleState(statePath: string, state: DoubleStateInput): void {
  // Validate on write too: a test's typo fails here, at its source, not in a child's stderr.
  const parsed = v.parse(DoubleState, state);
  const tmp = `${statePath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(parsed, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, statePath);
}

export function readDoubleState(statePath: string): DoubleState {
  return parseDoubleState(readFileSync(statePath, "utf8"), statePath);
}

/** Read, change, write back: how tests switch failure modes between calls. */
export function updateDoubleState(statePath: string, change: (state: DoubleState) => void): DoubleState {
  const state = readDoubleState(statePath);
  change(state);
  writeDoubleState(statePath, state);
  return state;
}

function splitSessionName(session: string): { email: string; apiHost: string } {
  const at = session.lastIndexOf("@");
  return at > 0 ? { email: session.slice(0, at), apiHost: session.slice(at + 1) } : { email: session, apiHost: "api.datum.net" };
}

export function installDatumctlDouble(dir: string, options: InstallDatumctlDoubleOptions = {}): InstalledDatumctlDouble {
  const session = options.session ?? DEFAULT_DOUBLE_SESSION;
  const split = splitSessionName(session);
  const apiHost = options.apiHost ?? split.apiHost;
  const authHost = options.authHost ?? (apiHost.startsWith("api.") ? `auth.${apiHost.slice(4)}` : "auth.datum.net");
  const userKey = `${split.email}@${authHost}`;
  const type = options.type ?? "interactive";

  const binDir = join(dir, "bin");
  mkdirSync(binDir, { recursive: true });
  const statePath = join(dir, "datumctl-double.state.json");
  const logPath = join(dir, "datumctl-double.calls.jsonl");

  // The keyring's api_hostname, what dispatcher mode hands a plugin as DATUM_API_HOST
  // (docs/wire-facts.md#plugin-environment). datumctl stores a bare host, which a plugin reads as https;
  // a local Datum serving plain http (`server` `http://…`) keeps its scheme here, or no plugin dispatched
  // by the double could reach it.
  const keyringApiHost = options.server?.startsWith("http://") ? options.server : apiHost;
  const primary: SessionStateInput = { userKey, type, apiHost: keyringApiHost, token: { ...options.token }, fail: options.fail ?? null };
  if (options.delayMs !== undefined) primary.delayMs = options.delayMs;
  const org = options.org ?? "acme";
  const project = options.project ?? "web";
  const kept = options.keepState === true && existsSync(statePath) ? readDoubleState(statePath) : undefined;
  if (!kept) writeDoubleState(statePath, {
    keyringActiveUser: options.keyringActiveUser === undefined ? userKey : options.keyringActiveUser,
    activeSession: session,
    currentContext: { session, org, project },
    sessions: { ...options.extraSessions, [session]: primary },
  });

  const { file, text } = wrapperFor(options.platform ?? process.platform, doubleCommand(), statePath, logPath);
  const helperPath = join(binDir, file);
  const tmp = `${helperPath}.tmp`;
  writeFileSync(tmp, text);
  chmodSync(tmp, 0o755);
  renameSync(tmp, helperPath);

  const config: DatumctlConfigSpec = {
    sessions: [
      {
        name: session,
        userKey,
        email: split.email,
        server: options.server ?? `https://${apiHost}`,
        authHostname: authHost,
        lastContext: `${session}/${org}/${project}`,
      },
    ],
    contexts: [{ session, org }, { session, org, project }],
    currentContext: { session, org, project },
    activeSession: session,
  };
  const installed: InstalledDatumctlDouble = { dir, helperPath, statePath, logPath, session, userKey, config };
  if (options.home) installed.configPath = writeDatumctlConfig(options.home, config);
  if (options.userConfigDir && type === "service_account") {
    installed.keyPath = writeServiceAccountKeyFile(options.userConfigDir, userKey);
  }
  return installed;
}
