/**
 * The non-secret network settings a named tunnel keeps in its `tunnel.yaml`
 * (docs/architecture.md#local-state): where its public URL is (`DATUM_CONNECT_PUBLIC_URL`, a template
 * with `{hostname}`), which relays its ListenNode uses (`DATUM_CONNECT_RELAY_URLS`) and a relay the local
 * Datum declares as its stand-in (`DATUM_CONNECT_DEV_PLACEHOLDER_RELAY`, docs/relays.md).
 *
 * They are read from the environment of the command that creates the tunnel (`listen --name`,
 * `listen --detach`, `install`) and recorded, so the tunnel's later runs — a service unit's
 * `tunnel run`, whose environment is the manager's and not the installing shell's — see the same
 * platform. A recorded setting wins over the running environment; an unrecorded one falls back to
 * it. Pure: no I/O.
 */
import { PLACEHOLDER_RELAY_ENV } from "../dataplane/relays.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The `tunnel.yaml` keys and the variables they stand for. */
export const TUNNEL_SETTINGS = {
  public_url: "DATUM_CONNECT_PUBLIC_URL",
  relay_urls: "DATUM_CONNECT_RELAY_URLS",
  placeholder_relay: PLACEHOLDER_RELAY_ENV,
} as const;

export type TunnelSettingKey = keyof typeof TUNNEL_SETTINGS;
export type TunnelSettings = { [K in TunnelSettingKey]?: string | null | undefined };

/** What a tunnel created now records: each variable set (non-blank) in `env`, trimmed, else null. */
export function settingsFromEnv(env: Env): { [K in TunnelSettingKey]: string | null } {
  const out = {} as { [K in TunnelSettingKey]: string | null };
  for (const [key, variable] of Object.entries(TUNNEL_SETTINGS) as [TunnelSettingKey, string][]) {
    const value = env[variable]?.trim();
    out[key] = value ? value : null;
  }
  return out;
}

/** The environment a tunnel runs with: `env`, with every setting `recorded` holds put over it. */
export function envWithSettings(env: Env, recorded: TunnelSettings | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  if (!recorded) return out;
  for (const [key, variable] of Object.entries(TUNNEL_SETTINGS) as [TunnelSettingKey, string][]) {
    const value = recorded[key]?.trim();
    if (value) out[variable] = value;
  }
  return out;
}
