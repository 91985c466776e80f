// tunnel doctor's pure parts: hop order, the exit code from the first failing hop's class, the
// table and the JSON document (src/doctor/report.ts), and the pure hop builders of the checks.
import { describe, expect, test } from "bun:test";
import { clockSkewHop, expiryHop, parseDatumctlVersion, relativeTime } from "../../../src/doctor/credentials.ts";
import { classOfExit, exitCodeOf, firstFailure, hop, HOP_ORDER, orderHops, renderTable, reportDocument, type Hop, type HopClass } from "../../../src/doctor/report.ts";
import { objectsHop } from "../../../src/doctor/tunnel.ts";
import { Malformed, Unreachable } from "../../../src/errors.ts";
import type { TunnelProgress } from "../../../src/tunnel/progress.ts";

const pass = (id: string): Hop => hop.pass(id, "api", id, "ok");
const fail = (id: string, cls: HopClass): Hop => hop.fail(id, "api", id, cls, "broken", "fix it");

describe("orderHops", () => {
  test("reports hops in HOP_ORDER, whatever order the checks produced them in", () => {
    const shuffled = [...HOP_ORDER].reverse().map(pass);
    expect(orderHops(shuffled).map((h) => h.id)).toEqual([...HOP_ORDER]);
  });

  test("hops sharing an id (one per relay) keep their given order; unknown ids go last", () => {
    const a = hop.pass("dataplane.relay", "dataplane", "relay", "a", { target: "https://a/" });
    const b = hop.pass("dataplane.relay", "dataplane", "relay", "b", { target: "https://b/" });
    expect(orderHops([pass("zzz"), b, pass("dataplane.udp"), a]).map((h) => h.target ?? h.id)).toEqual(["dataplane.udp", "https://b/", "https://a/", "zzz"]);
  });
});

describe("exitCodeOf: the class of the first failing hop in report order", () => {
  test.each([
    ["nothing failed", [pass("context"), pass("api.tcp")], 0],
    ["warnings and skips are not failures", [hop.warn("credentials.version", "credentials", "v", "?", "r"), hop.skip("api.tls", "api", "t", "why")], 0],
    ["helper missing", [fail("credentials.helper", "config"), fail("api.authenticated", "auth")], 78],
    ["token refused", [pass("credentials.token"), fail("api.authenticated", "auth")], 77],
    ["API down, listed after a later failure", [fail("tunnel.origin", "unreachable"), fail("api.tcp", "unreachable"), fail("dataplane.relay", "config")], 69],
    ["the earlier hop decides, not the listing order", [fail("tunnel.state", "malformed"), fail("tunnel.objects", "provisioning")], 75],
    ["corrupt state alone", [pass("tunnel.objects"), fail("tunnel.state", "malformed")], 65],
    ["no such project", [fail("api.project", "rejected")], 64],
    ["no project at all", [fail("context", "usage")], 2],
    ["unexpected", [fail("api.project", "unexpected")], 1],
  ] as const)("%s → %p", (_what, hops, code) => {
    expect(exitCodeOf(hops)).toBe(code);
  });

  test("firstFailure names the hop", () => {
    expect(firstFailure([fail("tunnel.origin", "unreachable"), fail("dataplane.relay", "unreachable")])?.id).toBe("dataplane.relay");
  });

  test.each([
    [2, "usage"],
    [64, "rejected"],
    [65, "malformed"],
    [69, "unreachable"],
    [75, "provisioning"],
    [77, "auth"],
    [78, "config"],
    [1, "unexpected"],
    [3, "unexpected"],
  ] as const)("classOfExit(%p) → %p", (exit, cls) => {
    expect(classOfExit(exit)).toBe(cls);
  });
});

describe("renderTable", () => {
  test("marks, aligned titles, timing, remedies under failures and warnings, sections apart, the verdict last", () => {
    const hops = [
      hop.fail("api.tcp", "api", "TCP connect", "unreachable", "ECONNREFUSED", "check the network", { target: "api.datum.net:443", ms: 12.4 }),
      hop.pass("credentials.helper", "credentials", "datumctl credentials helper", "found at /usr/bin/datumctl"),
      hop.warn("credentials.version", "credentials", "datumctl version", "unknown", "upgrade datumctl", { ms: 1500 }),
      hop.skip("api.tls", "api", "TLS handshake", "not connected", { target: "api.datum.net:443" }),
    ];
    expect(renderTable(hops)).toBe(
      [
        "✓ datumctl credentials helper             found at /usr/bin/datumctl",
        "! datumctl version                  1.5s  unknown",
        "    → upgrade datumctl",
        "",
        "✗ TCP connect api.datum.net:443     12ms  ECONNREFUSED",
        "    → check the network",
        "- TLS handshake api.datum.net:443         not connected",
        "",
        "first broken hop: TCP connect api.datum.net:443 (exit 69)",
        "",
      ].join("\n"),
    );
  });

  test("all passing ends with 'every hop passed'", () => {
    expect(renderTable([pass("context")]).trimEnd().split("\n").at(-1)).toBe("every hop passed");
  });
});

