/**
 * Which way the gateway's connections reach this device: straight over UDP ("direct") or through
 * the iroh relay ("relay"). Read from `conn.paths()` per live connection (polled on each stats
 * request: iroh-js's `watchPaths` aborts the process). `tunnel status` shows the tally.
 */

/** The fields of iroh's `PathSnapshot` this needs. */
export interface PathLike {
  readonly isSelected: boolean;
  readonly isIp: boolean;
  readonly isRelay: boolean;
}

export type PathKind = "direct" | "relay" | "none";

export interface PathTally {
  /** Live connections whose selected path is a direct UDP address. */
  direct: number;
  /** Live connections whose selected path goes through the relay. */
  relay: number;
  /** Live connections with no selected path (yet). */
  none: number;
}

/** The kind of a connection's selected path; none selected (or an unknown kind) → "none". */
export function pathKind(paths: readonly PathLike[]): PathKind {
  const selected = paths.find((p) => p.isSelected);
  if (!selected) return "none";
  if (selected.isRelay) return "relay";
  if (selected.isIp) return "direct";
  return "none";
}

export function tallyPaths(connections: readonly (readonly PathLike[])[]): PathTally {
  const tally: PathTally = { direct: 0, relay: 0, none: 0 };
  for (const paths of connections) tally[pathKind(paths)]++;
  return tally;
}

/** `tunnel status`'s words for a tally. */
export function describePaths(t: PathTally): string {
  const total = t.direct + t.relay + t.none;
  if (total === 0) return "no gateway connection yet";
  const n = (k: number) => `${k} connection${k === 1 ? "" : "s"}`;
  if (t.relay === total) return `relayed (${n(total)} through the relay)`;
  if (t.direct === total) return `direct (${n(total)})`;
  const parts = [t.direct ? `${t.direct} direct` : "", t.relay ? `${t.relay} relayed` : "", t.none ? `${t.none} without a path yet` : ""].filter((x) => x);
  return `${parts.join(", ")} (${n(total)})`;
}
