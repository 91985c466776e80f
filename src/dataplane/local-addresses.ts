/**
 * The device's direct addresses as the Connector should publish them, when the machine's own
 * addresses change (a new DHCP lease, another network). iroh's own list can lag far behind (in
 * bench/network-change.ts without this correction: one move served again after 2.9 s, the next after
 * 25 s, the third not within 60 s), and the iroh-js `watch*` calls cannot be used, so the data
 * plane's address poll (ENDPOINT_POLL_MS) corrects it with what the interfaces say now:
 *
 * - an address iroh reports that was on one of this machine's interfaces and no longer is: dropped;
 * - every address on an interface now (not loopback, not link-local), at the port iroh's socket of
 *   that family is bound to: added.
 *
 * Addresses iroh learnt otherwise (a NAT's public mapping) stay as iroh reports them. Pure: the
 * interface table and the addresses ever seen on interfaces come in.
 */
import type { NetworkInterfaceInfo } from "node:os";
import type { DirectAddress } from "./iroh-endpoint.ts";

/** The usable addresses on this machine's interfaces now: no loopback, no link-local. */
export function interfaceAddresses(table: NodeJS.Dict<NetworkInterfaceInfo[]>): { address: string; family: "IPv4" | "IPv6" }[] {
  const out: { address: string; family: "IPv4" | "IPv6" }[] = [];
  for (const infos of Object.values(table)) {
    for (const i of infos ?? []) {
      if (i.internal) continue;
      if (i.family === "IPv4" && i.address.startsWith("169.254.")) continue;
      if (i.family === "IPv6" && /^fe[89ab]/i.test(i.address)) continue;
      out.push({ address: i.address, family: i.family });
    }
  }
  return out;
}

const isV6 = (a: string): boolean => a.includes(":");

/**
 * `iroh`: the addresses iroh reports; `local`: the interfaces' addresses now; `seen`: every address
 * ever seen on an interface (updated by the caller); `boundV4`: the IPv4 socket's port when iroh
 * reports no IPv4 address to take it from.
 */
export function directAddresses(
  iroh: readonly DirectAddress[],
  local: readonly { address: string; family: "IPv4" | "IPv6" }[],
  seen: ReadonlySet<string>,
  boundV4: number | undefined,
): DirectAddress[] {
  const here = new Set(local.map((l) => l.address));
  // The socket's own port: from an address iroh reports on an interface (or loopback), never from
  // a mapping learnt elsewhere, whose port a NAT chose.
  const own = (a: DirectAddress) => here.has(a.address) || seen.has(a.address) || a.address === "127.0.0.1" || a.address === "::1";
  const v4Port = iroh.find((a) => !isV6(a.address) && own(a))?.port ?? boundV4;
  const v6Port = iroh.find((a) => isV6(a.address) && own(a))?.port;
  const out: DirectAddress[] = [];
  const add = (a: DirectAddress) => {
    if (!out.some((o) => o.address === a.address && o.port === a.port)) out.push(a);
  };
  for (const a of iroh) if (here.has(a.address) || !seen.has(a.address)) add(a);
  for (const l of local) {
    const port = l.family === "IPv4" ? v4Port : v6Port;
    if (port !== undefined) add({ address: l.address, port });
  }
  return out.sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
}
