/**
 * `dev cloud --login HOME`: sign in to the local Datum the way `datumctl login` would leave a
 * machine, so the README's examples run against it as written — the two sessions "Run as a
 * service" uses, both pointing at the local Datum (their `endpoint.server`):
 *
 * - `alice@example.com@api.datum.net`, an interactive login (what a user service runs as);
 * - `ci-bot@acme.iam.datum.net@api.datum.net`, a service account, with its key file under
 *   `<UserConfigDir>/datumctl/service-accounts/` (docs/wire-facts.md#datumctl-config), which is how
 *   `install --system` tells one (src/context/session-type.ts).
 *
 * It writes `HOME/.datumctl/config` (those two and the local Datum's own session; the current
 * context is alice's) and the key file, and adds both sessions to the datumctl double's state, which
 * serves their tokens. A `HOME/.datumctl/config` already there with other contents is never
 * replaced without `--force` (then it is kept as `config.before-dev-cloud`). The decisions are pure
 * functions; `logIn` does the writing.
 */
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import * as v from "valibot";
import { serviceAccountKeyPath, userConfigDir } from "../context/session-type.ts";
import { Rejected } from "../errors.ts";
import { datumctlConfigDocument, writeDatumctlConfig, writeServiceAccountKeyFile, type ConfigSessionSpec, type DatumctlConfigSpec } from "./datumctl-double/config-files.ts";
import { updateDoubleState, type InstalledDatumctlDouble } from "./datumctl-double/install.ts";
import { SessionState } from "./datumctl-double/state.ts";

export interface LoginAccount {
  /** The session name, `<email>@<api host>` as the README names it. */
  readonly session: string;
  readonly email: string;
  /** The keyring account, `<email>@<auth host>`. */
  readonly userKey: string;
  readonly type: "interactive" | "service_account";
}

export const LOGIN_USER: LoginAccount = {
  session: "alice@example.com@api.datum.net",
  email: "alice@example.com",
  userKey: "alice@example.com@auth.datum.net",
  type: "interactive",
};

export const LOGIN_SERVICE_ACCOUNT: LoginAccount = {
  session: "ci-bot@acme.iam.datum.net@api.datum.net",
  email: "ci-bot@acme.iam.datum.net",
  userKey: "ci-bot@acme.iam.datum.net@auth.datum.net",
  type: "service_account",
};

export const LOGIN_ACCOUNTS: readonly LoginAccount[] = [LOGIN_USER, LOGIN_SERVICE_ACCOUNT];

/** Where an earlier config goes when `--force` replaces it. */
export const CONFIG_BACKUP_SUFFIX = ".before-dev-cloud";

/** The config the login leaves: the local Datum's own session, then the two accounts; alice's context current. */
export function loginConfig(local: DatumctlConfigSpec, server: string, org: string, project: string): DatumctlConfigSpec {
  const accounts: ConfigSessionSpec[] = LOGIN_ACCOUNTS.map((a) => ({
    name: a.session,
    userKey: a.userKey,
    email: a.email,
    server,
    authHostname: "auth.datum.net",
    lastContext: `${a.session}/${org}/${project}`,
  }));
  const contexts = LOGIN_ACCOUNTS.flatMap((a) => [{ session: a.session, org }, { session: a.session, org, project }]);
  return {
    sessions: [...local.sessions, ...accounts],
    contexts: [...(local.contexts ?? []), ...contexts],
    currentContext: { session: LOGIN_USER.session, org, project },
    activeSession: LOGIN_USER.session,
  };
}

export type ConfigDecision = "write" | "unchanged" | "replace" | "refuse";

/**
 * What to do with `HOME/.datumctl/config`: none there → write; the same bytes (a restart of the
 * same local Datum) → unchanged; anything else → refuse, or replace with `--force`.
 */
export function configDecision(existing: string | undefined, next: string, force: boolean): ConfigDecision {
  if (existing === undefined) return "write";
  if (existing === next) return "unchanged";
  return force ? "replace" : "refuse";
}

