import { expect, test } from "bun:test";
import { CONNECTION_ESTABLISHED, FORBIDDEN, ORIGIN_UNREACHABLE, reasonPhrase, serializeResponseHead, statusLine } from "../../../src/dataplane/response.ts";

const text = (b: Uint8Array): string => String.fromCharCode(...b);

test("the device's own answers, byte for byte", () => {
  expect(text(FORBIDDEN)).toBe("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  expect(text(ORIGIN_UNREACHABLE)).toBe("HTTP/1.1 502 Origin Is Unreachable\r\ncontent-length: 0\r\n\r\n");
  expect(text(CONNECTION_ESTABLISHED)).toBe("HTTP/1.1 200 Connection Established\r\n\r\n");
});

test.each([
  [200, "HTTP/1.1 200 OK\r\n"],
  [101, "HTTP/1.1 101 Switching Protocols\r\n"],
  [404, "HTTP/1.1 404 Not Found\r\n"],
  [418, "HTTP/1.1 418 I'm a teapot\r\n"],
  [503, "HTTP/1.1 503 Service Unavailable\r\n"],
  [599, "HTTP/1.1 599 \r\n"],
])("statusLine(%p)", (status, line) => {
  expect(statusLine(status)).toBe(line);
});

test("reasonPhrase is canonical, not the origin's", () => {
  expect(reasonPhrase(302)).toBe("Found");
  expect(reasonPhrase(299)).toBe("");
});

test("serializeResponseHead", () => {
  const head = serializeResponseHead(201, [
    { name: "content-type", value: "text/plain" },
    { name: "x-latin", value: "caf\xe9" },
  ]);
  expect(text(head)).toBe("HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nx-latin: caf\xe9\r\n\r\n");
});
