/**
 * When the system resolver fails on a freshly created public hostname (a stale negative answer
 * cached by systemd-resolved is the usual cause, docs/wire-facts.md#verify), ask the
 * authoritative name servers directly and connect to the address they give, still verifying the
 * certificate against the hostname (SNI via `tls.serverName`).
 *
 * `*.localhost` names are loopback by definition (RFC 6761); the local Datum's public hostnames
 * use that zone, so they need no DNS at all.
 */
import { Resolver } from "node:dns/promises";

/** `a.b.datumproxy.net` → `datumproxy.net`: the zone whose NS we ask (the last two labels). */
export function registrableDomain(hostname: string): string {
  return hostname.replace(/\.$/, "").split(".").slice(-2).join(".");
}

export function isLocalhostName(hostname: string): boolean {
  const h = hostname.replace(/\.$/, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost");
}

/** The A (else AAAA) records the zone's authoritative servers give for `hostname`. */
export async function resolveAuthoritative(hostname: string): Promise<string[]> {
  const system = new Resolver({ timeout: 2_000, tries: 1 });
  const nsNames = await system.resolveNs(registrableDomain(hostname));
  const nsAddresses = (await Promise.all(nsNames.map((ns) => system.resolve4(ns).catch(() => [] as string[])))).flat();
  if (nsAddresses.length === 0) throw new Error(`no address for the name servers of ${registrableDomain(hostname)}`);
  const authoritative = new Resolver({ timeout: 2_000, tries: 1 });
  authoritative.setServers(nsAddresses);
  const v4 = await authoritative.resolve4(hostname).catch(() => [] as string[]);
  if (v4.length > 0) return v4;
  return authoritative.resolve6(hostname);
}

/** GET `url` at a pinned address, keeping the hostname for `Host` and certificate checks. */
export async function getPinned(url: string, address: string, signal: AbortSignal): Promise<number> {
  const u = new URL(url);
  const hostname = u.hostname;
  const pinned = new URL(url);
  pinned.hostname = address.includes(":") ? `[${address}]` : address;
  const res = await fetch(pinned, {
    headers: { host: u.host },
    redirect: "manual",
    signal,
    ...(u.protocol === "https:" ? { tls: { serverName: hostname } } : {}),
  });
  await res.body?.cancel();
  return res.status;
}

/** The fallback for one probe attempt: loopback for `*.localhost`, else the authoritative answer. */
export async function fallbackGet(url: string, signal: AbortSignal): Promise<number | undefined> {
  const hostname = new URL(url).hostname;
  if (isLocalhostName(hostname)) return getPinned(url, "127.0.0.1", signal);
  const [address] = await resolveAuthoritative(hostname);
  return address ? getPinned(url, address, signal) : undefined;
}
