// Which existing tunnel `listen --endpoint` may take over (src/tunnel/adoption.ts, docs/adoption.md).
import { describe, expect, test } from "bun:test";
import { decideAdoption, holderOf, passedOverLine, type AdoptionCandidate, type AdoptionContext } from "../../../src/tunnel/adoption.ts";

const ME = "a".repeat(64);
const NAMED = "b".repeat(64);
const GONE = "c".repeat(64);
const OTHER_LAPTOP = "d".repeat(64);

const ctx: AdoptionContext = {
  endpointId: ME,
  deviceName: "laptop-a",
  live: [{ endpointId: NAMED, description: "tunnel web2 (PID 42)" }],
};

const t = (id: string, fields: Partial<AdoptionCandidate> = {}): AdoptionCandidate => ({
  id,
  deleting: false,
  connectorName: `datum-connect-${id}`,
  ...fields,
});

describe("holderOf", () => {
  const cases: [string, AdoptionCandidate, string | undefined][] = [
    ["this identity's Connector", t("own", { connectorEndpointId: ME, deviceName: "laptop-b" }), undefined],
    ["this device, served by an identity that is not running", t("idle", { connectorEndpointId: GONE, deviceName: "laptop-a" }), undefined],
    ["this device, Connector never published details", t("fresh", { deviceName: "laptop-a" }), undefined],
    ["this device, held by a running named tunnel", t("held", { connectorEndpointId: NAMED, deviceName: "laptop-a" }), "tunnel web2 (PID 42) on this device"],
    ["another device", t("theirs", { connectorEndpointId: OTHER_LAPTOP, deviceName: "laptop-b" }), "device 'laptop-b'"],
    ["a Connector without a device name", t("anon", { connectorEndpointId: OTHER_LAPTOP }), "Connector datum-connect-anon, which names no device"],
    ["no Connector at all", t("bare", { connectorName: undefined }), "no device (it names no Connector)"],
    ["device names compare exactly", t("case", { connectorEndpointId: OTHER_LAPTOP, deviceName: "Laptop-A" }), "device 'Laptop-A'"],
  ];
  for (const [name, candidate, expected] of cases) {
    test(name, () => expect(holderOf(candidate, ctx)).toBe(expected));
  }
});

describe("decideAdoption", () => {
  test("no candidates: create, passing nothing over", () => {
    expect(decideAdoption([], ctx)).toEqual({ kind: "create", passedOver: [] });
  });

  test("this identity's own tunnel wins over an earlier one of this device", () => {
    const idle = t("idle", { connectorEndpointId: GONE, deviceName: "laptop-a" });
    const own = t("own", { connectorEndpointId: ME, deviceName: "laptop-a" });
    expect(decideAdoption([idle, own], ctx)).toMatchObject({ kind: "adopt", tunnel: own, why: "own connector" });
  });

  test("the first tunnel of this device that nobody running holds", () => {
    const theirs = t("theirs", { connectorEndpointId: OTHER_LAPTOP, deviceName: "laptop-b" });
    const held = t("held", { connectorEndpointId: NAMED, deviceName: "laptop-a" });
    const idle = t("idle", { connectorEndpointId: GONE, deviceName: "laptop-a" });
    expect(decideAdoption([theirs, held, idle], ctx)).toMatchObject({ kind: "adopt", tunnel: idle, why: "this device" });
  });

  test("only other devices' and held tunnels: create, naming each", () => {
    const theirs = t("theirs", { connectorEndpointId: OTHER_LAPTOP, deviceName: "laptop-b" });
    const held = t("held", { connectorEndpointId: NAMED, deviceName: "laptop-a" });
    const decision = decideAdoption([theirs, held], ctx);
    expect(decision).toEqual({
      kind: "create",
      // Held on this machine first: that is the one the user is most likely to ask about.
      passedOver: [
        { tunnel: held, holder: "tunnel web2 (PID 42) on this device" },
        { tunnel: theirs, holder: "device 'laptop-b'" },
      ],
    });
  });

  test("tunnels being deleted are never adopted, not even our own", () => {
    const own = t("own", { connectorEndpointId: ME, deleting: true });
    expect(decideAdoption([own], ctx)).toEqual({ kind: "create", passedOver: [] });
  });
});

describe("passedOverLine", () => {
  test("names the tunnel and who holds it; counts the rest", () => {
    const a = t("tunnel-a");
    const b = t("tunnel-b");
    expect(passedOverLine("http://127.0.0.1:3000", [{ tunnel: a, holder: "device 'laptop-b'" }])).toBe(
      "existing tunnel tunnel-a for http://127.0.0.1:3000 belongs to device 'laptop-b'; creating a new tunnel",
    );
    expect(passedOverLine("http://127.0.0.1:3000", [{ tunnel: a, holder: "x" }, { tunnel: b, holder: "y" }])).toContain("(and 1 more)");
    expect(passedOverLine("http://127.0.0.1:3000", [])).toBeUndefined();
  });
});
