// Every user-facing line of `tunnel listen` (docs/wire-facts.md#setup-progress, #verify, #cli-lines,
// #json-events), exact strings.
import { describe, expect, test } from "bun:test";
import {
  originUnverifiedLine,
  originVerifiedLine,
  progressChanges,
  proxyRespondingLine,
  proxyWaitingLine,
  publicAnswer,
  publicUrl,
  readyLine,
  secs0,
  secs1,
  stepDoneLine,
  stepWaitingLine,
} from "../../../src/listen/lines.ts";
import type { ProgressStep, StepName, StepStatus } from "../../../src/tunnel/progress.ts";
import { progressOf, progressWith, stepOf } from "./progress-fixtures.ts";

describe("seconds", () => {
  test.each([
    [0, "0.0", "0"],
    [800, "0.8", "1"],
    [849, "0.8", "1"],
    [1_250, "1.3", "1"],
    [12_400, "12.4", "12"],
    [12_500, "12.5", "13"],
    [-5, "0.0", "0"],
  ])("%p ms → %p / %p", (ms, one, zero) => {
    expect(secs1(ms)).toBe(one);
    expect(secs0(ms)).toBe(zero);
  });
});

describe("stepDoneLine", () => {
  test.each<[string, ProgressStep, number]>([
    ["  ✓ tunnel accepted (0.8s) [HTTPProxy/tunnel-x]", stepOf("proxy_accepted", "ready", { resource: "HTTPProxy/tunnel-x" }), 800],
    ["  ✓ TLS certificate issued (2.3s) [HTTPProxy/tunnel-x]", stepOf("certificates_ready", "ready", { resource: "HTTPProxy/tunnel-x" }), 2_340],
    ["  ✓ connector ready (0.0s) [Connector/datum-connect-abc]", stepOf("connector_ready", "ready", { resource: "Connector/datum-connect-abc" }), 0],
    ["  ✓ iroh DNS published (1.0s)", stepOf("iroh_dns_published", "ready"), 1_000],
    ["  ✓ route programmed (61.0s) [HTTPProxy/tunnel-x]", stepOf("proxy_programmed", "ready", { resource: "HTTPProxy/tunnel-x" }), 61_040],
    ["  ✓ envoy metadata propagated (0.0s) [HTTPProxy/tunnel-x]", stepOf("connector_metadata_programmed", "ready", { resource: "HTTPProxy/tunnel-x" }), -10],
  ])("%j", (expected, step, elapsed) => {
    expect(stepDoneLine(step, elapsed)).toBe(expected);
  });
});

describe("stepWaitingLine", () => {
  test.each<[string, ProgressStep, number]>([
    [
      "  ○ waiting for TLS certificate issued (12s) [HTTPProxy/tunnel-x]: Waiting for certificate",
      stepOf("certificates_ready", "pending", { resource: "HTTPProxy/tunnel-x", reason: "Pending", message: "Waiting for certificate" }),
      12_400,
    ],
    [
      "  ○ waiting for connector ready (10s) [Connector/datum-connect-abc]: ConnectorNotReady",
      stepOf("connector_ready", "pending", { resource: "Connector/datum-connect-abc", reason: "ConnectorNotReady" }),
      10_000,
    ],
    ["  ○ waiting for route programmed (30s) [HTTPProxy/tunnel-x]", stepOf("proxy_programmed", "unknown", { resource: "HTTPProxy/tunnel-x" }), 30_000],
    ["  ○ waiting for connector ready (20s)", stepOf("connector_ready", "unknown"), 20_000],
  ])("%j", (expected, step, elapsed) => {
    expect(stepWaitingLine(step, elapsed)).toBe(expected);
  });
});

