import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { DevCloudConfigPatch, defaultConfig, mergeConfig } from "../../../src/devcloud/config.ts";
import type { JsonObject } from "../../../src/devcloud/json.ts";
import { connectorBackend, parseTarget } from "../../../src/devcloud/routes.ts";

describe("parseTarget", () => {
  test.each([
    ["http://127.0.0.1:8080", { host: "127.0.0.1", port: 8080 }],
    ["https://api.local:8443", { host: "api.local", port: 8443 }],
    ["http://[::1]:3000", { host: "::1", port: 3000 }],
    ["127.0.0.1:3000", { host: "127.0.0.1", port: 3000 }],
    ["http://localhost", { host: "localhost", port: 80 }],
    ["https://localhost", { host: "localhost", port: 443 }],
    ["not a url at all", undefined],
    ["ftp://host", undefined],
  ])("%p", (endpoint, expected) => {
    expect(parseTarget(endpoint)).toEqual(expected as never);
  });
});

describe("connectorBackend", () => {
  test("finds the backend with a connector after the redirect rule (B.5)", () => {
    const proxy: JsonObject = {
      spec: {
        rules: [
          { filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }] },
          { backends: [{ endpoint: "http://127.0.0.1:8080", connector: { name: "datum-connect-7xk2p" } }] },
        ],
      },
    };
    expect(connectorBackend(proxy)).toEqual({ endpoint: "http://127.0.0.1:8080", connector: "datum-connect-7xk2p" });
  });
  test("a proxy without a connector backend has none", () => {
    expect(connectorBackend({ spec: { rules: [{ backends: [{ endpoint: "http://x:1" }] }] } })).toBeUndefined();
  });
});

describe("config", () => {
  test("defaults are the platform's", () => {
    const config = defaultConfig();
    expect(config.leaseDurationSeconds).toBe(30);
    expect(config.hostnameZone).toEndWith(".localhost");
    expect(Object.values(config.delays).every((d) => d === 0)).toBe(true);
  });

  test("a patch merges, delays deeply", () => {
    const next = mergeConfig(defaultConfig(), { leaseDurationSeconds: 1, delays: { programmed: 200 } });
    expect(next.leaseDurationSeconds).toBe(1);
    expect(next.delays.programmed).toBe(200);
    expect(next.delays.accepted).toBe(0);
  });

  test.each([
    [{ hostnameZone: "datumproxy.net" }, false],
    [{ hostnameZone: "tunnels.localhost" }, true],
    [{ leaseDurationSeconds: 0 }, false],
    [{ delays: { accepted: -1 } }, false],
    [{ omitConditions: ["CertificatesReady"] }, true],
    [{ omitConditions: ["Programmed"] }, false],
    [{ unknownKnob: true }, false],
  ])("patch %j valid: %p", (patch, valid) => {
    const parsed = v.safeParse(DevCloudConfigPatch, patch);
    const ok = parsed.success && (() => {
      try {
        mergeConfig(defaultConfig(), parsed.output);
        return true;
      } catch {
        return false;
      }
    })();
    expect(ok).toBe(valid);
  });
});
