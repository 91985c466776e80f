import { describe, expect, test } from "bun:test";
import { Exit, UsageError } from "../../../src/errors.ts";
import { formatHostPort, HEALTH_ADDRESS_FORMS, parseHealthAddress, type HealthAddress } from "../../../src/health/address.ts";

describe("parseHealthAddress: accepted forms", () => {
  test.each<[string, HealthAddress]>([
    ["127.0.0.1:9000", { host: "127.0.0.1", port: 9000, loopback: true }],
    ["[::1]:9000", { host: "::1", port: 9000, loopback: true }],
    ["localhost:9000", { host: "127.0.0.1", port: 9000, loopback: true }],
    ["LocalHost:9000", { host: "127.0.0.1", port: 9000, loopback: true }],
    [":9000", { host: "127.0.0.1", port: 9000, loopback: true }],
    ["0.0.0.0:9000", { host: "0.0.0.0", port: 9000, loopback: false }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0, loopback: true }],
    [":0", { host: "127.0.0.1", port: 0, loopback: true }],
    ["[::1]:0", { host: "::1", port: 0, loopback: true }],
    ["127.0.0.1:65535", { host: "127.0.0.1", port: 65535, loopback: true }],
    ["127.0.0.1:1", { host: "127.0.0.1", port: 1, loopback: true }],
    ["  :9000 ", { host: "127.0.0.1", port: 9000, loopback: true }],
  ])("%p", (input, expected) => {
    expect(parseHealthAddress(input)).toEqual(expected);
  });
});

describe("parseHealthAddress: rejected with exit 2 and the accepted forms", () => {
  test.each<[string, string, string?]>([
    ["", "empty"],
    ["   ", "empty"],
    ["9000", "missing the host", "did you mean :9000"],
    ["127.0.0.1", "missing :PORT"],
    ["localhost", "missing :PORT"],
    ["127.0.0.1:", "missing the port"],
    [":", "missing the port"],
    ["127.0.0.1:65536", "not a number from 0 to 65535"],
    ["127.0.0.1:99999", "not a number from 0 to 65535"],
    ["127.0.0.1:123456", "not a number from 0 to 65535"],
    ["127.0.0.1:-1", "not a number from 0 to 65535"],
    ["127.0.0.1:+80", "not a number from 0 to 65535"],
    ["127.0.0.1:80.5", "not a number from 0 to 65535"],
    ["127.0.0.1:0x50", "not a number from 0 to 65535"],
    ["127.0.0.1:http", "not a number from 0 to 65535"],
    ["127.0.0.1: 80", "not a number from 0 to 65535"],
    ["http://127.0.0.1:9000", "not a URL"],
    ["https://localhost:9000/metrics", "not a URL"],
    ["192.168.1.5:9000", 'host "192.168.1.5" is not allowed'],
    ["127.0.0.2:9000", 'host "127.0.0.2" is not allowed'],
    ["example.com:9000", 'host "example.com" is not allowed'],
    ["localhost.:9000", 'host "localhost." is not allowed'],
    ["[::]:9000", "host [::] is not allowed"],
    ["[fe80::1]:9000", "host [fe80::1] is not allowed"],
    ["[::1]", "written [::1]:PORT"],
    ["[::1]9000", "written [::1]:PORT"],
    ["[::1:9000", "written [::1]:PORT"],
    ["::1:9000", "in brackets"],
    ["[::1]:70000", "not a number from 0 to 65535"],
    ["127.0.0.1:9000:1", "in brackets"],
  ])("%p", (input, why, hint = HEALTH_ADDRESS_FORMS) => {
    let caught: unknown;
    try {
      parseHealthAddress(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const err = caught as UsageError;
    expect(err.exit).toBe(Exit.usage);
    expect(err.message).toStartWith(`invalid --health address ${JSON.stringify(input)}: `);
    expect(err.message).toContain(why);
    expect(err.hint).toContain(hint);
    expect(err.hint).toContain("127.0.0.1:PORT, [::1]:PORT, localhost:PORT or :PORT");
  });
});

test.each<[string, number, string]>([
  ["127.0.0.1", 9000, "127.0.0.1:9000"],
  ["::1", 9000, "[::1]:9000"],
  ["0.0.0.0", 0, "0.0.0.0:0"],
])("formatHostPort(%p, %p)", (host, port, expected) => {
  expect(formatHostPort(host, port)).toBe(expected);
});