describe("verification lines", () => {
  test.each([
    [originVerifiedLine("http://127.0.0.1:3000", 200, 300), "  ✓ origin reachable (0.3s) [http://127.0.0.1:3000]: HTTP 200"],
    [originVerifiedLine("http://127.0.0.1:3000/", 404, 1_060), "  ✓ origin reachable (1.1s) [http://127.0.0.1:3000/]: HTTP 404"],
    [originUnverifiedLine("http://127.0.0.1:3000"), "warning: origin http://127.0.0.1:3000 did not respond within budget — continuing"],
    [
      originUnverifiedLine("http://127.0.0.1:3000", null, "ECONNREFUSED: ECONNREFUSED: Unable to connect. Is the computer able to access the url?"),
      "warning: origin http://127.0.0.1:3000 refused the connection: nothing is listening there (is the service running?) — continuing",
    ],
    [
      originUnverifiedLine("http://127.0.0.1:3000", null, "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:3000"),
      "warning: origin http://127.0.0.1:3000 refused the connection: nothing is listening there (is the service running?) — continuing",
    ],
    [originUnverifiedLine("http://127.0.0.1:3000", null, "23: The operation timed out."), "warning: origin http://127.0.0.1:3000 did not respond within budget — continuing"],
    [originUnverifiedLine("http://127.0.0.1:3000", 503, null), "warning: origin http://127.0.0.1:3000 answered HTTP 503 — continuing"],
    [
      originUnverifiedLine("http://127.0.0.1:3000", null, "ECONNRESET: socket hang up"),
      "warning: origin http://127.0.0.1:3000 closed the connection without answering (ECONNRESET: socket hang up) — continuing",
    ],
    [
      originUnverifiedLine("http://web.internal:3000", null, "EAI_AGAIN: getaddrinfo EAI_AGAIN web.internal"),
      "warning: origin http://web.internal:3000 did not resolve (EAI_AGAIN: getaddrinfo EAI_AGAIN web.internal) — continuing",
    ],
    [originUnverifiedLine("http://127.0.0.1:3000", null, "boom"), "warning: origin http://127.0.0.1:3000 did not respond within budget (boom) — continuing"],
    [proxyWaitingLine("https://abc.datumproxy.net", 10_000, 502, null, true), "  ○ waiting for tunnel [https://abc.datumproxy.net] (10s) ... HTTP 502: the origin is down"],
    [proxyWaitingLine("https://abc.datumproxy.net", 10_000, 502, null, false), "  ○ waiting for tunnel [https://abc.datumproxy.net] (10s) ... HTTP 502"],
    [proxyWaitingLine("https://abc.datumproxy.net", 10_000, 503, null, true), "  ○ waiting for tunnel [https://abc.datumproxy.net] (10s) ... HTTP 503"],
    [publicAnswer(502, null, true), "HTTP 502: the origin is down"],
    [publicAnswer(null, "ECONNREFUSED", true), "ECONNREFUSED"],
    [publicAnswer(null, null, false), "no answer"],
    [proxyRespondingLine("https://abc.datumproxy.net", 200, 4_200), "  ✓ proxy responding (4.2s) [https://abc.datumproxy.net]: HTTP 200"],
    [proxyRespondingLine("https://abc.datumproxy.net", 401, 0), "  ✓ proxy responding (0.0s) [https://abc.datumproxy.net]: HTTP 401"],
    [proxyWaitingLine("https://abc.datumproxy.net", 10_000, 503, null), "  ○ waiting for tunnel [https://abc.datumproxy.net] (10s) ... HTTP 503"],
    [proxyWaitingLine("https://abc.datumproxy.net", 10_000, 503, "ignored when a status exists"), "  ○ waiting for tunnel [https://abc.datumproxy.net] (10s) ... HTTP 503"],
    [
      proxyWaitingLine("https://abc.datumproxy.net", 25_400, null, "ENOTFOUND: getaddrinfo ENOTFOUND abc.datumproxy.net"),
      "  ○ waiting for tunnel [https://abc.datumproxy.net] (25s) ... ENOTFOUND: getaddrinfo ENOTFOUND abc.datumproxy.net",
    ],
    [proxyWaitingLine("https://abc.datumproxy.net", 5_000, null, null), "  ○ waiting for tunnel [https://abc.datumproxy.net] (5s) ... no answer"],
  ])("%j", (actual, expected) => {
    expect(actual).toBe(expected);
  });
});

describe("readyLine (whole seconds, floored)", () => {
  test.each([
    [0, "Tunnel ready after 0 sec: https://abc.datumproxy.net"],
    [999, "Tunnel ready after 0 sec: https://abc.datumproxy.net"],
    [1_000, "Tunnel ready after 1 sec: https://abc.datumproxy.net"],
    [12_999, "Tunnel ready after 12 sec: https://abc.datumproxy.net"],
    [60_500, "Tunnel ready after 60 sec: https://abc.datumproxy.net"],
    [-250, "Tunnel ready after 0 sec: https://abc.datumproxy.net"],
  ])("%p ms", (ms, expected) => {
    expect(readyLine(ms, "https://abc.datumproxy.net")).toBe(expected);
  });
});

