/**
 * Which project, session, organization, API base and credentials helper a command uses, and where
 * each came from (`tunnel status` shows the origins).
 *
 * Pure decisions over three inputs — our flags, the environment datumctl hands a plugin
 * (docs/wire-facts.md#plugin-environment) and `~/.datumctl/config` (docs/wire-facts.md#datumctl-config) —
 * so every rule is a table row in `test/unit/context/resolve.test.ts`. Orders
 * (docs/wire-facts.md#control-plane, docs/wire-facts.md#datumctl-config):
 *
 * - project: `--project` > `DATUM_PROJECT` > the current context's `project-id`
 * - session: `--session` > `DATUM_SESSION` > the current context's `session` > `active-session`
 * - API base: `DATUM_API_HOST` > the session's `endpoint.server` > `DATUM_API_ENV`
 * - org: `--org` > `DATUM_ORG` > the context that holds the project > datumctl's project cache
 * - helper: `DATUM_CREDENTIALS_HELPER`
 *
 * Empty strings count as unset everywhere: datumctl sets `DATUM_PROJECT=""`, `DATUM_ORG=""` and
 * `DATUM_SESSION=""` rather than leaving them out (docs/wire-facts.md#plugin-environment).
 *
 * A missing project is a `UsageError` (exit 2), not a `ConfigError` (78): whatever the reason
 * (no datumctl config, an organization-level context, a dangling `current-context`), the fix that
 * always works is a flag on this very command line, `--project`, and exit 2 is what a missing
 * required flag gives. 78 stays reserved for problems a flag cannot fix (helper missing, no
 * service-account session for `install --system`).
 */
import { ConfigError, Malformed, UsageError } from "../errors.ts";
import {
  findContext,
  findSession,
  type DatumctlConfig,
  type DatumctlConfigResult,
  type DatumctlContext,
} from "./datumctl-config.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export const PRODUCTION_API = "https://api.datum.net";
export const STAGING_API = "https://api.staging.env.datum.net";

export type Source =
  | "flag"
  | "env"
  | "context"
  | "active-session"
  | "session-endpoint"
  | "cache"
  | "api-env"
  | "default";

/** Where a value came from: a machine-readable `source` and a human-readable `detail`. */
export interface Origin {
  source: Source;
  /** e.g. `--project`, `DATUM_SESSION`, `context "alice@…/acme/web"`, `production default`. */
  detail: string;
}

export interface Resolved<T> {
  value: T;
  origin: Origin;
}

export interface ContextFlags {
  project?: string | undefined;
  session?: string | undefined;
  org?: string | undefined;
}

export interface ContextInput {
  flags?: ContextFlags;
  env: Env;
  /** `readDatumctlConfig()`'s result; absent means "not read" and behaves as not found. */
  config?: DatumctlConfigResult;
}

export interface ResolvedContext {
  project: string;
  session?: string;
  apiBase: string;
  org?: string;
  helper?: string;
  origins: {
    project: Origin;
    session?: Origin;
    apiBase: Origin;
    org?: Origin;
    helper?: Origin;
  };
}

const NO_PROJECT = "no project set — pass --project or run 'datumctl ctx use <org>/<project>'";

