/**
 * Dispatcher mode of the datumctl double (docs/architecture.md#datumctl-double): `datumctl <name> <args…>`
 * runs a plugin the way datumctl v0.18.0 does (docs/wire-facts.md#datumctl, #plugin-environment).
 *
 * - Lookup (docs/wire-facts.md#datumctl): the managed directory (`$DATUMCTL_PLUGINS_DIR`, default
 *   `~/.datumctl/plugins`): `<name>`, then the legacy `datumctl-<name>`, regular files only; then
 *   `datumctl-<name>` and `milo-<name>` on `PATH`. Not found: not a plugin call; the double's own
 *   commands answer.
 * - Trust (docs/wire-facts.md#datumctl): a managed binary must match its `plugins.json` sha256 (a legacy
 *   unrecorded `datumctl-<name>` runs unchecked); a PATH binary runs only when `DATUMCTL_TRUSTED_PLUGINS`
 *   names it or `plugins.json` `trusted.<name>` records its resolved path and current hash. Refusals
 *   print datumctl's exact messages and exit 1.
 * - ForwardPlugin: argv after the name verbatim, the six `DATUM_*` variables of
 *   docs/wire-facts.md#plugin-environment computed from the double's state by the real rules, laid over
 *   the inherited environment; the plugin's exit code (or its fatal signal) is ours.
 * - ForwardHelp: any `-h`/`--help` after the name: the same run with the plain inherited
 *   environment (no `DATUM_*`), no integrity check.
 * - ForwardCompletion: `datumctl __complete <name> <args…>` runs `<plugin> __complete <args…>` with
 *   the `DATUM_*` variables; an untrusted PATH plugin is skipped.
 *
 * datumctl `exec`s on Unix; Bun cannot, so the plugin is a child with inherited stdio. Signals sent
 * to the double are passed on, except SIGINT/SIGQUIT/SIGHUP while stdin is a terminal: those come
 * from the terminal to the whole foreground process group, so the plugin already has them (passing
 * them on would deliver a Ctrl+C twice). Dispatches are not written to the call log, which records
 * the plugin's own calls (docs/architecture.md#datumctl-double).
 */
import { createHash } from "node:crypto";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { isatty } from "node:tty";
import { parseDoubleState, type DoubleState } from "./state.ts";

/** datumctl's built-ins and reserved names always win over a plugin of the same name (docs/wire-facts.md#datumctl). */
const BUILT_IN = new Set(["auth", "api", "login", "logout", "plugin", "version", "help", "completion", "__complete", "__completeNoDesc"]);

/** Variables only the double's wrapper uses; never handed to a plugin. */
const DOUBLE_INTERNAL = ["DATUMCTL_DOUBLE_SELF"];

export interface FoundPlugin {
  /** Absolute; symlinks resolved for PATH plugins (what the trust record names). */
  readonly path: string;
  /** The file name datumctl looked up (`datumctl-connect`), before symlinks are resolved. */
  readonly name: string;
  readonly managed: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

export function pluginsDir(env: Env): string {
  const dir = env.DATUMCTL_PLUGINS_DIR?.trim();
  return dir ? resolve(dir) : join(env.HOME?.trim() || homedir(), ".datumctl", "plugins");
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** docs/wire-facts.md#datumctl: managed `<name>`, managed `datumctl-<name>`, then `datumctl-<name>` / `milo-<name>` on PATH. */
export function findPlugin(name: string, env: Env): FoundPlugin | undefined {
  const windows = process.platform === "win32";
  const dir = pluginsDir(env);
  const managed = windows ? [name, `${name}.exe`, `datumctl-${name}`, `datumctl-${name}.exe`] : [name, `datumctl-${name}`];
  for (const candidate of managed) {
    const path = join(dir, candidate);
    if (isFile(path)) return { path: resolve(path), name: candidate, managed: true };
  }
  for (const prefix of ["datumctl-", "milo-"]) {
    const found = Bun.which(`${prefix}${name}`, { PATH: env.PATH ?? "" });
    if (!found) continue;
    let path = resolve(found);
    try {
      path = realpathSync(path);
    } catch {
      // Keep the unresolved path; exec reports any problem.
    }
    return { path, name: `${prefix}${name}`, managed: false };
  }
  return undefined;
}

function sha256Of(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

interface PluginsJson {
  plugins?: Record<string, { sha256?: string } | null>;
  trusted?: Record<string, { path?: string; sha256?: string } | null>;
}

/** `plugins.json`; `{}` when absent, `undefined` when unreadable or not JSON. */
function readPluginsJson(dir: string): PluginsJson | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, "plugins.json"), "utf8");
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? {} : undefined;
  }
  try {
    return JSON.parse(text) as PluginsJson;
  } catch {
    return undefined;
  }
}

