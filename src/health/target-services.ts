/**
 * Which service of a group a data-plane target's counters belong to (docs/groups.md). Pure.
 *
 * `counters.targets` is keyed by what the data plane counts under: the target authority
 * (`host:port` as the gateway requested it, docs/wire-facts.md#counters) — or a tunnel id, where
 * the recorder keys by tunnel. Both are joined: a key equal to a service's tunnel id is that
 * service; otherwise a key whose host and port are a service's endpoint's is that service, and a
 * loopback spelling (`localhost`, `127.0.0.1`, `[::1]`) of a loopback endpoint's port counts when
 * exactly one service has that port on loopback. Keys that name no service (the overflow bucket,
 * malformed heads, denied scans of other ports) are left out.
 */
import type { ServiceRecord } from "../state/run-state.ts";
import { normalizeEndpoint, parseTarget, type Target } from "../tunnel/endpoint.ts";

export type ServiceTargetFacts = Pick<ServiceRecord, "name" | "tunnelId" | "endpoint">;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

function targetOf(text: string): Target | undefined {
  try {
    const t = parseTarget(text);
    return { host: t.host.toLowerCase(), port: t.port };
  } catch {
    return undefined;
  }
}

/** Target key → service name, for the keys that belong to a service. */
export function targetServices(services: readonly ServiceTargetFacts[], keys: readonly string[]): Map<string, string> {
  const byId = new Map<string, string>();
  const byAuthority = new Map<string, string>();
  const loopbackByPort = new Map<number, string[]>();
  for (const s of services) {
    if (s.tunnelId) byId.set(s.tunnelId, s.name);
    const t = s.endpoint ? targetOf(normalizeEndpoint(s.endpoint)) : undefined;
    if (!t) continue;
    byAuthority.set(`${t.host}:${t.port}`, s.name);
    if (LOOPBACK.has(t.host)) loopbackByPort.set(t.port, [...(loopbackByPort.get(t.port) ?? []), s.name]);
  }
  const out = new Map<string, string>();
  for (const key of keys) {
    const id = byId.get(key);
    if (id !== undefined) {
      out.set(key, id);
      continue;
    }
    const t = targetOf(key);
    if (!t) continue;
    const exact = byAuthority.get(`${t.host}:${t.port}`);
    if (exact !== undefined) out.set(key, exact);
    else if (LOOPBACK.has(t.host)) {
      const names = loopbackByPort.get(t.port) ?? [];
      if (names.length === 1) out.set(key, names[0] as string);
    }
  }
  return out;
}