/** A Kubernetes object name (DNS-1123 subdomain): what a project ID is. */
const PROJECT_ID = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function nonEmpty(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function configOf(input: ContextInput): DatumctlConfig | undefined {
  return input.config?.found ? input.config.config : undefined;
}

function contextDetail(ctx: DatumctlContext): string {
  return `context "${ctx.name}"`;
}

/** The context named by `current-context`, or why there is none. */
export function currentContext(
  config: DatumctlConfig | undefined,
): { context: DatumctlContext } | { context?: undefined; reason: "no-config" | "unset" | "dangling"; name?: string } {
  if (!config) return { reason: "no-config" };
  const name = nonEmpty(config["current-context"]);
  if (!name) return { reason: "unset" };
  const context = findContext(config, name);
  return context ? { context } : { reason: "dangling", name };
}

export function validateProjectId(project: string, origin: Origin): string {
  if (project.length <= 253 && PROJECT_ID.test(project)) return project;
  const hint = project.includes("/")
    ? "pass the project ID alone (e.g. --project web), not <org>/<project>"
    : "a project ID is lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
  throw new UsageError(`invalid project "${project}" (from ${origin.detail})`, hint);
}

export function resolveProject(input: ContextInput): Resolved<string> {
  const flag = nonEmpty(input.flags?.project);
  if (flag) {
    const origin: Origin = { source: "flag", detail: "--project" };
    return { value: validateProjectId(flag, origin), origin };
  }
  const env = nonEmpty(input.env.DATUM_PROJECT);
  if (env) {
    const origin: Origin = { source: "env", detail: "DATUM_PROJECT" };
    return { value: validateProjectId(env, origin), origin };
  }
  const current = currentContext(configOf(input));
  if (current.context) {
    const project = nonEmpty(current.context["project-id"]);
    if (project) {
      const origin: Origin = { source: "context", detail: contextDetail(current.context) };
      return { value: validateProjectId(project, origin), origin };
    }
    const org = nonEmpty(current.context["organization-id"]);
    throw new UsageError(
      NO_PROJECT,
      `datumctl's current context "${current.context.name}" is an organization context` +
        `${org ? ` (organization "${org}")` : ""} with no project`,
    );
  }
  switch (current.reason) {
    case "no-config":
      throw new UsageError(
        NO_PROJECT,
        `datumctl has no config${input.config ? ` at ${input.config.path}` : ""}; run 'datumctl login' first`,
      );
    case "unset":
      throw new UsageError(NO_PROJECT, "datumctl has no current context");
    case "dangling":
      throw new UsageError(NO_PROJECT, `datumctl's current-context "${current.name}" is not in its contexts list`);
  }
}

export function resolveSession(input: ContextInput): Resolved<string> | undefined {
  const flag = nonEmpty(input.flags?.session);
  if (flag) return { value: flag, origin: { source: "flag", detail: "--session" } };
  const env = nonEmpty(input.env.DATUM_SESSION);
  if (env) return { value: env, origin: { source: "env", detail: "DATUM_SESSION" } };
  const config = configOf(input);
  const current = currentContext(config);
  const fromContext = nonEmpty(current.context?.session);
  if (current.context && fromContext) {
    return { value: fromContext, origin: { source: "context", detail: contextDetail(current.context) } };
  }
  const active = nonEmpty(config?.["active-session"]);
  if (active) return { value: active, origin: { source: "active-session", detail: "active-session" } };
  return undefined;
}

/**
 * `https://host[:port][/path]` from a bare host or a URL. A bare host gets `https://` (datumctl's
 * `DATUM_API_HOST` is `api.datum.net`, docs/wire-facts.md#plugin-environment); a scheme that is present
 * is kept, because the local Datum serves plain `http://127.0.0.1:PORT`. Trailing slashes go, so paths
 * can be appended. Returns `undefined` for anything that is not an http(s) URL without credentials, query
 * or fragment.
 */
export function normalizeApiBase(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (!trimmed) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  if (!url.hostname || url.username || url.password || url.search || url.hash) return undefined;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

export function resolveApiBase(input: ContextInput, session: string | undefined): Resolved<string> {
  const host = nonEmpty(input.env.DATUM_API_HOST);
  if (host) {
    const value = normalizeApiBase(host);
    if (!value) {
      throw new ConfigError(
        `DATUM_API_HOST "${host}" is not a valid API host`,
        "set it to a host name such as api.datum.net, or an http(s) URL, or unset it",
      );
    }
    return { value, origin: { source: "env", detail: "DATUM_API_HOST" } };
  }
  const config = configOf(input);
  const server = session && config ? nonEmpty(findSession(config, session)?.endpoint?.server) : undefined;
  if (server) {
    const value = normalizeApiBase(server);
    if (!value) {
      const where = input.config ? `datumctl config ${input.config.path}` : "datumctl config";
      throw new Malformed(
        `${where}: session "${session}" has an invalid endpoint.server "${server}"`,
        "run 'datumctl login' again to rewrite the session",
      );
    }
    return { value, origin: { source: "session-endpoint", detail: `session "${session}" endpoint.server` } };
  }
  const apiEnv = nonEmpty(input.env.DATUM_API_ENV);
  // Exactly `staging` selects staging; any other value, or none, is production
  // (docs/wire-facts.md#control-plane).
  if (apiEnv === "staging") return { value: STAGING_API, origin: { source: "api-env", detail: "DATUM_API_ENV=staging" } };
  if (apiEnv) return { value: PRODUCTION_API, origin: { source: "api-env", detail: `DATUM_API_ENV=${apiEnv}` } };
  return { value: PRODUCTION_API, origin: { source: "default", detail: "production default" } };
}

/**
 * The organization that owns `project`. Only the current context's org is trusted blindly when
 * the project came from that same context; for a `--project` from elsewhere the org comes from a
 * context or cache entry that names that project, so a stale current context never mislabels it.
 */
export function resolveOrg(
  input: ContextInput,
  project: Resolved<string>,
  session: string | undefined,
): Resolved<string> | undefined {
  const flag = nonEmpty(input.flags?.org);
  if (flag) return { value: flag, origin: { source: "flag", detail: "--org" } };
  const env = nonEmpty(input.env.DATUM_ORG);
  if (env) return { value: env, origin: { source: "env", detail: "DATUM_ORG" } };
  const config = configOf(input);
  if (!config) return undefined;
  const current = currentContext(config).context;
  const fromCurrent = nonEmpty(current?.["organization-id"]);
  if (current && fromCurrent && project.origin.source === "context") {
    return { value: fromCurrent, origin: { source: "context", detail: contextDetail(current) } };
  }
  const holding = (config.contexts ?? []).filter(
    (c) => nonEmpty(c["project-id"]) === project.value && nonEmpty(c["organization-id"]),
  );
  const match = holding.find((c) => session !== undefined && c.session === session) ?? holding[0];
  const matchOrg = nonEmpty(match?.["organization-id"]);
  if (match && matchOrg) return { value: matchOrg, origin: { source: "context", detail: contextDetail(match) } };
  const cached = config.cache?.projects?.find((p) => p.id === project.value);
  const cachedOrg = nonEmpty(cached?.["org-id"]);
  if (cachedOrg) return { value: cachedOrg, origin: { source: "cache", detail: "datumctl project cache" } };
  // An organization-level current context: the user picked that org, so a project passed by
  // flag is taken to live in it.
  if (current && fromCurrent && !nonEmpty(current["project-id"])) {
    return { value: fromCurrent, origin: { source: "context", detail: contextDetail(current) } };
  }
  return undefined;
}

export function resolveHelper(env: Env): Resolved<string> | undefined {
  const helper = nonEmpty(env.DATUM_CREDENTIALS_HELPER);
  return helper ? { value: helper, origin: { source: "env", detail: "DATUM_CREDENTIALS_HELPER" } } : undefined;
}

/** Everything a project-scoped command needs; throws `UsageError` when no project can be found. */
export function resolveContext(input: ContextInput): ResolvedContext {
  const project = resolveProject(input);
  const session = resolveSession(input);
  const apiBase = resolveApiBase(input, session?.value);
  const org = resolveOrg(input, project, session?.value);
  const helper = resolveHelper(input.env);
  const resolved: ResolvedContext = {
    project: project.value,
    apiBase: apiBase.value,
    origins: { project: project.origin, apiBase: apiBase.origin },
  };
  if (session) {
    resolved.session = session.value;
    resolved.origins.session = session.origin;
  }
  if (org) {
    resolved.org = org.value;
    resolved.origins.org = org.origin;
  }
  if (helper) {
    resolved.helper = helper.value;
    resolved.origins.helper = helper.origin;
  }
  return resolved;
}