/** datumctl's `VerifyManagedPluginIntegrity`: the error message, or undefined when it may run. */
export function managedIntegrityError(name: string, plugin: FoundPlugin, env: Env): string | undefined {
  const base = basename(plugin.path);
  const legacy = base === `datumctl-${name}` || (process.platform === "win32" && base === `datumctl-${name}.exe`);
  const record = readPluginsJson(pluginsDir(env));
  if (!record) {
    return legacy
      ? undefined
      : `plugin ${name} has no verifiable install record (cannot read plugins.json); run 'datumctl plugin install ${name}' to (re)install it`;
  }
  const sha = record.plugins?.[name]?.sha256;
  if (!sha) return legacy ? undefined : `plugin ${name} is not a recorded managed plugin; run 'datumctl plugin install ${name}' to install it`;
  if (sha256Of(plugin.path).toLowerCase() !== sha.toLowerCase()) {
    return `plugin ${name} binary has been modified since install; run 'datumctl plugin install ${name}' to reinstall`;
  }
  return undefined;
}

/** docs/wire-facts.md#datumctl trust of a PATH plugin: `DATUMCTL_TRUSTED_PLUGINS`, or a `trusted.<name>` record of path and hash. */
export function isTrusted(name: string, plugin: FoundPlugin, env: Env): boolean {
  const names = (env.DATUMCTL_TRUSTED_PLUGINS ?? "").split(",").map((n) => n.trim());
  if (names.includes(name)) return true;
  const entry = readPluginsJson(pluginsDir(env))?.trusted?.[name];
  if (!entry?.path || !entry.sha256 || entry.path !== plugin.path) return false;
  try {
    return sha256Of(plugin.path).toLowerCase() === entry.sha256.toLowerCase();
  } catch {
    return false;
  }
}

/** The three-line refusal of an untrusted PATH plugin (docs/wire-facts.md#datumctl), as datumctl's root command prints it. */
export function untrustedMessage(name: string, plugin: FoundPlugin): string {
  return (
    `error: '${plugin.name}' is an unmanaged plugin that has not been trusted.\n` +
    `  To allow it: datumctl plugin trust ${name}\n` +
    `  To install as a managed plugin: datumctl plugin install ${name}\n`
  );
}

function readState(env: Env): DoubleState | undefined {
  const path = env.DATUMCTL_DOUBLE_STATE;
  if (!path) return undefined;
  try {
    return parseDoubleState(readFileSync(path, "utf8"), path);
  } catch {
    return undefined;
  }
}

/** The double's own absolute path, symlinks resolved (datumctl: `os.Executable` + `EvalSymlinks`). */
export function selfPath(env: Env): string {
  const self = env.DATUMCTL_DOUBLE_SELF || process.argv[1] || process.execPath;
  const absolute = resolve(process.cwd(), self);
  try {
    return realpathSync(absolute);
  } catch {
    return absolute;
  }
}

/**
 * The six variables of docs/wire-facts.md#plugin-environment from the double's state, by datumctl
 * v0.18.0's rules:
 * - scope: `DATUM_PROJECT` / `DATUM_ORGANIZATION` from the environment, else the current context;
 *   a project context gives the project only (`DATUM_ORG=""`), an org context the org only; both
 *   variables set, or an unreadable config, is a scope error and both are `""`;
 * - `DATUM_API_HOST`: the keyring active user's API host (its session's `apiHost`), else its auth
 *   host with `auth.` → `api.`; `""` without an active user;
 * - `DATUM_SESSION`: the config's `active-session` as stored;
 * - `DATUM_CREDENTIALS_HELPER`: the double's own path; `DATUM_PLUGIN_API_VERSION`: `1`.
 */
