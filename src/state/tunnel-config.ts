/**
 * `tunnels/<name>/tunnel.yaml`: a named tunnel's persisted configuration
 * (docs/architecture.md#local-state). Written when a named tunnel is first started
 * (`listen --detach --name`, later `install`); after that its project, session and API host come from
 * here, not from flags or the environment, so a daemon restarted later serves exactly what it was set up
 * to serve. It holds no secret.
 */
import * as v from "valibot";
import { Malformed, Rejected } from "../errors.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { readTextIfExists } from "./read-optional.ts";

export const TunnelConfig = v.object({
  name: v.string(),
  label: v.nullable(v.string()),
  /** The one endpoint of a named tunnel; null for a group, whose services are in `group.yaml` (docs/groups.md). */
  endpoint: v.nullable(v.string()),
  project: v.string(),
  session: v.nullable(v.string()),
  org: v.nullable(v.string()),
  api_host: v.string(),
  /** The executable as found on PATH (not symlink-resolved), for service units. */
  executable: v.nullable(v.string()),
  /** The credentials helper as found on PATH (not symlink-resolved). */
  helper: v.nullable(v.string()),
  created_at: v.string(),
  scope: v.picklist(["user", "system"]),
  /** A group's file as the user keeps it (`up -f`, `install -f`): what `tunnel reload` re-reads by default (docs/groups.md). */
  group_file: v.optional(v.nullable(v.string())),
  /** `--health` address, if the tunnel serves one. */
  health: v.optional(v.nullable(v.string())),
  /** Network settings recorded at creation (src/state/tunnel-settings.ts): the public-URL template, */
  public_url: v.optional(v.nullable(v.string())),
  /** the relay list, */
  relay_urls: v.optional(v.nullable(v.string())),
  /** and the local Datum's declared placeholder relay. */
  placeholder_relay: v.optional(v.nullable(v.string())),
});
export type TunnelConfig = v.InferOutput<typeof TunnelConfig>;

export function parseTunnelConfig(text: string, path: string): TunnelConfig {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (err) {
    throw new Malformed(`corrupt tunnel config ${path}`, "fix or delete the file (delete: the next start writes it again from its flags)", String(err));
  }
  const parsed = v.safeParse(TunnelConfig, doc);
  if (!parsed.success) {
    throw new Malformed(`corrupt tunnel config ${path}`, "fix or delete the file (delete: the next start writes it again from its flags)", v.summarize(parsed.issues));
  }
  return parsed.output;
}

export async function readTunnelConfig(path: string): Promise<TunnelConfig | undefined> {
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : parseTunnelConfig(text, path);
}

export async function writeTunnelConfig(path: string, config: TunnelConfig): Promise<void> {
  await writeFileAtomic(path, `# datumctl-connect named tunnel; see README "Where state lives"\n${Bun.YAML.stringify(config, null, 2)}\n`);
}

/**
 * The one endpoint of a named tunnel's config, validated as the platform would; a group's config
 * (no endpoint: its services are in `group.yaml`, docs/groups.md) is refused by single-tunnel commands.
 */
export function singleEndpoint(config: TunnelConfig, path: string, validate: (endpoint: string, path: string) => unknown): string {
  if (config.endpoint === null) {
    throw new Rejected(
      `"${config.name}" is a group of tunnels, not a single tunnel`,
      `manage it as a group: tunnel up -f FILE, tunnel reload --name ${config.name}, tunnel status --name ${config.name}`,
      "conflict",
    );
  }
  validate(config.endpoint, path);
  return config.endpoint;
}