describe("publicUrl", () => {
  test.each<[string, Record<string, string | undefined>, string]>([
    ["abc.datumproxy.net", {}, "https://abc.datumproxy.net"],
    ["abc.datumproxy.net", { DATUM_CONNECT_PUBLIC_URL: undefined }, "https://abc.datumproxy.net"],
    ["abc.datumproxy.net", { DATUM_CONNECT_PUBLIC_URL: "" }, "https://abc.datumproxy.net"],
    ["abc.datumproxy.net", { DATUM_CONNECT_PUBLIC_URL: "   " }, "https://abc.datumproxy.net"],
    ["abc.datumproxy.localhost", { DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:8080" }, "http://abc.datumproxy.localhost:8080"],
    ["abc.datumproxy.localhost", { DATUM_CONNECT_PUBLIC_URL: "  http://{hostname}:8080/  " }, "http://abc.datumproxy.localhost:8080/"],
    ["h.localhost", { DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:1/?host={hostname}" }, "http://h.localhost:1/?host=h.localhost"],
    ["h.localhost", { DATUM_CONNECT_PUBLIC_URL: "http://fixed.example" }, "http://fixed.example"],
  ])("%s with %j → %s", (hostname, env, expected) => {
    expect(publicUrl(hostname, env)).toBe(expected);
  });
});

describe("progressChanges", () => {
  const names = (changes: ReturnType<typeof progressChanges>) => changes.map((c) => [c.step.step, c.previous, c.step.status]);

  test("the first poll reports every step, with no previous status", () => {
    const first = progressWith("unknown", { proxy_accepted: "pending" });
    expect(names(progressChanges(undefined, first))).toEqual([
      ["proxy_accepted", undefined, "pending"],
      ["certificates_ready", undefined, "unknown"],
      ["connector_ready", undefined, "unknown"],
      ["iroh_dns_published", undefined, "unknown"],
      ["proxy_programmed", undefined, "unknown"],
      ["connector_metadata_programmed", undefined, "unknown"],
    ]);
  });

  test.each<[string, Partial<Record<StepName, StepStatus>>, Partial<Record<StepName, StepStatus>>, [StepName, StepStatus, StepStatus][]]>([
    ["nothing changed", {}, {}, []],
    ["unknown → pending counts", {}, { proxy_accepted: "pending" }, [["proxy_accepted", "unknown", "pending"]]],
    ["pending → ready", { proxy_accepted: "pending" }, { proxy_accepted: "ready" }, [["proxy_accepted", "pending", "ready"]]],
    ["ready → pending (regression) counts", { connector_ready: "ready" }, { connector_ready: "pending" }, [["connector_ready", "ready", "pending"]]],
    [
      "several at once, in step order",
      {},
      { proxy_programmed: "ready", proxy_accepted: "ready", iroh_dns_published: "pending" },
      [
        ["proxy_accepted", "unknown", "ready"],
        ["iroh_dns_published", "unknown", "pending"],
        ["proxy_programmed", "unknown", "ready"],
      ],
    ],
  ])("%s", (_name, before, after, expected) => {
    const changes = progressChanges(progressWith("unknown", before), progressWith("unknown", after));
    expect(names(changes)).toEqual(expected);
  });

  test("the changed step is the new one (label, resource, reason carried)", () => {
    const before = progressOf({ overrides: { Accepted: { status: "False", reason: "Pending" } } });
    const after = progressOf();
    const [change, ...rest] = progressChanges(before, after);
    expect(rest).toEqual([]);
    expect(change?.previous).toBe("pending");
    expect(change?.step).toEqual({
      step: "proxy_accepted",
      label: "tunnel accepted",
      resourceKind: "HTTPProxy",
      status: "ready",
      resource: "HTTPProxy/tunnel-x",
    });
  });

  test("hostnames alone are not a change", () => {
    expect(progressChanges(progressOf({ hostnames: [] }), progressOf({ hostnames: ["x.datumproxy.net"] }))).toEqual([]);
  });
});
