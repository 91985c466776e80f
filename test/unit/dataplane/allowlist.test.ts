import { expect, test } from "bun:test";
import { findAllowed, isAllowed, normalizeHost, type AllowEntry } from "../../../src/dataplane/allowlist.ts";

const entry = (host: string, port: number, enabled = true, id = `${host}:${port}`): AllowEntry => ({ id, host, port, enabled });

test.each([
  ["127.0.0.1", "127.0.0.1"],
  ["localhost", "127.0.0.1"],
  ["LOCALHOST", "127.0.0.1"],
  ["::1", "127.0.0.1"],
  ["[::1]", "127.0.0.1"],
  ["http://localhost", "127.0.0.1"],
  ["HTTPS://Example.Test", "example.test"],
  ["[fd00::1]", "fd00::1"],
  ["localhost.", "localhost."],
  ["0.0.0.0", "0.0.0.0"],
  ["[::ffff:127.0.0.1]", "::ffff:127.0.0.1"],
])("normalizeHost(%p) = %p", (input, expected) => {
  expect(normalizeHost(input)).toBe(expected);
});

const list = [entry("127.0.0.1", 3000), entry("localhost", 4000), entry("http://127.0.0.1", 5000), entry("::1", 6000), entry("db.internal", 5432), entry("127.0.0.1", 7000, false)];

test.each([
  // exact and loopback-normalized matches, on either side
  ["127.0.0.1", 3000, true],
  ["localhost", 3000, true],
  ["::1", 3000, true],
  ["[::1]", 3000, true],
  ["http://127.0.0.1", 3000, true],
  ["https://localhost", 3000, true],
  ["127.0.0.1", 4000, true],
  ["127.0.0.1", 5000, true],
  ["localhost", 6000, true],
  ["DB.Internal", 5432, true],
  // port must match
  ["127.0.0.1", 3001, false],
  ["db.internal", 3000, false],
  // disabled entries never match
  ["127.0.0.1", 7000, false],
  // SSRF-ish spellings are distinct hosts, so they do not match
  ["0.0.0.0", 3000, false],
  ["127.1", 3000, false],
  ["127.0.0.2", 3000, false],
  ["2130706433", 3000, false],
  ["0x7f000001", 3000, false],
  ["[::ffff:127.0.0.1]", 3000, false],
  ["::ffff:127.0.0.1", 3000, false],
  ["localhost.", 3000, false],
  ["localhost.localdomain", 3000, false],
  ["user@127.0.0.1", 3000, false],
  ["127.0.0.1@evil.test", 3000, false],
  ["127.0.0.1%2f", 3000, false],
  ["ftp://127.0.0.1", 3000, false],
  ["db.internal.", 5432, false],
  ["", 3000, false],
])("isAllowed(%p, %p) = %p", (host, port, expected) => {
  expect(isAllowed(list, host, port)).toBe(expected);
});

test("the matching entry is returned, and an empty list allows nothing", () => {
  expect(findAllowed(list, "localhost", 5000)?.id).toBe("http://127.0.0.1:5000");
  expect(isAllowed([], "127.0.0.1", 3000)).toBe(false);
});
