import { describe, expect, test } from "bun:test";
import type { Condition, Connector, HTTPProxy } from "../../../src/controlplane/schemas.ts";
import {
  allReady,
  computeProgress,
  conditionStatus,
  formatTerminalFailure,
  type ProgressStep,
  STEPS,
  terminalFailure,
} from "../../../src/tunnel/progress.ts";

const cond = (type: string, status: "True" | "False" | "Unknown", observedGeneration?: number, reason?: string, message?: string): Condition => ({
  type,
  status,
  ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
});

const proxy = (conditions: Condition[], generation = 1, hostnames?: string[]): HTTPProxy => ({
  metadata: { name: "tunnel-abc", generation },
  spec: { hostnames: ["spec.example"], rules: [{ backends: [{ endpoint: "http://127.0.0.1:3000", connector: { name: "datum-connect-x" } }] }] },
  status: { conditions, ...(hostnames ? { hostnames } : {}) },
});

const connector = (conditions: Condition[], generation = 1): Connector => ({
  metadata: { name: "datum-connect-x", generation },
  spec: { connectorClassName: "datum-connect" },
  status: { conditions },
});

const READY_PROXY = [
  cond("Accepted", "True", 1),
  cond("CertificatesReady", "True", 1),
  cond("Programmed", "True", 1),
  cond("ConnectorMetadataProgrammed", "True", 1),
];
const READY_CONNECTOR = [cond("Ready", "True", 1), cond("IrohDNSPublished", "True", 1, "Owner")];

describe("conditionStatus (observedGeneration rule)", () => {
  test.each<[string, Condition[], number | undefined, string]>([
    ["absent → unknown", [], 1, "unknown"],
    ["True at current generation → ready", [cond("X", "True", 2)], 2, "ready"],
    ["True observed ahead → ready", [cond("X", "True", 3)], 2, "ready"],
    ["True at an old generation → pending (docs/wire-facts.md#setup-progress)", [cond("X", "True", 1)], 2, "pending"],
    ["True without observedGeneration on generation 1 → pending", [cond("X", "True")], 1, "pending"],
    ["True without observedGeneration, no generation → ready", [cond("X", "True")], undefined, "ready"],
    ["False → pending", [cond("X", "False", 5)], 1, "pending"],
    ["Unknown → pending", [cond("X", "Unknown", 5)], 1, "pending"],
  ])("%s", (_title, conditions, generation, expected) => {
    expect(conditionStatus(conditions, "X", generation).status).toBe(expected as never);
  });
});

describe("computeProgress", () => {
  test("six steps in order with labels, JSON names and resources", () => {
    const progress = computeProgress(proxy(READY_PROXY), connector(READY_CONNECTOR));
    expect(progress.steps.map((s) => [s.step, s.label, s.resource, s.status])).toEqual([
      ["proxy_accepted", "tunnel accepted", "HTTPProxy/tunnel-abc", "ready"],
      ["certificates_ready", "TLS certificate issued", "HTTPProxy/tunnel-abc", "ready"],
      ["connector_ready", "connector ready", "Connector/datum-connect-x", "ready"],
      ["iroh_dns_published", "iroh DNS published", "Connector/datum-connect-x", "ready"],
      ["proxy_programmed", "route programmed", "HTTPProxy/tunnel-abc", "ready"],
      ["connector_metadata_programmed", "envoy metadata propagated", "HTTPProxy/tunnel-abc", "ready"],
    ]);
    expect(allReady(progress)).toBe(true);
    expect(STEPS).toHaveLength(6);
  });

  test("no conditions anywhere → all unknown, not ready, no failure", () => {
    const progress = computeProgress(proxy([]), undefined);
    expect(progress.steps.every((s) => s.status === "unknown")).toBe(true);
    expect(allReady(progress)).toBe(false);
    expect(terminalFailure(progress)).toBeUndefined();
  });

  test("missing Connector: its steps carry no resource", () => {
    const progress = computeProgress(proxy(READY_PROXY), undefined);
    expect(progress.steps.filter((s) => s.resourceKind === "Connector").map((s) => s.resource)).toEqual([undefined, undefined]);
    expect(progress.steps[0]?.resource).toBe("HTTPProxy/tunnel-abc");
  });

  test("hostnames: status, else spec", () => {
    expect(computeProgress(proxy([], 1, ["a.datumproxy.test"]), undefined).hostnames).toEqual(["a.datumproxy.test"]);
    expect(computeProgress(proxy([]), undefined).hostnames).toEqual(["spec.example"]);
  });

  test("reason and message are carried through", () => {
    const progress = computeProgress(proxy([cond("CertificatesReady", "False", 1, "Issuing", "Certificate request submitted")]), undefined);
    expect(progress.steps[1]).toMatchObject({ status: "pending", reason: "Issuing", message: "Certificate request submitted" });
  });
});

