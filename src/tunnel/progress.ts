/**
 * Tunnel setup progress (docs/wire-facts.md#setup-progress): six checkpoints read from the HTTPProxy's and its
 * Connector's conditions, in the order a healthy setup passes them. Pure, so `listen`, `status`
 * and the tests all read the same verdict from the same objects.
 *
 * A condition only counts once the controller has observed the object's current generation: after
 * a spec PATCH the old `True` conditions linger with the old `observedGeneration`, and trusting them
 * printed "ready" while Envoy still served the previous config (docs/wire-facts.md#setup-progress).
 *
 * Optional conditions (docs/wire-facts.md#setup-progress): only `ConnectorMetadataProgrammed` may be
 * absent, because NSO drops it outside EnvoyPatchPolicy mode. `CertificatesReady` stays required: NSO
 * removes it or sets it `Unknown` only when it cannot see the downstream cluster, and a public URL
 * without a certificate is not ready; the verifier's HTTPS probe is the backstop should that ever wait
 * forever.
 */
import type { Condition, Connector, HTTPProxy } from "../controlplane/schemas.ts";

export type StepName =
  | "proxy_accepted"
  | "certificates_ready"
  | "connector_ready"
  | "iroh_dns_published"
  | "proxy_programmed"
  | "connector_metadata_programmed";

export type StepStatus = "unknown" | "pending" | "ready";

export type ResourceKind = "HTTPProxy" | "Connector";

interface StepDefinition {
  readonly step: StepName;
  readonly label: string;
  readonly resourceKind: ResourceKind;
  readonly condition: string;
}

/** The six steps, in order: JSON name, printed label, backing object, condition type. */
export const STEPS: readonly StepDefinition[] = [
  { step: "proxy_accepted", label: "tunnel accepted", resourceKind: "HTTPProxy", condition: "Accepted" },
  { step: "certificates_ready", label: "TLS certificate issued", resourceKind: "HTTPProxy", condition: "CertificatesReady" },
  { step: "connector_ready", label: "connector ready", resourceKind: "Connector", condition: "Ready" },
  { step: "iroh_dns_published", label: "iroh DNS published", resourceKind: "Connector", condition: "IrohDNSPublished" },
  { step: "proxy_programmed", label: "route programmed", resourceKind: "HTTPProxy", condition: "Programmed" },
  {
    step: "connector_metadata_programmed",
    label: "envoy metadata propagated",
    resourceKind: "HTTPProxy",
    condition: "ConnectorMetadataProgrammed",
  },
];

export interface ProgressStep {
  readonly step: StepName;
  readonly label: string;
  readonly resourceKind: ResourceKind;
  readonly status: StepStatus;
  readonly reason?: string;
  readonly message?: string;
  /** `HTTPProxy/<id>` or `Connector/<name>`; absent when the Connector does not exist. */
  readonly resource?: string;
}

export interface TunnelProgress {
  readonly hostnames: string[];
  readonly steps: ProgressStep[];
  /** The tunnel's ConnectorAdvertisement exists; absent when it was not read. */
  readonly advertised?: boolean;
  /** The tunnel's normalized endpoint as the platform has it now; absent when it was not read. */
  readonly endpoint?: string;
}

export const DEFERRED_TO_OWNER = "DeferredToOwner";

/** The status of one condition against its object's generation (missing generations count as 0). */
export function conditionStatus(conditions: readonly Condition[] | null | undefined, type: string, generation: number | undefined): {
  status: StepStatus;
  condition?: Condition;
} {
  const condition = conditions?.find((c) => c.type === type);
  if (!condition) return { status: "unknown" };
  const fresh = (condition.observedGeneration ?? 0) >= (generation ?? 0);
  return { status: condition.status === "True" && fresh ? "ready" : "pending", condition };
}

/** `status.hostnames`, else `spec.hostnames`, else none (docs/wire-facts.md#tunnel-operations). */
export function proxyHostnames(proxy: HTTPProxy): string[] {
  return proxy.status?.hostnames ?? proxy.spec.hostnames ?? [];
}

export function computeProgress(proxy: HTTPProxy, connector: Connector | undefined, advertised?: boolean): TunnelProgress {
  const proxyResource = proxy.metadata.name ? `HTTPProxy/${proxy.metadata.name}` : undefined;
  const connectorResource = connector?.metadata.name ? `Connector/${connector.metadata.name}` : undefined;
  const steps = STEPS.map((def): ProgressStep => {
    const onProxy = def.resourceKind === "HTTPProxy";
    const { status, condition } = onProxy
      ? conditionStatus(proxy.status?.conditions, def.condition, proxy.metadata.generation)
      : conditionStatus(connector?.status?.conditions, def.condition, connector?.metadata.generation);
    const resource = onProxy ? proxyResource : connectorResource;
    return {
      step: def.step,
      label: def.label,
      resourceKind: def.resourceKind,
      status,
      ...(condition?.reason ? { reason: condition.reason } : {}),
      ...(condition?.message ? { message: condition.message } : {}),
      ...(resource ? { resource } : {}),
    };
  });
  return { hostnames: proxyHostnames(proxy), steps, ...(advertised !== undefined ? { advertised } : {}) };
}

/** A step that will not heal by waiting: the iroh DNS record is owned by another Connector (docs/wire-facts.md#dns-records). */
export function isTerminalFailure(step: ProgressStep): boolean {
  return step.step === "iroh_dns_published" && step.status === "pending" && step.reason === DEFERRED_TO_OWNER;
}

export function terminalFailure(progress: TunnelProgress): ProgressStep | undefined {
  return progress.steps.find(isTerminalFailure);
}

/** Every step ready, except that an absent `ConnectorMetadataProgrammed` counts as ready. */
export function allReady(progress: TunnelProgress): boolean {
  return progress.steps.every(
    (s) => s.status === "ready" || (s.step === "connector_metadata_programmed" && s.status === "unknown"),
  );
}

/** The plugin's multi-line terminal-failure text (docs/wire-facts.md#terminal-failures), ending with a newline. */
export function formatTerminalFailure(step: ProgressStep): string {
  const lines = [
    `Tunnel setup failed at step: ${step.label} (${step.resourceKind})`,
    `  resource: ${step.resource ?? "(none)"}`,
  ];
  if (step.reason !== undefined) lines.push(`  reason: ${step.reason}`);
  if (step.message !== undefined) lines.push(`  message: ${step.message}`);
  if (isTerminalFailure(step)) {
    lines.push(
      "",
      "Another connector with the same iroh key owns the DNS record for this tunnel. Most likely this means you are running two connectors against the same listen_key store. Stop the other connector or use a different repo directory.",
    );
  }
  return `${lines.join("\n")}\n`;
}
