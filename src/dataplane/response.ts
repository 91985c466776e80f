/**
 * The device's own responses on a stream (docs/wire-facts.md#stream-protocol), byte for byte, and response-head
 * serialization for the absolute mode.
 */
import type { Header } from "./http-head.ts";

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

export const FORBIDDEN = ascii("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
export const ORIGIN_UNREACHABLE = ascii("HTTP/1.1 502 Origin Is Unreachable\r\ncontent-length: 0\r\n\r\n");
export const CONNECTION_ESTABLISHED = ascii("HTTP/1.1 200 Connection Established\r\n\r\n");

/** Canonical reason phrases (the `http` crate's `StatusCode::canonical_reason`). */
const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
  200: "OK", 201: "Created", 202: "Accepted", 203: "Non Authoritative Information", 204: "No Content",
  205: "Reset Content", 206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
  409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
  418: "I'm a teapot", 421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked",
  424: "Failed Dependency", 425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required",
  429: "Too Many Requests", 431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
  507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required",
};

/** The canonical reason, or "" for a code without one (the line then ends after the code and a space). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "";
}

export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
}

/** `HTTP/1.1 <code> <canonical reason>`, the headers as `name: value`, and the blank line. */
export function serializeResponseHead(status: number, headers: readonly Header[]): Uint8Array {
  let s = statusLine(status);
  for (const h of headers) s += `${h.name}: ${h.value}\r\n`;
  return latin1Bytes(`${s}\r\n`);
}

/** Header text is latin1: one byte per code unit (values came from bytes in the first place). */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}