describe("allReady", () => {
  const without = (type: string) => READY_PROXY.filter((c) => c.type !== type);
  test.each<[string, Condition[], Condition[], number, boolean]>([
    ["everything ready", READY_PROXY, READY_CONNECTOR, 1, true],
    ["ConnectorMetadataProgrammed absent counts as ready", without("ConnectorMetadataProgrammed"), READY_CONNECTOR, 1, true],
    [
      "ConnectorMetadataProgrammed False blocks",
      [...without("ConnectorMetadataProgrammed"), cond("ConnectorMetadataProgrammed", "False", 1)],
      READY_CONNECTOR,
      1,
      false,
    ],
    ["CertificatesReady absent blocks", without("CertificatesReady"), READY_CONNECTOR, 1, false],
    [
      "CertificatesReady Unknown blocks",
      [...without("CertificatesReady"), cond("CertificatesReady", "Unknown", 1)],
      READY_CONNECTOR,
      1,
      false,
    ],
    ["stale proxy generation blocks", READY_PROXY, READY_CONNECTOR, 2, false],
    ["connector not ready blocks", READY_PROXY, [cond("Ready", "False", 1), cond("IrohDNSPublished", "True", 1)], 1, false],
  ])("%s", (_title, proxyConditions, connectorConditions, generation, expected) => {
    expect(allReady(computeProgress(proxy(proxyConditions, generation), connector(connectorConditions)))).toBe(expected);
  });
});

describe("terminal failure", () => {
  const deferred = [cond("Ready", "True", 1), cond("IrohDNSPublished", "False", 1, "DeferredToOwner", "owned by Connector /p2/default/datum-connect-y")];

  test("IrohDNSPublished pending with DeferredToOwner is terminal", () => {
    const step = terminalFailure(computeProgress(proxy(READY_PROXY), connector(deferred)));
    expect(step?.step).toBe("iroh_dns_published");
  });

  test.each([
    ["Pending reason", [cond("IrohDNSPublished", "False", 1, "Pending")]],
    ["True with DeferredToOwner reason (stale text)", [cond("IrohDNSPublished", "True", 1, "DeferredToOwner")]],
  ])("%s is not terminal", (_title, conditions) => {
    expect(terminalFailure(computeProgress(proxy(READY_PROXY), connector(conditions)))).toBeUndefined();
  });

  test("formatTerminalFailure: the plugin's multi-line text", () => {
    const step = terminalFailure(computeProgress(proxy(READY_PROXY), connector(deferred)))!;
    expect(formatTerminalFailure(step)).toBe(
      [
        "Tunnel setup failed at step: iroh DNS published (Connector)",
        "  resource: Connector/datum-connect-x",
        "  reason: DeferredToOwner",
        "  message: owned by Connector /p2/default/datum-connect-y",
        "",
        "Another connector with the same iroh key owns the DNS record for this tunnel. Most likely this means you are running two connectors against the same listen_key store. Stop the other connector or use a different repo directory.",
        "",
      ].join("\n"),
    );
  });

  test("formatTerminalFailure without resource, reason or message", () => {
    const step: ProgressStep = { step: "connector_ready", label: "connector ready", resourceKind: "Connector", status: "pending" };
    expect(formatTerminalFailure(step)).toBe("Tunnel setup failed at step: connector ready (Connector)\n  resource: (none)\n");
  });
});
