/**
 * Which relays the ListenNode uses (docs/wire-facts.md#relays): `DATUM_CONNECT_RELAY_URLS` when set,
 * else Datum's own relays. n0's public relays are never the default: the Datum gateway cannot
 * route through them, so inbound connections would fail.
 */

export const DATUM_RELAYS: readonly string[] = [
  "https://iroh-relay.us-east-1.datumconnect.net/",
  "https://iroh-relay.us-west-1.datumconnect.net/",
];

/**
 * The list syntax: split on `,` `;` or whitespace, trim, drop empties, add `https://` when there is
 * no scheme, canonicalize (`https://host/`), de-duplicate keeping order. Unparseable entries are
 * returned separately so the caller can say which.
 */
export function parseRelayList(text: string): { urls: string[]; invalid: string[] } {
  const urls: string[] = [];
  const invalid: string[] = [];
  for (const raw of text.split(/[,;\s]+/)) {
    const item = raw.trim();
    if (!item) continue;
    const withScheme = item.includes("://") ? item : `https://${item}`;
    if (!URL.canParse(withScheme)) {
      invalid.push(item);
      continue;
    }
    const url = new URL(withScheme).toString();
    if (!urls.includes(url)) urls.push(url);
  }
  return { urls, invalid };
}

export function relayUrls(env: Readonly<Record<string, string | undefined>>): { urls: string[]; invalid: string[]; source: "env" | "default" } {
  const fromEnv = env.DATUM_CONNECT_RELAY_URLS?.trim();
  if (fromEnv) return { ...parseRelayList(fromEnv), source: "env" };
  return { urls: [...DATUM_RELAYS], invalid: [], source: "default" };
}

/**
 * The relay URL the local Datum declares as its stand-in (`DATUM_CONNECT_DEV_PLACEHOLDER_RELAY`):
 * it runs no relay, so iroh never reports one, yet the Connector status needs a home relay. Only
 * this declared URL may be published without iroh having reached it (docs/relays.md).
 */
export const PLACEHOLDER_RELAY_ENV = "DATUM_CONNECT_DEV_PLACEHOLDER_RELAY";

export function placeholderRelay(env: Readonly<Record<string, string | undefined>>): string | null {
  const declared = env[PLACEHOLDER_RELAY_ENV]?.trim();
  if (!declared) return null;
  const parsed = parseRelayList(declared);
  return parsed.urls[0] ?? null;
}
