/**
 * Real datumctl files for tests and the local Datum, so the plugin's config reading is exercised
 * against the same bytes datumctl would leave behind (docs/wire-facts.md#datumctl-config,
 * docs/architecture.md#datumctl-double): `~/.datumctl/config` (YAML, `datumctl.config.datum.net/v1beta1`)
 * and a service account's key file
 * `<UserConfigDir>/datumctl/service-accounts/<hex sha256(user-key)>.pem`.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface ConfigSessionSpec {
  /** `<email>@<api host>`. */
  name: string;
  /** `<email>@<auth host>`, the keyring account. */
  userKey: string;
  email?: string;
  userName?: string;
  /** API base with scheme, no trailing slash, e.g. `https://api.datum.net` or `http://127.0.0.1:PORT`. */
  server: string;
  authHostname?: string;
  lastContext?: string;
}

export interface ConfigContextSpec {
  session: string;
  org: string;
  project?: string;
}

export interface DatumctlConfigSpec {
  sessions: ConfigSessionSpec[];
  contexts?: ConfigContextSpec[];
  /** A context name (`<session>/<org>[/<project>]`), or the context itself. */
  currentContext?: string | ConfigContextSpec | null;
  activeSession?: string | null;
  /** Extra top-level fields, e.g. to check that unknown fields are ignored. */
  extra?: Record<string, unknown>;
}

/** datumctl's context naming: `<session>/<org>` or `<session>/<org>/<project>`. */
export function contextName(ctx: ConfigContextSpec): string {
  return ctx.project ? `${ctx.session}/${ctx.org}/${ctx.project}` : `${ctx.session}/${ctx.org}`;
}

/** The config document, as datumctl writes it. */
export function datumctlConfigDocument(spec: DatumctlConfigSpec): Record<string, unknown> {
  const current = typeof spec.currentContext === "object" && spec.currentContext !== null
    ? contextName(spec.currentContext)
    : spec.currentContext;
  const doc: Record<string, unknown> = {
    apiVersion: "datumctl.config.datum.net/v1beta1",
    kind: "DatumctlConfig",
    sessions: spec.sessions.map((s) => {
      const session: Record<string, unknown> = { name: s.name, "user-key": s.userKey };
      if (s.email) session["user-email"] = s.email;
      if (s.userName) session["user-name"] = s.userName;
      const endpoint: Record<string, unknown> = { server: s.server };
      if (s.authHostname) endpoint["auth-hostname"] = s.authHostname;
      session.endpoint = endpoint;
      if (s.lastContext) session["last-context"] = s.lastContext;
      return session;
    }),
    contexts: (spec.contexts ?? []).map((c) => {
      const ctx: Record<string, unknown> = { name: contextName(c), session: c.session, "organization-id": c.org };
      if (c.project) {
        ctx["project-id"] = c.project;
        ctx.namespace = "default";
      }
      return ctx;
    }),
  };
  if (current) doc["current-context"] = current;
  if (spec.activeSession) doc["active-session"] = spec.activeSession;
  doc["auto-update"] = false;
  return { ...doc, ...spec.extra };
}

function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

/** Write `<home>/.datumctl/config` (dir 0700, file 0600, atomic, like datumctl). Returns its path. */
export function writeDatumctlConfig(home: string, spec: DatumctlConfigSpec): string {
  const path = join(home, ".datumctl", "config");
  writePrivate(path, Bun.YAML.stringify(datumctlConfigDocument(spec), null, 2));
  return path;
}

/**
 * Write a service account's key file where datumctl's login puts it, under `userConfigDir`
 * (`$XDG_CONFIG_HOME` or `~/.config` on Linux). The PEM body is random: nothing here signs with it.
 */
export function writeServiceAccountKeyFile(userConfigDir: string, userKey: string): string {
  const digest = createHash("sha256").update(userKey).digest("hex");
  const path = join(userConfigDir, "datumctl", "service-accounts", `${digest}.pem`);
  const body = randomBytes(48).toString("base64");
  writePrivate(path, `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`);
  return path;
}
