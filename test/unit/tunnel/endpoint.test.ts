import { describe, expect, test } from "bun:test";
import { Exit, UsageError } from "../../../src/errors.ts";
import { advertisementSpec, normalizeEndpoint, parseTarget, stripScheme } from "../../../src/tunnel/endpoint.ts";

describe("normalizeEndpoint", () => {
  test.each([
    ["127.0.0.1:3000", "http://127.0.0.1:3000"],
    ["localhost:8080", "http://localhost:8080"],
    ["[::1]:9000", "http://[::1]:9000"],
    ["https://api.local:8443", "https://api.local:8443"],
    ["  127.0.0.1:3000 \n", "http://127.0.0.1:3000"],
    ["", ""],
    ["   ", ""],
    ["tcp://x:1", "tcp://x:1"],
  ])("normalizeEndpoint(%p)", (input, expected) => {
    expect(normalizeEndpoint(input)).toBe(expected);
  });
});

describe("parseTarget", () => {
  test.each([
    ["127.0.0.1:3000", "127.0.0.1", 3000],
    ["localhost:8080", "localhost", 8080],
    ["[::1]:9000", "::1", 9000],
    ["https://api.local:8443", "api.local", 8443],
    ["http://127.0.0.1:3000", "127.0.0.1", 3000],
    ["http://[::1]:9000", "::1", 9000],
    ["http://localhost:8080/some/path", "localhost", 8080],
    ["http://host:443", "host", 443],
    ["https://host:80", "host", 80],
    ["127.0.0.1:65535", "127.0.0.1", 65535],
  ])("accepts %p", (input, host, port) => {
    expect(parseTarget(input)).toEqual({ host, port });
    expect(parseTarget(normalizeEndpoint(input))).toEqual({ host, port });
  });

  test.each([
    ["localhost", "missing port"],
    ["http://localhost", "missing port"],
    ["http://host", "missing port"],
    ["http://host:80", "missing port"],
    ["https://host:443", "missing port"],
    ["[::1", "invalid IPv6 address"],
    ["http://[::1", "invalid IPv6 address"],
    ["[nope]:80", "invalid IPv6 address"],
    ["[::1]", "missing port"],
    ["[::1]9000", "missing port"],
    ["", "missing host"],
    ["   ", "missing host"],
    [":8080", "missing host"],
    ["http://:8080", "missing host"],
    ["host:abc", "invalid port"],
    ["http://host:abc", "invalid port"],
    ["host:0", "invalid port"],
    ["host:65536", "invalid port"],
    ["http://host:", "missing port"],
    ["host:+80", "invalid port"],
    ["my host:80", "invalid host"],
  ])("rejects %p with %p", (input, message) => {
    for (const text of [input, normalizeEndpoint(input)]) {
      let caught: unknown;
      try {
        parseTarget(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(UsageError);
      expect((caught as UsageError).message).toBe(message);
      expect((caught as UsageError).exit).toBe(Exit.usage);
      expect((caught as UsageError).hint).toContain("127.0.0.1:3000");
    }
  });
});

describe("stripScheme", () => {
  test.each([
    ["http://127.0.0.1:3000", "127.0.0.1:3000"],
    ["https://api.local:8443/x", "api.local:8443"],
    ["http://[::1]:9000", "[::1]:9000"],
    ["http://localhost", "http://localhost"],
    ["127.0.0.1:3000", "127.0.0.1:3000"],
    ["", ""],
  ])("stripScheme(%p)", (input, expected) => {
    expect(stripScheme(input)).toBe(expected);
  });
});

describe("advertisementSpec", () => {
  test.each([
    ["127.0.0.1:8080", "127.0.0.1", 8080],
    ["http://[::1]:9000", "::1", 9000],
    ["https://api.local:8443", "api.local", 8443],
  ])("advertisementSpec(c, %p)", (endpoint, address, port) => {
    expect(advertisementSpec("datum-connect-7xk2p", endpoint)).toEqual({
      connectorRef: { name: "datum-connect-7xk2p" },
      layer4: [{ name: "default", services: [{ address, ports: [{ name: `tcp-${port}`, port, protocol: "TCP" }] }] }],
    });
  });

  test("rejects an endpoint without a port", () => {
    expect(() => advertisementSpec("c", "localhost")).toThrow("missing port");
  });
});