describe("reportDocument", () => {
  const meta = { version: "1.2.3", platform: "linux-x64", generatedAt: "2026-12-07T12:00:00.000Z", tunnel: "web" };

  test("stable keys, hops in order with rounded timings, the first failure and its exit code", () => {
    const doc = reportDocument([fail("tunnel.origin", "unreachable"), hop.pass("api.tcp", "api", "TCP connect", "ok", { ms: 3.6 })], meta);
    expect(doc).toEqual({
      schema: 1,
      tool: "datumctl-connect",
      version: "1.2.3",
      platform: "linux-x64",
      generatedAt: "2026-12-07T12:00:00.000Z",
      tunnel: "web",
      ok: false,
      exitCode: 69,
      firstFailure: "tunnel.origin",
      hops: [
        { id: "api.tcp", section: "api", title: "TCP connect", target: null, status: "pass", ms: 4, seen: "ok", remedy: null, class: null },
        { id: "tunnel.origin", section: "api", title: "tunnel.origin", target: null, status: "fail", ms: null, seen: "broken", remedy: "fix it", class: "unreachable" },
      ],
    });
  });

  test("ok with no failure", () => {
    expect(reportDocument([pass("context")], meta)).toMatchObject({ ok: true, exitCode: 0, firstFailure: null });
  });
});

describe("credentials hops", () => {
  const now = Date.parse("2026-12-07T12:00:00Z");

  test.each([
    ['{"clientVersion":{"gitVersion":"v0.18.0"}}', "v0.18.0"],
    ['{"clientVersion":{"gitVersion":""}}', undefined],
    ['{"serverVersion":{}}', undefined],
    ["datumctl version v1", undefined],
  ])("parseDatumctlVersion(%p) → %p", (stdout, version) => {
    expect(parseDatumctlVersion(stdout)).toBe(version);
  });

  test.each([
    [5_000, "in 5s"],
    [-5_000, "5s ago"],
    [14 * 60_000 + 10_000, "in 14m"],
    [3 * 3_600_000 + 2 * 60_000, "in 3h 2m"],
  ])("relativeTime(%p) → %p", (delta, text) => {
    expect(relativeTime(delta)).toBe(text);
  });

  test.each([
    ["no exp", undefined, "pass", "an opaque token (no exp to read)"],
    ["valid", now + 3_600_000, "pass", "in 1h 0m (2026-12-07T13:00:00.000Z)"],
    ["expired", now - 120_000, "fail", "expired 2m ago (2026-12-07T11:58:00.000Z)"],
  ] as const)("expiry: %s", (_what, exp, status, seen) => {
    const h = expiryHop(exp, now);
    expect({ status: h.status, seen: h.seen, class: h.class }).toEqual({ status, seen, class: status === "fail" ? "auth" : null });
  });

  test.each([
    // [server Date, local time at the answer, round trip, status]
    ["Mon, 07 Dec 2026 12:00:00 GMT", now + 500, 10, "pass", "+0.0s against the API's Date"],
    ["Mon, 07 Dec 2026 12:00:00 GMT", now + 10_500, 10, "pass", "+10.0s against the API's Date"],
    ["Mon, 07 Dec 2026 12:00:00 GMT", now + 120_500, 10, "fail", "+120.0s against the API's Date"],
    ["Mon, 07 Dec 2026 12:00:00 GMT", now - 119_500, 10, "fail", "-120.0s against the API's Date"],
    [null, now, 10, "skip", "the API gave no Date header"],
    ["yesterday", now, 10, "skip", 'unreadable Date header "yesterday"'],
  ] as const)("clock skew: Date %p at local %p", (date, local, rtt, status, seen) => {
    const h = clockSkewHop(date, local + rtt / 2, rtt);
    expect({ status: h.status, seen: h.seen }).toEqual({ status, seen });
    if (status === "fail") expect(h.class).toBe("config");
  });
});

describe("objectsHop", () => {
  const step = (s: Partial<TunnelProgress["steps"][number]> & { step: TunnelProgress["steps"][number]["step"] }) =>
    ({ label: s.step, resourceKind: "HTTPProxy", status: "ready", ...s }) as TunnelProgress["steps"][number];
  const ready: TunnelProgress = {
    hostnames: ["a.example"],
    advertised: true,
    steps: [step({ step: "proxy_accepted" }), step({ step: "connector_ready" }), step({ step: "connector_metadata_programmed", status: "unknown" })],
  };

  test.each([
    ["never created", undefined, undefined, "warn", null],
    ["gone", "tunnel-a", undefined, "fail", "rejected"],
    ["ready (absent metadata condition counts)", "tunnel-a", ready, "pass", null],
    ["disabled", "tunnel-a", { ...ready, advertised: false }, "fail", "config"],
    ["a step pending", "tunnel-a", { ...ready, steps: [...ready.steps, step({ step: "certificates_ready", label: "TLS certificate issued", status: "pending", reason: "Issuing" })] }, "fail", "provisioning"],
    ["the API failed", "tunnel-a", new Unreachable("control plane unreachable", "try later"), "fail", "unreachable"],
    ["unreadable answer", "tunnel-a", new Malformed("bad answer"), "fail", "malformed"],
  ] as const)("%s", (_what, id, progress, status, cls) => {
    const h = objectsHop(id, progress as TunnelProgress | undefined, "web");
    expect({ status: h.status, class: h.class }).toEqual({ status, class: cls });
  });

  test("a pending step is named with its reason", () => {
    const h = objectsHop("tunnel-a", { ...ready, steps: [step({ step: "certificates_ready", label: "TLS certificate issued", status: "pending", reason: "Issuing", message: "waiting on ACME" })] }, "web");
    expect(h.seen).toBe("TLS certificate issued: pending (Issuing: waiting on ACME)");
  });
});
