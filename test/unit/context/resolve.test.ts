import { describe, expect, test } from "bun:test";
import type { DatumctlConfig, DatumctlConfigResult } from "../../../src/context/datumctl-config.ts";
import {
  normalizeApiBase,
  resolveApiBase,
  resolveContext,
  resolveOrg,
  resolveProject,
  resolveSession,
  type ContextInput,
  type Env,
} from "../../../src/context/resolve.ts";
import { ConfigError, Malformed, UsageError } from "../../../src/errors.ts";

const ALICE = "alice@example.com@api.datum.net";
const BOT = "bot@example.iam.datum.net@api.staging.env.datum.net";
const PATH = "/home/u/.datumctl/config";

/** alice: contexts acme (org) and acme/web; bot: beta/api; current context acme/web. */
function config(overrides: Partial<DatumctlConfig> = {}): DatumctlConfig {
  return {
    sessions: [
      { name: ALICE, "user-key": "alice@example.com@auth.datum.net", endpoint: { server: "https://api.datum.net/" } },
      { name: BOT, "user-key": "bot@auth.staging.env.datum.net", endpoint: { server: "http://127.0.0.1:7443" } },
      { name: "no-endpoint@api.datum.net" },
    ],
    contexts: [
      { name: `${ALICE}/acme`, session: ALICE, "organization-id": "acme" },
      { name: `${ALICE}/acme/web`, session: ALICE, "organization-id": "acme", "project-id": "web" },
      { name: `${BOT}/beta/api`, session: BOT, "organization-id": "beta", "project-id": "api" },
      { name: `${ALICE}/gamma/api`, session: ALICE, "organization-id": "gamma", "project-id": "api" },
    ],
    "current-context": `${ALICE}/acme/web`,
    "active-session": ALICE,
    cache: { projects: [{ id: "cached", "org-id": "delta" }] },
    ...overrides,
  };
}

const found = (c: DatumctlConfig = config()): DatumctlConfigResult => ({ found: true, path: PATH, config: c });
const missing: DatumctlConfigResult = { found: false, path: PATH };
/** `cfg` null: the config was not read at all. */
const input = (env: Env, cfg: DatumctlConfigResult | null = found(), flags: ContextInput["flags"] = {}): ContextInput => {
  const i: ContextInput = { env, flags };
  if (cfg) i.config = cfg;
  return i;
};

describe("project: --project > DATUM_PROJECT > current context", () => {
  test.each<[string, ContextInput, string, string]>([
    ["flag wins", input({ DATUM_PROJECT: "env-p" }, found(), { project: "flag-p" }), "flag-p", "flag"],
    ["env next", input({ DATUM_PROJECT: "env-p" }), "env-p", "env"],
    ["empty env (datumctl sets \"\") falls through", input({ DATUM_PROJECT: "" }), "web", "context"],
    ["blank flag falls through", input({}, found(), { project: "  " }), "web", "context"],
    ["current context", input({}), "web", "context"],
    ["no config, env", input({ DATUM_PROJECT: "p" }, missing), "p", "env"],
    ["dotted id", input({}, found(), { project: "my.project-1" }), "my.project-1", "flag"],
  ])("%s", (_name, given, project, source) => {
    const r = resolveProject(given);
    expect(r.value).toBe(project);
    expect(r.origin.source).toBe(source as never);
  });

  test.each<[string, ContextInput, string]>([
    ["no config", input({}, missing), `datumctl has no config at ${PATH}; run 'datumctl login' first`],
    ["config not read", input({}, null), "datumctl has no config; run 'datumctl login' first"],
    ["no current context", input({}, found(config({ "current-context": "" }))), "datumctl has no current context"],
    [
      "dangling current context",
      input({}, found(config({ "current-context": "gone/ctx" }))),
      `datumctl's current-context "gone/ctx" is not in its contexts list`,
    ],
    [
      "organization context",
      input({}, found(config({ "current-context": `${ALICE}/acme` }))),
      `datumctl's current context "${ALICE}/acme" is an organization context (organization "acme") with no project`,
    ],
  ])("none: %s → UsageError (2) with hint", (_name, given, hint) => {
    let err: unknown;
    try {
      resolveProject(given);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exit).toBe(2);
    expect((err as UsageError).message).toBe(
      "no project set — pass --project or run 'datumctl ctx use <org>/<project>'",
    );
    expect((err as UsageError).hint).toBe(hint);
  });

  test.each([
    ["acme/web", /not <org>\/<project>/],
    ["Web", /lower-case/],
    ["-web", /lower-case/],
    ["a".repeat(254), /lower-case/],
  ])("invalid project %p → UsageError", (project, hint) => {
    expect(() => resolveProject(input({}, found(), { project }))).toThrow(UsageError);
    try {
      resolveProject(input({}, found(), { project }));
    } catch (e) {
      expect((e as UsageError).hint).toMatch(hint);
      expect((e as UsageError).message).toContain("(from --project)");
    }
  });
});

