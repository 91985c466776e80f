/**
 * Which local origins the device forwards to (docs/wire-facts.md#allow-list).
 *
 * A request is allowed iff an enabled entry has the same port and the same host after
 * normalization. Normalization is deliberately small and applied to both sides: a leading
 * `http://`/`https://` is removed (gateways may send the host with its scheme), case is folded,
 * brackets around IPv6 literals are removed (only around an IPv6 literal: `[127.0.0.1]` and
 * `[localhost]` are not valid spellings and stay distinct), and the loopback aliases
 * `localhost`, `::1` and `127.0.0.1` become `127.0.0.1`. Nothing else is equated: `0.0.0.0`,
 * `127.1`, `localhost.`, `::ffff:127.0.0.1` or a host with userinfo stay distinct, so they match
 * only an entry spelled the same way. Resolving names here would turn the allow-list into an SSRF
 * oracle.
 *
 * An allowed request is dialled at the entry's own host (`originHost`), never at the requested
 * spelling: `[::1]` equals `127.0.0.1` for the decision, but must not reach a different socket
 * than the one the allow-list names.
 */
import type { AllowListEntry } from "../../workers/messages.ts";

/** One allow-list entry as the data plane holds it: the shape the worker is sent (workers/messages.ts). */
export type AllowEntry = AllowListEntry;

const LOOPBACK_ALIASES = new Set(["localhost", "::1", "127.0.0.1"]);

export function normalizeHost(host: string): string {
  let h = host.trim().replace(/^https?:\/\//i, "").toLowerCase();
  if (h.startsWith("[") && h.endsWith("]") && h.includes(":")) h = h.slice(1, -1);
  return LOOPBACK_ALIASES.has(h) ? "127.0.0.1" : h;
}

/** The entry that allows `host:port`, if any. */
export function findAllowed(entries: readonly AllowEntry[], host: string, port: number): AllowEntry | undefined {
  const wanted = normalizeHost(host);
  if (wanted.length === 0) return undefined;
  return entries.find((e) => e.enabled && e.port === port && normalizeHost(e.host) === wanted);
}

/** The host to dial for an allowed request: the entry's, as written, without a scheme prefix. */
export function originHost(entry: AllowEntry): string {
  return entry.host.trim().replace(/^https?:\/\//i, "");
}

export function isAllowed(entries: readonly AllowEntry[], host: string, port: number): boolean {
  return findAllowed(entries, host, port) !== undefined;
}
