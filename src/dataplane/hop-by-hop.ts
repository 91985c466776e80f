/**
 * Hop-by-hop header filtering for the absolute (origin) mode (docs/wire-facts.md#stream-protocol).
 *
 * Exactly the upstream list: `connection`, `proxy-authenticate`, `proxy-authorization`, `te`,
 * `trailer`, `transfer-encoding`, and every header named in `Connection` except `upgrade`. The
 * `upgrade` header itself survives (only the websocket path acts on it,
 * docs/wire-facts.md#stream-protocol). Dropping `transfer-encoding` is why bodies on the stream are
 * framed by FIN, never chunked (docs/wire-facts.md#stream-protocol).
 */
import { headerTokens, type Header } from "./http-head.ts";

export const HOP_BY_HOP = new Set(["connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"]);

export function filterHopByHop(headers: readonly Header[]): Header[] {
  const named = new Set(headerTokens(headers, "connection").filter((t) => t !== "upgrade"));
  return headers.filter((h) => !HOP_BY_HOP.has(h.name) && !named.has(h.name));
}