describe("session: --session > DATUM_SESSION > context session > active-session", () => {
  test.each<[string, ContextInput, string | undefined, string | undefined]>([
    ["flag", input({ DATUM_SESSION: BOT }, found(), { session: "flag-s" }), "flag-s", "flag"],
    ["env", input({ DATUM_SESSION: BOT }), BOT, "env"],
    ["empty env falls through to the context", input({ DATUM_SESSION: "" }), ALICE, "context"],
    [
      "context session beats active-session",
      input({}, found(config({ "current-context": `${BOT}/beta/api` }))),
      BOT,
      "context",
    ],
    [
      "active-session when the context has no session",
      input(
        {},
        found(
          config({
            contexts: [{ name: "c", "organization-id": "o", "project-id": "p" }],
            "current-context": "c",
            "active-session": BOT,
          }),
        ),
      ),
      BOT,
      "active-session",
    ],
    ["active-session when there is no current context", input({}, found(config({ "current-context": null }))), ALICE, "active-session"],
    ["none at all", input({}, found(config({ "current-context": null, "active-session": "" }))), undefined, undefined],
    ["no config", input({}, missing), undefined, undefined],
  ])("%s", (_name, given, session, source) => {
    const r = resolveSession(given);
    expect(r?.value).toBe(session as string);
    expect(r?.origin.source).toBe(source as never);
  });
});

describe("API base: DATUM_API_HOST > session endpoint.server > DATUM_API_ENV", () => {
  test.each<[string, Env, string | undefined, string, string]>([
    ["bare host gets https://", { DATUM_API_HOST: "api.datum.net" }, ALICE, "https://api.datum.net", "env"],
    ["a scheme is kept (local Datum)", { DATUM_API_HOST: "http://127.0.0.1:8080" }, ALICE, "http://127.0.0.1:8080", "env"],
    ["trailing slash trimmed", { DATUM_API_HOST: "https://api.example.com/" }, ALICE, "https://api.example.com", "env"],
    ["host:port without scheme", { DATUM_API_HOST: "localhost:9443" }, undefined, "https://localhost:9443", "env"],
    ["host beats the session", { DATUM_API_HOST: "api.staging.env.datum.net" }, BOT, "https://api.staging.env.datum.net", "env"],
    ["session endpoint, slash trimmed", {}, ALICE, "https://api.datum.net", "session-endpoint"],
    ["session endpoint over http", {}, BOT, "http://127.0.0.1:7443", "session-endpoint"],
    ["session endpoint beats DATUM_API_ENV", { DATUM_API_ENV: "staging" }, ALICE, "https://api.datum.net", "session-endpoint"],
    ["session unknown to the config → env", { DATUM_API_ENV: "staging" }, "ghost", "https://api.staging.env.datum.net", "api-env"],
    ["session without endpoint → default", {}, "no-endpoint@api.datum.net", "https://api.datum.net", "default"],
    ["no session, staging", { DATUM_API_ENV: "staging" }, undefined, "https://api.staging.env.datum.net", "api-env"],
    ["any other DATUM_API_ENV is production", { DATUM_API_ENV: "Staging" }, undefined, "https://api.datum.net", "api-env"],
    ["nothing → production", {}, undefined, "https://api.datum.net", "default"],
    ["empty DATUM_API_HOST falls through", { DATUM_API_HOST: "" }, undefined, "https://api.datum.net", "default"],
  ])("%s", (_name, env, session, base, source) => {
    const r = resolveApiBase(input(env), session);
    expect(r.value).toBe(base);
    expect(r.origin.source).toBe(source as never);
  });

  test.each(["ftp://api.datum.net", "https://user:pw@api.datum.net", "https://api.datum.net/?x=1", "http://", "a b"])(
    "invalid DATUM_API_HOST %p → ConfigError (78)",
    (host) => {
      expect(() => resolveApiBase(input({ DATUM_API_HOST: host }), undefined)).toThrow(ConfigError);
    },
  );

  test("an invalid session endpoint → Malformed (65) naming the config", () => {
    const bad = config({ sessions: [{ name: ALICE, endpoint: { server: "ftp://x" } }] });
    expect(() => resolveApiBase(input({}, found(bad)), ALICE)).toThrow(Malformed);
    expect(() => resolveApiBase(input({}, found(bad)), ALICE)).toThrow(`datumctl config ${PATH}: session`);
  });

  test.each([
    ["api.datum.net", "https://api.datum.net"],
    ["HTTPS://API.Datum.net", "https://api.datum.net"],
    ["http://127.0.0.1:43123", "http://127.0.0.1:43123"],
    ["https://proxy.example.com/datum/", "https://proxy.example.com/datum"],
    ["  api.datum.net  ", "https://api.datum.net"],
    ["", undefined],
  ])("normalizeApiBase(%p) → %p", (raw, expected) => {
    expect(normalizeApiBase(raw)).toBe(expected as string);
  });
});

