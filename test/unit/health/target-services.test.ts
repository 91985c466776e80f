/** Which service of a group a data-plane target's counters belong to (src/health/target-services.ts). */
import { expect, test } from "bun:test";
import { targetServices, type ServiceTargetFacts } from "../../../src/health/target-services.ts";

const services: ServiceTargetFacts[] = [
  { name: "app", tunnelId: "tunnel-app", endpoint: "http://127.0.0.1:3000" },
  { name: "api", tunnelId: "tunnel-api", endpoint: "https://api.internal:8443" },
  { name: "v6", tunnelId: null, endpoint: "http://[::1]:7000" },
  { name: "pending", tunnelId: null, endpoint: null },
];

test.each<[string, string, string | undefined]>([
  ["a tunnel id", "tunnel-api", "api"],
  ["the endpoint's authority", "127.0.0.1:3000", "app"],
  ["a loopback spelling of a loopback endpoint", "localhost:3000", "app"],
  ["IPv6 loopback for an IPv4 loopback endpoint", "[::1]:3000", "app"],
  ["an IPv6 endpoint by its own spelling", "[::1]:7000", "v6"],
  ["an IPv6 endpoint by a loopback alias", "127.0.0.1:7000", "v6"],
  ["a named host, any case", "API.internal:8443", "api"],
  ["a named host on another port", "api.internal:8444", undefined],
  ["another port on loopback", "localhost:22", undefined],
  ["the overflow bucket", "*", undefined],
  ["a malformed head", "(malformed)", undefined],
  ["an unknown tunnel id", "tunnel-zzz", undefined],
])("%s: %p → %p", (_what, key, expected) => {
  expect(targetServices(services, [key]).get(key)).toBe(expected);
});

test("a loopback alias shared by two loopback endpoints on one port names neither", () => {
  const two: ServiceTargetFacts[] = [
    { name: "a", tunnelId: null, endpoint: "http://127.0.0.1:3000" },
    { name: "b", tunnelId: null, endpoint: "http://localhost:3000" },
  ];
  const map = targetServices(two, ["127.0.0.1:3000", "localhost:3000", "[::1]:3000"]);
  expect([...map]).toEqual([
    ["127.0.0.1:3000", "a"],
    ["localhost:3000", "b"],
  ]);
});
