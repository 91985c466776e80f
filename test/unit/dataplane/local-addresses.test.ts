import { describe, expect, test } from "bun:test";
import type { NetworkInterfaceInfo } from "node:os";
import { directAddresses, interfaceAddresses } from "../../../src/dataplane/local-addresses.ts";

const v4 = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, family: "IPv4", internal, netmask: "255.255.255.0", mac: "00:00:00:00:00:00", cidr: `${address}/24` }) as NetworkInterfaceInfo;
const v6 = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, family: "IPv6", internal, netmask: "ffff:ffff:ffff:ffff::", mac: "00:00:00:00:00:00", cidr: `${address}/64`, scopeid: 0 }) as NetworkInterfaceInfo;

describe("interfaceAddresses", () => {
  test("skips loopback and link-local", () => {
    expect(interfaceAddresses({ lo: [v4("127.0.0.1", true), v6("::1", true)], eth0: [v4("198.18.1.2"), v4("169.254.3.4"), v6("fe80::1"), v6("fd00::2")] })).toEqual([
      { address: "198.18.1.2", family: "IPv4" },
      { address: "fd00::2", family: "IPv6" },
    ]);
  });
});

describe("directAddresses", () => {
  const cases: [string, Parameters<typeof directAddresses>, { address: string; port: number }[]][] = [
    ["nothing changed", [[{ address: "198.18.1.2", port: 5000 }], [{ address: "198.18.1.2", family: "IPv4" }], new Set(["198.18.1.2"]), 5000], [{ address: "198.18.1.2", port: 5000 }]],
    [
      "moved: the old address gone from the interfaces is dropped, the new one added at iroh's port",
      [[{ address: "198.18.1.2", port: 5000 }], [{ address: "198.18.1.7", family: "IPv4" }], new Set(["198.18.1.2", "198.18.1.7"]), 5000],
      [{ address: "198.18.1.7", port: 5000 }],
    ],
    [
      "iroh fell back to loopback: the interface's address is added beside it",
      [[{ address: "127.0.0.1", port: 5000 }, { address: "::1", port: 6000 }], [{ address: "198.18.1.7", family: "IPv4" }], new Set(["198.18.1.2", "198.18.1.7"]), 5000],
      [{ address: "127.0.0.1", port: 5000 }, { address: "198.18.1.7", port: 5000 }, { address: "::1", port: 6000 }],
    ],
    [
      "an address iroh learnt elsewhere (a NAT's mapping) stays",
      [[{ address: "203.0.113.9", port: 41000 }, { address: "10.0.0.2", port: 5000 }], [{ address: "10.0.0.2", family: "IPv4" }], new Set(["10.0.0.2"]), 5000],
      [{ address: "10.0.0.2", port: 5000 }, { address: "203.0.113.9", port: 41000 }],
    ],
    [
      "IPv6 interface address takes the port of iroh's IPv6 socket; none known: not added",
      [[{ address: "198.18.1.2", port: 5000 }], [{ address: "198.18.1.2", family: "IPv4" }, { address: "fd00::2", family: "IPv6" }], new Set(["198.18.1.2", "fd00::2"]), 5000],
      [{ address: "198.18.1.2", port: 5000 }],
    ],
    [
      "IPv6 move",
      [[{ address: "fd00::2", port: 6000 }], [{ address: "fd00::7", family: "IPv6" }], new Set(["fd00::2", "fd00::7"]), 5000],
      [{ address: "fd00::7", port: 6000 }],
    ],
    ["loopback only machine: unchanged", [[{ address: "127.0.0.1", port: 5000 }], [], new Set(), 5000], [{ address: "127.0.0.1", port: 5000 }]],
    ["no IPv4 from iroh: the bound port", [[], [{ address: "198.18.1.2", family: "IPv4" }], new Set(["198.18.1.2"]), 4444], [{ address: "198.18.1.2", port: 4444 }]],
  ];
  for (const [name, args, want] of cases) test(name, () => expect(directAddresses(...args)).toEqual(want));
});
