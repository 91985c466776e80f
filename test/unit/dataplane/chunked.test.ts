import { expect, test } from "bun:test";
import { ChunkedDecoder, encodeChunk, LAST_CHUNK } from "../../../src/dataplane/chunked.ts";

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (parts: Uint8Array[]): string => parts.map((p) => String.fromCharCode(...p)).join("");

function decodeAll(input: string, step: number): { body: string; done: boolean; rest: string } {
  const d = new ChunkedDecoder();
  let body = "";
  let rest = "";
  for (let i = 0; i < input.length; i += step) {
    const out = d.push(bytes(input.slice(i, i + step)));
    body += text(out.data);
    rest += String.fromCharCode(...out.rest);
  }
  return { body, done: d.done, rest };
}

test.each([
  ["5\r\nhello\r\n0\r\n\r\n", "hello", ""],
  ["5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", ""],
  ["A;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", "0123456789", ""],
  ["3\nabc\n0\n\n", "abc", ""],
  ["0\r\n\r\nNEXT", "", "NEXT"],
  ["1\r\n\r\r\n0\r\n\r\n", "\r", ""],
])("decodes %p at every split", (input, body, rest) => {
  for (const step of [1, 2, 3, 7, input.length]) {
    expect(decodeAll(input, step)).toEqual({ body, done: true, rest });
  }
});

test("an unfinished body is not done", () => {
  expect(decodeAll("5\r\nhel", 2)).toEqual({ body: "hel", done: false, rest: "" });
});

test.each(["x\r\n", "5\r\nhelloXX", `${"1".repeat(13)}\r\n`, "-1\r\n"])("rejects %p", (input) => {
  expect(() => new ChunkedDecoder().push(bytes(input))).toThrow();
});

test("encodeChunk / LAST_CHUNK round-trip", () => {
  const encoded = [encodeChunk(bytes("hello ")), encodeChunk(bytes("world")), LAST_CHUNK];
  expect(text(encoded)).toBe("6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
  expect(decodeAll(text(encoded), 4)).toEqual({ body: "hello world", done: true, rest: "" });
});