export function pluginEnv(state: DoubleState | undefined, env: Env, self: string): Record<string, string> {
  const unreadable = state === undefined || state.fail === "config-unreadable";
  let project = "";
  let org = "";
  if (!unreadable) {
    const envProject = env.DATUM_PROJECT ?? "";
    const envOrg = env.DATUM_ORGANIZATION ?? "";
    if (envProject && envOrg) {
      // "cannot use both": a scope error, so both stay empty.
    } else if (envProject) {
      project = envProject;
    } else if (envOrg) {
      org = envOrg;
    } else if (state.currentContext) {
      if (state.currentContext.project) project = state.currentContext.project;
      else org = state.currentContext.org;
    }
  }
  let apiHost = "";
  const active = state?.keyringActiveUser?.trim();
  if (state && active) {
    const session = Object.values(state.sessions).find((s) => s.userKey === active);
    if (session?.apiHost) {
      apiHost = session.apiHost;
    } else {
      const at = active.lastIndexOf("@");
      const authHost = at >= 0 ? active.slice(at + 1) : "";
      apiHost = authHost.startsWith("auth.") ? `api.${authHost.slice(5)}` : authHost;
    }
  }
  return {
    DATUM_ORG: org,
    DATUM_PROJECT: project,
    DATUM_API_HOST: apiHost,
    DATUM_PLUGIN_API_VERSION: "1",
    DATUM_CREDENTIALS_HELPER: self,
    DATUM_SESSION: unreadable ? "" : (state.activeSession ?? ""),
  };
}

function baseEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !DOUBLE_INTERNAL.includes(key)) out[key] = value;
  }
  return out;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

/** Run the plugin as our stand-in for `exec`, then leave with its exit code or its fatal signal. */
async function runPlugin(path: string, args: readonly string[], env: Record<string, string>): Promise<never> {
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn([path, ...args], { env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const fromTerminal = isatty(0);
  const handlers: [NodeJS.Signals, () => void][] = [];
  for (const signal of Object.keys(SIGNAL_NUMBERS) as NodeJS.Signals[]) {
    const handler = () => {
      if (fromTerminal && signal !== "SIGTERM") return;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    process.on(signal, handler);
    handlers.push([signal, handler]);
  }
  const code = await child.exited;
  const signal = child.signalCode;
  if (signal) {
    // Die the way the plugin did, as an exec'd datumctl would have.
    for (const [s, h] of handlers) process.off(s, h);
    process.kill(process.pid, signal);
    await Bun.sleep(1_000);
    process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
  }
  process.exit(code);
}

/**
 * If `argv` is a plugin invocation, run the plugin and exit (never returns); else return so the
 * double's own commands answer.
 */
export async function dispatchPlugin(argv: readonly string[], env: Env = process.env): Promise<void> {
  if (argv[0] === "__complete") {
    const name = argv[1];
    if (name === undefined || name.startsWith("-") || BUILT_IN.has(name)) return;
    const plugin = findPlugin(name, env);
    if (!plugin) return;
    // Untrusted or tampered binaries are skipped silently, as datumctl does on a tab press.
    if (plugin.managed ? managedIntegrityError(name, plugin, env) !== undefined : !isTrusted(name, plugin, env)) return;
    const overlay = pluginEnv(readState(env), env, selfPath(env));
    return runPlugin(plugin.path, ["__complete", ...argv.slice(2)], { ...baseEnv(env), ...overlay });
  }

  const name = argv[0];
  if (name === undefined || name.startsWith("-") || BUILT_IN.has(name)) return;
  const plugin = findPlugin(name, env);
  if (!plugin) return;
  const args = argv.slice(1);

  if (args.some((a) => a === "-h" || a === "--help")) {
    if (!plugin.managed && !isTrusted(name, plugin, env)) {
      // ForwardHelp names the symlink-resolved file (`filepath.Base` after `EvalSymlinks`).
      process.stderr.write(`error: '${basename(plugin.path)}' is an unmanaged plugin that has not been trusted; run: datumctl plugin trust ${name}\n`);
      process.exit(1);
    }
    return runPlugin(plugin.path, args, baseEnv(env));
  }

  if (plugin.managed) {
    const problem = managedIntegrityError(name, plugin, env);
    if (problem) {
      process.stderr.write(`error: ${problem}\n`);
      process.exit(1);
    }
  } else if (!isTrusted(name, plugin, env)) {
    process.stderr.write(untrustedMessage(name, plugin));
    process.exit(1);
  }
  const overlay = pluginEnv(readState(env), env, selfPath(env));
  return runPlugin(plugin.path, args, { ...baseEnv(env), ...overlay });
}
