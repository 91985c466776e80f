import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { HTTPProxy, TrafficProtectionPolicy } from "../../../src/controlplane/schemas.ts";
import {
  covers,
  httpProxyBody,
  proxyConnectorName,
  proxyEndpoint,
  proxyLabel,
  proxyRules,
  trafficProtectionEnabled,
  trafficProtectionPolicyBody,
  tunnelShape,
} from "../../../src/tunnel/objects.ts";

describe("bodies", () => {
  test("HTTPProxy create body is exactly upstream's (docs/wire-facts.md#httpproxy)", () => {
    expect(httpProxyBody("my-dev", "http://127.0.0.1:8080", "datum-connect-7xk2p")).toEqual({
      apiVersion: "networking.datumapis.com/v1alpha",
      kind: "HTTPProxy",
      metadata: { generateName: "tunnel-", annotations: { "app.kubernetes.io/name": "my-dev" } },
      spec: {
        hostnames: null,
        rules: [
          {
            name: null,
            matches: [
              {
                path: { type: "PathPrefix", value: "/" },
                headers: [{ name: "x-forwarded-proto", type: "Exact", value: "http" }],
              },
            ],
            filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
            backends: null,
          },
          {
            name: null,
            matches: [{ path: { type: "PathPrefix", value: "/" } }],
            filters: null,
            backends: [{ endpoint: "http://127.0.0.1:8080", connector: { name: "datum-connect-7xk2p" }, filters: null }],
          },
        ],
      },
    });
    expect(v.is(HTTPProxy, httpProxyBody("x", "http://127.0.0.1:1", "c"))).toBe(true);
  });

  test("TrafficProtectionPolicy body is upstream's and valid (docs/wire-facts.md#trafficprotectionpolicy)", () => {
    const body = trafficProtectionPolicyBody("tunnel-abcde");
    expect(body).toMatchObject({
      metadata: { name: "tunnel-abcde" },
      spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "tunnel-abcde", sectionName: null }], mode: "Enforce" },
    });
    expect(v.is(TrafficProtectionPolicy, body)).toBe(true);
  });

  test.each([
    ["1", true],
    ["true", true],
    ["TRUE", true],
    ["yes", true],
    ["YES", true],
    ["True", false],
    ["0", false],
    ["", false],
    [undefined, false],
  ])("trafficProtectionEnabled(%p)", (value, expected) => {
    expect(trafficProtectionEnabled({ DATUM_CONNECT_CREATE_TRAFFIC_PROTECTION_POLICIES: value })).toBe(expected);
  });
});

describe("reading proxies", () => {
  const proxy = (rules: unknown[], annotations?: Record<string, string>) =>
    v.parse(HTTPProxy, { metadata: { name: "tunnel-abc", ...(annotations ? { annotations } : {}) }, spec: { rules } });

  test("label falls back to the name", () => {
    expect(proxyLabel(proxy(proxyRules("http://a:1", "c"), { "app.kubernetes.io/name": "web" }))).toBe("web");
    expect(proxyLabel(proxy(proxyRules("http://a:1", "c")))).toBe("tunnel-abc");
  });

  test("endpoint and connector come from the first backend", () => {
    const p = proxy(proxyRules("127.0.0.1:3000", "datum-connect-x"));
    expect(proxyEndpoint(p)).toBe("http://127.0.0.1:3000");
    expect(proxyConnectorName(p)).toBe("datum-connect-x");
    const bare = proxy([{ backends: [{ endpoint: "http://h:1" }] }]);
    expect(proxyConnectorName(bare)).toBeUndefined();
    expect(proxyEndpoint(proxy([{ matches: [] }]))).toBe("");
  });
});

describe("tunnelShape", () => {
  const redirect = { filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }], backends: null };
  const via = (endpoint: string, connector = "datum-connect-x") => ({ backends: [{ endpoint, connector: { name: connector } }] });
  const shape = (name: string, rules: unknown[]) => tunnelShape(v.parse(HTTPProxy, { metadata: { name }, spec: { rules } }));

  test.each<[string, string, unknown[], string]>([
    ["ours: redirect + backend through a Connector", "tunnel-abc", proxyRules("127.0.0.1:3000", "datum-connect-x"), "tunnel http://127.0.0.1:3000 via datum-connect-x"],
    ["an older agent's: the backend rule alone", "tunnel-abc", [via("http://localhost:8080")], "tunnel http://localhost:8080 via datum-connect-x"],
    ["endpoint spelled without a scheme is normalized", "tunnel-abc", [via("127.0.0.1:3000")], "tunnel http://127.0.0.1:3000 via datum-connect-x"],
    ["not named tunnel-*", "web-app", proxyRules("127.0.0.1:3000", "datum-connect-x"), "not named tunnel-*"],
    ["an instance backend", "tunnel-pod", [{ backends: [{ instance: { name: "pod-slice", port: 8080 } }] }], "its backend is an instance, not an endpoint"],
    ["redirect only", "tunnel-redir", [redirect], "it has no backend"],
    ["two rules with a backend each", "tunnel-two", [via("http://127.0.0.1:1"), { backends: [{ endpoint: "https://api.example.com" }] }], "it has 2 backends; a tunnel has one"],
    ["a plain FQDN backend, no Connector", "tunnel-fqdn", [redirect, { backends: [{ endpoint: "https://api.example.com" }] }], "its backend does not go through a Connector"],
  ])("%s", (_title, name, rules, expected) => {
    const s = shape(name, rules);
    expect(s.tunnel ? `tunnel ${s.endpoint} via ${s.connectorName}` : s.reason).toBe(expected);
  });
});

describe("covers", () => {
  test.each<[string, unknown, unknown, boolean]>([
    ["equal primitives", 1, 1, true],
    ["different primitives", "a", "b", false],
    ["null desired, absent existing", undefined, null, true],
    ["null desired, present existing", [1], null, false],
    ["server-added field ignored", { a: 1, defaulted: "x" }, { a: 1 }, true],
    ["missing field", {}, { a: 1 }, false],
    ["key order irrelevant", { b: 2, a: 1 }, { a: 1, b: 2 }, true],
    ["arrays need equal length", [1, 2], [1], false],
    ["arrays element-wise", [{ a: 1, x: 0 }], [{ a: 1 }], true],
    ["array vs object", { 0: 1 }, [1], false],
    ["nulls in our rules match a server that dropped them", stripNulls(proxyRules("http://a:1", "c")), proxyRules("http://a:1", "c"), true],
    ["other connector", proxyRules("http://a:1", "c2"), proxyRules("http://a:1", "c"), false],
    ["other endpoint", proxyRules("http://a:2", "c"), proxyRules("http://a:1", "c"), false],
  ])("%s", (_title, existing, desired, expected) => {
    expect(covers(existing, desired)).toBe(expected);
  });
});

function stripNulls(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, val) => (val === null ? undefined : val)));
}
