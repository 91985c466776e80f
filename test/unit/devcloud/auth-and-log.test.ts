import { describe, expect, test } from "bun:test";
import { isLoopbackAddress } from "../../../src/devcloud/admin.ts";
import { checkBearer, jwtExpiry } from "../../../src/devcloud/auth.ts";
import { RequestLog, redactAuthorization, redactHeaders, tokenFingerprint } from "../../../src/devcloud/request-log.ts";

const NOW = Date.UTC(2026, 0, 1);

function jwt(payload: object): string {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${b64({ alg: "none" })}.${b64(payload)}.sig`;
}

describe("checkBearer", () => {
  const denied = new Set(["revoked"]);
  test.each<[string, string | null, boolean]>([
    ["an opaque token", "Bearer abc", true],
    ["scheme is case-insensitive", "bearer abc", true],
    ["a live JWT", `Bearer ${jwt({ sub: "u", exp: NOW / 1000 + 60 })}`, true],
    ["a JWT without exp", `Bearer ${jwt({ sub: "u" })}`, true],
    ["an expired JWT", `Bearer ${jwt({ sub: "u", exp: NOW / 1000 - 1 })}`, false],
    ["a JWT expiring right now", `Bearer ${jwt({ sub: "u", exp: NOW / 1000 })}`, false],
    ["a denied token", "Bearer revoked", false],
    ["no header", null, false],
    ["empty bearer", "Bearer ", false],
    ["basic auth", "Basic dXNlcjpwYXNz", false],
  ])("%s", (_name, header, ok) => {
    expect(checkBearer(header, denied, NOW).ok).toBe(ok);
  });

  test("jwtExpiry ignores payloads that are not JSON", () => {
    expect(jwtExpiry("a.b.c")).toBeUndefined();
    expect(jwtExpiry(jwt({ exp: 42 }))).toBe(42);
  });
});

describe("request log redaction", () => {
  test("Authorization keeps the scheme and a sha256 prefix, never the token", () => {
    const redacted = redactAuthorization("Bearer s3cret-token");
    expect(redacted).toBe(`Bearer ${tokenFingerprint("s3cret-token")}`);
    expect(redacted).toMatch(/^Bearer sha256:[0-9a-f]{12}$/);
    expect(redacted).not.toContain("s3cret");
  });

  test("other headers pass through", () => {
    const headers = redactHeaders(new Headers({ authorization: "Bearer xyz", "user-agent": "datumctl-connect/0.1.0" }));
    expect(headers["user-agent"]).toBe("datumctl-connect/0.1.0");
    expect(headers.authorization).not.toContain("xyz");
  });

  test("the log numbers entries and can be cleared", () => {
    const log = new RequestLog();
    const base = { time: "", method: "GET", path: "/", rawQuery: "", query: {}, headers: {}, status: 200, durationMs: 0, faults: [] };
    expect(log.record(base).seq).toBe(1);
    expect(log.record(base).seq).toBe(2);
    expect(log.entries()).toHaveLength(2);
    log.clear();
    expect(log.entries()).toHaveLength(0);
  });
});

describe("isLoopbackAddress", () => {
  test.each([
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["10.0.0.1", false],
    ["192.168.1.2", false],
    ["::ffff:10.0.0.1", false],
  ])("%p → %p", (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });
});
