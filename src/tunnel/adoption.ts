/**
 * Which existing tunnel `listen --endpoint E` may take over (docs/adoption.md).
 *
 * An endpoint such as `127.0.0.1:3000` is local and exists on every laptop, so finding a tunnel by
 * endpoint alone would take another machine's tunnel: rewire its HTTPProxy to this process's
 * Connector, orphan the other machine's Connector and steal its hostname. A tunnel is adopted only
 * when its Connector is this identity's own, or carries this device's name and is not held by
 * another identity of this machine that is running right now (a named tunnel, another project's
 * listen). Pure: the caller gathers the tunnels and the live identities.
 */

/** What the decision reads of one tunnel. */
export interface AdoptionCandidate {
  readonly id: string;
  readonly deleting: boolean;
  readonly connectorName?: string | undefined;
  /** The endpoint id in the Connector's status (the identity that last served it). */
  readonly connectorEndpointId?: string | undefined;
  /** The Connector's `datum.net/device-name`. */
  readonly deviceName?: string | undefined;
}

/** Another identity of this machine whose process runs now. */
export interface LiveIdentity {
  readonly endpointId: string;
  /** For messages: `tunnel web2 (PID 123)`. */
  readonly description: string;
}

export interface AdoptionContext {
  /** This identity's endpoint id. */
  readonly endpointId: string;
  /** This device's `datum.net/device-name`. */
  readonly deviceName: string;
  /** Running identities of this machine other than this one. */
  readonly live: readonly LiveIdentity[];
}

export type AdoptionDecision<T extends AdoptionCandidate> =
  | { readonly kind: "adopt"; readonly tunnel: T; readonly why: "own connector" | "this device" }
  | { readonly kind: "create"; readonly passedOver: readonly { readonly tunnel: T; readonly holder: string }[] };

/** Why one tunnel is not ours to take, or undefined when it is. */
export function holderOf(candidate: AdoptionCandidate, ctx: AdoptionContext): string | undefined {
  if (candidate.connectorEndpointId === ctx.endpointId) return undefined;
  const live = candidate.connectorEndpointId ? ctx.live.find((l) => l.endpointId === candidate.connectorEndpointId) : undefined;
  if (live) return `${live.description} on this device`;
  if (!candidate.connectorName) return "no device (it names no Connector)";
  if (candidate.deviceName === undefined) return `Connector ${candidate.connectorName}, which names no device`;
  if (candidate.deviceName !== ctx.deviceName) return `device '${candidate.deviceName}'`;
  return undefined;
}

/**
 * Among the tunnels serving the wanted endpoint (in listing order): the first whose Connector is
 * this identity's own; else the first of this device that no running identity holds; else create,
 * naming the tunnels passed over and who holds them (those held on this machine first).
 */
export function decideAdoption<T extends AdoptionCandidate>(candidates: readonly T[], ctx: AdoptionContext): AdoptionDecision<T> {
  const usable = candidates.filter((c) => !c.deleting);
  const own = usable.find((c) => c.connectorEndpointId === ctx.endpointId);
  if (own) return { kind: "adopt", tunnel: own, why: "own connector" };
  const passedOver: { tunnel: T; holder: string }[] = [];
  for (const tunnel of usable) {
    const holder = holderOf(tunnel, ctx);
    if (holder === undefined) return { kind: "adopt", tunnel, why: "this device" };
    passedOver.push({ tunnel, holder });
  }
  // What the user most needs to hear first: a tunnel another process of this machine serves.
  const heldHere = (p: { holder: string }) => (p.holder.endsWith("on this device") ? 0 : 1);
  return { kind: "create", passedOver: passedOver.toSorted((a, b) => heldHere(a) - heldHere(b)) };
}

/** The one info line for a create that passed tunnels over. */
export function passedOverLine(endpoint: string, passedOver: readonly { readonly tunnel: AdoptionCandidate; readonly holder: string }[]): string | undefined {
  const first = passedOver[0];
  if (!first) return undefined;
  const more = passedOver.length > 1 ? ` (and ${passedOver.length - 1} more)` : "";
  return `existing tunnel ${first.tunnel.id} for ${endpoint} belongs to ${first.holder}${more}; creating a new tunnel`;
}
