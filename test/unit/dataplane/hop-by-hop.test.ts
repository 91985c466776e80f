import { expect, test } from "bun:test";
import { filterHopByHop } from "../../../src/dataplane/hop-by-hop.ts";
import type { Header } from "../../../src/dataplane/http-head.ts";

const h = (pairs: Array<[string, string]>): Header[] => pairs.map(([name, value]) => ({ name, value }));

test.each([
  [[["host", "a"], ["connection", "keep-alive"], ["accept", "*/*"]], ["host", "accept"]],
  [[["te", "trailers"], ["trailer", "x"], ["transfer-encoding", "chunked"], ["content-type", "t"]], ["content-type"]],
  [[["proxy-authorization", "Basic x"], ["proxy-authenticate", "Basic"], ["x-a", "1"]], ["x-a"]],
  // headers named in Connection go too, except `upgrade`
  [[["connection", "keep-alive, X-Secret"], ["keep-alive", "5"], ["x-secret", "s"], ["x-public", "p"]], ["x-public"]],
  [[["connection", "Upgrade"], ["upgrade", "websocket"], ["sec-websocket-key", "k"]], ["upgrade", "sec-websocket-key"]],
  [[["connection", "close"], ["connection", "x-b"], ["x-b", "1"], ["x-c", "2"]], ["x-c"]],
  // content-length is end-to-end and stays
  [[["content-length", "10"], ["transfer-encoding", "chunked"]], ["content-length"]],
])("%#", (input, kept) => {
  expect(filterHopByHop(h(input as Array<[string, string]>)).map((x) => x.name)).toEqual(kept);
});
