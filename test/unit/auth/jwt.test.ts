import { describe, expect, test } from "bun:test";
import { decodeBase64Url, decodeJwtClaims, tokenExpiryMs } from "../../../src/auth/jwt.ts";

const b64u = (s: string) => Buffer.from(s).toString("base64url");
const jwt = (payload: string) => `${b64u('{"alg":"RS256","typ":"JWT"}')}.${b64u(payload)}.c2lnbmF0dXJl`;

describe("decodeJwtClaims", () => {
  test.each([
    ["exp and sub", jwt('{"exp":1800000000,"sub":"360628348109527815"}'), { exp: 1800000000, sub: "360628348109527815" }],
    ["exp only", jwt('{"exp":1800000000}'), { exp: 1800000000 }],
    ["fractional exp", jwt('{"exp":1800000000.5}'), { exp: 1800000000.5 }],
    ["no claims we read", jwt('{"iss":"https://auth.datum.net"}'), {}],
    ["exp as a string is ignored", jwt('{"exp":"1800000000","sub":"u"}'), { sub: "u" }],
    ["empty sub is ignored", jwt('{"exp":1,"sub":""}'), { exp: 1 }],
    // Payload lengths 1, 2 and 3 mod 3 exercise every re-added padding length.
    ["padding 0", jwt('{"sub":"abc"}'), { sub: "abc" }],
    ["padding 1", jwt('{"sub":"abcd"}'), { sub: "abcd" }],
    ["padding 2", jwt('{"sub":"abcde"}'), { sub: "abcde" }],
    // base64url's - and _ (from bytes 0xfb/0xff in the payload).
    ["url-safe alphabet", jwt('{"sub":"ÿûÿ?>"}'), { sub: "ÿûÿ?>" }],
  ])("%s", (_name, token, expected) => {
    expect(decodeJwtClaims(token)).toEqual(expected);
  });

  test.each([
    ["opaque token", "dtmo_abcdefghijklmnop"],
    ["empty", ""],
    ["two segments", `${b64u("{}")}.${b64u('{"exp":1}')}`],
    ["four segments", `a.${b64u('{"exp":1}')}.c.d`],
    ["empty payload", "a..c"],
    ["payload not base64url", "a.e+y/J=.c"],
    ["payload not JSON", `a.${b64u("not json")}.c`],
    ["payload a JSON array", `a.${b64u("[1,2]")}.c`],
    ["payload JSON null", `a.${b64u("null")}.c`],
    ["payload not UTF-8", `a.${Buffer.from([0xff, 0xfe, 0x7b]).toString("base64url")}.c`],
    ["impossible base64 length", "a.abcde.c"],
  ])("%s → opaque (undefined)", (_name, token) => {
    expect(decodeJwtClaims(token)).toBeUndefined();
  });
});

describe("tokenExpiryMs", () => {
  test.each([
    [jwt('{"exp":1800000000}'), 1_800_000_000_000],
    [jwt('{"sub":"u"}'), undefined],
    ["opaque-token", undefined],
  ])("%p → %p", (token, expected) => {
    expect(tokenExpiryMs(token)).toBe(expected);
  });
});

test("decodeBase64Url re-adds padding", () => {
  expect(Buffer.from(decodeBase64Url("YQ")!).toString()).toBe("a");
  expect(Buffer.from(decodeBase64Url("YWI")!).toString()).toBe("ab");
  expect(Buffer.from(decodeBase64Url("YWJj")!).toString()).toBe("abc");
  expect(decodeBase64Url("YQ==")).toBeUndefined(); // padding is not base64url
});