/**
 * The variables that make the login count in a shell that sources the env file: the chosen HOME
 * (and its config dir, where the key file is) when it is not the caller's own, the double first on
 * PATH as `datumctl`, and `connect` trusted so `datumctl connect …` runs `datumctl-connect` from PATH.
 */
export function loginExports(o: { home: string; callerHome: string | undefined; configDir: string; helperDir: string; path: string | undefined }): Record<string, string> {
  const vars: Record<string, string> = {};
  if (o.callerHome === undefined || resolve(o.callerHome) !== resolve(o.home)) {
    vars.HOME = o.home;
    vars.XDG_CONFIG_HOME = o.configDir;
  }
  vars.PATH = o.path ? `${o.helperDir}${delimiter}${o.path}` : o.helperDir;
  vars.DATUMCTL_TRUSTED_PLUGINS = "connect";
  return vars;
}

export interface LoginResult {
  readonly configPath: string;
  readonly keyPath: string;
  readonly decision: ConfigDecision;
  readonly backup: string | undefined;
  readonly env: Record<string, string>;
}

export interface LoginOptions {
  readonly home: string;
  readonly force: boolean;
  readonly double: InstalledDatumctlDouble;
  /** The local Datum's API URL, `http://127.0.0.1:PORT`. */
  readonly server: string;
  readonly org: string;
  readonly project: string;
  readonly env: Record<string, string | undefined>;
  readonly platform?: NodeJS.Platform;
}

export function logIn(o: LoginOptions): LoginResult {
  const home = resolve(o.home);
  const platform = o.platform ?? process.platform;
  // The caller's own home keeps its XDG_CONFIG_HOME (where datumctl put its keys); another home its own.
  const own = o.env.HOME !== undefined && resolve(o.env.HOME) === home;
  const probeEnv = own ? o.env : { HOME: home, AppData: join(home, "AppData", "Roaming") };
  const configDir = userConfigDir(probeEnv, platform);
  const keyPath = serviceAccountKeyPath(LOGIN_SERVICE_ACCOUNT.userKey, probeEnv, platform);
  if (!configDir || !keyPath) throw new Rejected(`cannot place a service account's key file under ${home}`, "pass an absolute --login directory");

  const spec = loginConfig(o.double.config, o.server, o.org, o.project);
  const configPath = join(home, ".datumctl", "config");
  const next = Bun.YAML.stringify(datumctlConfigDocument(spec), null, 2);
  const existing = existsSync(configPath) ? readFileSync(configPath, "utf8") : undefined;
  const decision = configDecision(existing, next, o.force);
  if (decision === "refuse") {
    throw new Rejected(
      `${configPath} already exists; dev cloud --login will not replace a datumctl config`,
      `log in somewhere else (--login <empty dir>, then HOME=<that dir>), or add --force to replace it (the old one is kept as ${configPath}${CONFIG_BACKUP_SUFFIX})`,
      "conflict",
    );
  }
  let backup: string | undefined;
  if (decision === "replace") {
    backup = `${configPath}${CONFIG_BACKUP_SUFFIX}`;
    copyFileSync(configPath, backup);
  }
  if (decision !== "unchanged") writeDatumctlConfig(home, spec);
  // The key file's bytes are never read by anyone; keep one that is there (a restart).
  if (!existsSync(keyPath)) writeServiceAccountKeyFile(configDir, LOGIN_SERVICE_ACCOUNT.userKey);

  updateDoubleState(o.double.statePath, (state) => {
    for (const a of LOGIN_ACCOUNTS) {
      state.sessions[a.session] = v.parse(SessionState, { ...state.sessions[a.session], userKey: a.userKey, type: a.type, apiHost: o.server });
    }
    state.activeSession = LOGIN_USER.session;
    state.keyringActiveUser = LOGIN_USER.userKey;
    state.currentContext = { session: LOGIN_USER.session, org: o.org, project: o.project };
  });

  const env = loginExports({ home, callerHome: o.env.HOME, configDir, helperDir: dirname(o.double.helperPath), path: o.env.PATH });
  return { configPath, keyPath, decision, backup, env };
}
