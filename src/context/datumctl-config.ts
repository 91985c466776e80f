/**
 * datumctl's own configuration, `~/.datumctl/config` (docs/wire-facts.md#datumctl-config): sessions, contexts,
 * the current context and the active session. We only read it, never write it
 * (docs/wire-facts.md#output-conventions: stay out of datumctl's directories).
 *
 * Every object is a `looseObject`: datumctl adds fields between releases and we must not break
 * on them. Only the fields we read are modelled, and they are `nullish` because Go's YAML writer
 * leaves empty lists as `null` and older configs lack newer keys.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { Malformed } from "../errors.ts";

const Str = v.string();
const OptStr = v.nullish(Str);

export const DatumctlEndpoint = v.looseObject({
  /** API base with scheme and no trailing slash, e.g. `https://api.datum.net`. */
  server: OptStr,
  "auth-hostname": OptStr,
  "tls-server-name": OptStr,
  "insecure-skip-tls-verify": v.nullish(v.boolean()),
  "certificate-authority-data": OptStr,
});

export const DatumctlSession = v.looseObject({
  name: Str,
  "user-key": OptStr,
  "user-email": OptStr,
  "user-name": OptStr,
  endpoint: v.nullish(DatumctlEndpoint),
  "last-context": OptStr,
});
export type DatumctlSession = v.InferOutput<typeof DatumctlSession>;

export const DatumctlContext = v.looseObject({
  name: Str,
  session: OptStr,
  "organization-id": OptStr,
  "project-id": OptStr,
  namespace: OptStr,
});
export type DatumctlContext = v.InferOutput<typeof DatumctlContext>;

const CachedOrganization = v.looseObject({ id: Str, "display-name": OptStr, session: OptStr, type: OptStr });
const CachedProject = v.looseObject({ id: Str, "display-name": OptStr, "org-id": OptStr, session: OptStr });

export const DatumctlConfig = v.looseObject({
  apiVersion: OptStr,
  kind: OptStr,
  sessions: v.nullish(v.array(DatumctlSession)),
  contexts: v.nullish(v.array(DatumctlContext)),
  "current-context": OptStr,
  "active-session": OptStr,
  "auto-update": v.nullish(v.boolean()),
  cache: v.nullish(
    v.looseObject({
      organizations: v.nullish(v.array(CachedOrganization)),
      projects: v.nullish(v.array(CachedProject)),
    }),
  ),
});
export type DatumctlConfig = v.InferOutput<typeof DatumctlConfig>;

export type DatumctlConfigResult =
  | { found: true; path: string; config: DatumctlConfig }
  | { found: false; path: string };

/** `$HOME/.datumctl/config` — datumctl uses the home directory, not XDG (docs/wire-facts.md#datumctl-config). */
export function datumctlConfigPath(env: Record<string, string | undefined> = process.env): string {
  const home = env.HOME || (process.platform === "win32" ? env.USERPROFILE : undefined) || homedir();
  return join(home, ".datumctl", "config");
}

/**
 * Parse and validate config text. Pure; `path` only names the file in errors.
 * An empty file is an empty config, as it is for datumctl's YAML decoder.
 */
export function parseDatumctlConfig(text: string, path: string): DatumctlConfig {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (err) {
    throw new Malformed(
      `datumctl config ${path} is not valid YAML`,
      "fix the file, or run 'datumctl login' to write a fresh one",
      err instanceof Error ? err.message : String(err),
    );
  }
  if (doc === null || doc === undefined) return {};
  const schemaError = (details: string) =>
    new Malformed(
      `datumctl config ${path} does not match datumctl's config schema`,
      "fix the file, or run 'datumctl login' to write a fresh one",
      details,
    );
  // valibot's object schemas accept arrays; a YAML list is not a config.
  if (typeof doc !== "object" || Array.isArray(doc)) throw schemaError("the document is not a mapping");
  const parsed = v.safeParse(DatumctlConfig, doc);
  if (!parsed.success) throw schemaError(v.summarize(parsed.issues));
  return parsed.output;
}

/** Read `~/.datumctl/config`. A missing file is a result, not an error: the caller decides. */
export function readDatumctlConfig(path: string = datumctlConfigPath()): DatumctlConfigResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: `~/.datumctl` is a file, so there is no config inside it.
    if (code === "ENOENT" || code === "ENOTDIR") return { found: false, path };
    throw new Malformed(
      `cannot read datumctl config ${path}`,
      code === "EISDIR" ? `${path} is a directory, not a file` : "check the file's permissions",
      err instanceof Error ? err.message : String(err),
    );
  }
  return { found: true, path, config: parseDatumctlConfig(text, path) };
}

export function findSession(config: DatumctlConfig, name: string): DatumctlSession | undefined {
  return config.sessions?.find((s) => s.name === name);
}

export function findContext(config: DatumctlConfig, name: string): DatumctlContext | undefined {
  return config.contexts?.find((c) => c.name === name);
}
