/**
 * Builders for `TunnelProgress` values in listen tests: whole HTTPProxy/Connector objects run
 * through the real `computeProgress`, or single steps by hand.
 */
import type { Condition, Connector, HTTPProxy } from "../../../src/controlplane/schemas.ts";
import { computeProgress, STEPS, type ProgressStep, type StepName, type StepStatus, type TunnelProgress } from "../../../src/tunnel/progress.ts";

export const PROXY_CONDITIONS = ["Accepted", "CertificatesReady", "Programmed", "ConnectorMetadataProgrammed"] as const;
export const CONNECTOR_CONDITIONS = ["Ready", "IrohDNSPublished"] as const;

export type ConditionOverrides = Partial<Record<string, Partial<Condition> | null>>;

/** Conditions `True` at `generation`, except where overridden (`null` removes the condition). */
function conditions(types: readonly string[], generation: number, overrides: ConditionOverrides): Condition[] {
  const out: Condition[] = [];
  for (const type of types) {
    const override = overrides[type];
    if (override === null) continue;
    out.push({ type, status: "True", observedGeneration: generation, ...override });
  }
  return out;
}

export interface ObjectsInput {
  readonly id?: string;
  readonly connectorName?: string | null;
  readonly hostnames?: string[];
  readonly proxyGeneration?: number;
  readonly observedProxyGeneration?: number;
  readonly connectorGeneration?: number;
  readonly overrides?: ConditionOverrides;
}

export function proxyObject(input: ObjectsInput = {}): HTTPProxy {
  const generation = input.proxyGeneration ?? 1;
  return {
    metadata: { name: input.id ?? "tunnel-x", generation },
    spec: { rules: [{ backends: [{ endpoint: "http://127.0.0.1:3000", connector: { name: "datum-connect-abc" } }] }] },
    status: {
      hostnames: input.hostnames ?? ["abc.datumproxy.net"],
      conditions: conditions(PROXY_CONDITIONS, input.observedProxyGeneration ?? generation, input.overrides ?? {}),
    },
  };
}

export function connectorObject(input: ObjectsInput = {}): Connector | undefined {
  if (input.connectorName === null) return undefined;
  const generation = input.connectorGeneration ?? 1;
  return {
    metadata: { name: input.connectorName ?? "datum-connect-abc", generation },
    spec: { connectorClassName: "datum-connect" },
    status: { conditions: conditions(CONNECTOR_CONDITIONS, generation, input.overrides ?? {}) },
  };
}

/** Progress computed from objects: everything ready unless overridden. */
export function progressOf(input: ObjectsInput = {}): TunnelProgress {
  return computeProgress(proxyObject(input), connectorObject(input));
}

/** One step by hand, label and kind from the real step table. */
export function stepOf(step: StepName, status: StepStatus, extra: Partial<Pick<ProgressStep, "reason" | "message" | "resource">> = {}): ProgressStep {
  const def = STEPS.find((s) => s.step === step);
  if (!def) throw new Error(`unknown step ${step}`);
  return { step, label: def.label, resourceKind: def.resourceKind, status, ...extra };
}

/** Progress by hand: every step at `status`, with per-step overrides. */
export function progressWith(
  status: StepStatus,
  overrides: Partial<Record<StepName, StepStatus>> = {},
  hostnames: string[] = ["abc.datumproxy.net"],
): TunnelProgress {
  return {
    hostnames,
    steps: STEPS.map((def) =>
      stepOf(def.step, overrides[def.step] ?? status, {
        resource: def.resourceKind === "HTTPProxy" ? "HTTPProxy/tunnel-x" : "Connector/datum-connect-abc",
      }),
    ),
  };
}