describe("org: --org > DATUM_ORG > the context holding the project > cache", () => {
  const project = (value: string, source: "flag" | "env" | "context") => ({ value, origin: { source, detail: "" } });
  test.each<[string, ContextInput, ReturnType<typeof project>, string | undefined, string | undefined, string | undefined]>([
    ["flag", input({ DATUM_ORG: "e" }, found(), { org: "f" }), project("web", "context"), ALICE, "f", "flag"],
    ["env", input({ DATUM_ORG: "e" }), project("web", "context"), ALICE, "e", "env"],
    ["empty env (project context) → current context", input({ DATUM_ORG: "" }), project("web", "context"), ALICE, "acme", "context"],
    ["--project held by a context (first match, no session)", input({}), project("api", "flag"), undefined, "beta", "context"],
    ["--project in several contexts: same session preferred", input({}), project("api", "flag"), ALICE, "gamma", "context"],
    ["--project only in the cache", input({}), project("cached", "flag"), ALICE, "delta", "cache"],
    ["--project unknown, project context → none (never the wrong org)", input({}), project("other", "flag"), ALICE, undefined, undefined],
    [
      "--project unknown, organization context → that org",
      input({}, found(config({ "current-context": `${ALICE}/acme` }))),
      project("other", "flag"),
      ALICE,
      "acme",
      "context",
    ],
    ["no config", input({}, missing), project("web", "flag"), undefined, undefined, undefined],
  ])("%s", (_name, given, proj, session, org, source) => {
    const r = resolveOrg(given, proj, session);
    expect(r?.value).toBe(org as string);
    expect(r?.origin.source).toBe(source as never);
  });
});

describe("resolveContext", () => {
  test("as launched by datumctl from a project context", () => {
    const env: Env = {
      DATUM_ORG: "",
      DATUM_PROJECT: "web",
      DATUM_API_HOST: "api.datum.net",
      DATUM_PLUGIN_API_VERSION: "1",
      DATUM_CREDENTIALS_HELPER: "/usr/local/bin/datumctl",
      DATUM_SESSION: ALICE,
    };
    expect(resolveContext(input(env))).toEqual({
      project: "web",
      session: ALICE,
      apiBase: "https://api.datum.net",
      org: "acme",
      helper: "/usr/local/bin/datumctl",
      origins: {
        project: { source: "env", detail: "DATUM_PROJECT" },
        session: { source: "env", detail: "DATUM_SESSION" },
        apiBase: { source: "env", detail: "DATUM_API_HOST" },
        org: { source: "context", detail: `context "${ALICE}/acme/web"` },
        helper: { source: "env", detail: "DATUM_CREDENTIALS_HELPER" },
      },
    });
  });

  test("run directly (a service unit): everything from the config", () => {
    const r = resolveContext(input({}, found(config({ "current-context": `${BOT}/beta/api` }))));
    expect(r).toMatchObject({ project: "api", session: BOT, apiBase: "http://127.0.0.1:7443", org: "beta" });
    expect(r.helper).toBeUndefined();
    expect(r.origins.apiBase.source).toBe("session-endpoint");
  });

  test("nothing but a flag", () => {
    const r = resolveContext(input({}, missing, { project: "p" }));
    expect(r).toEqual({
      project: "p",
      apiBase: "https://api.datum.net",
      origins: { project: { source: "flag", detail: "--project" }, apiBase: { source: "default", detail: "production default" } },
    });
  });
});
