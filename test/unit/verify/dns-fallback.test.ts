// The DNS fallback of the public-URL probe (docs/wire-facts.md#verify); `*.localhost` needs no DNS (RFC 6761).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fallbackGet, getPinned, isLocalhostName, registrableDomain } from "../../../src/verify/dns-fallback.ts";

describe("registrableDomain (the last two labels)", () => {
  test.each([
    ["abc.datumproxy.net", "datumproxy.net"],
    ["a.b.c.datumproxy.net", "datumproxy.net"],
    ["abc.datumproxy.net.", "datumproxy.net"],
    ["datumproxy.net", "datumproxy.net"],
    ["localhost", "localhost"],
    ["x.datumproxy.localhost", "datumproxy.localhost"],
    // Upstream's simple rule: public suffixes with two labels are not special-cased.
    ["www.example.co.uk", "co.uk"],
  ])("%p → %p", (hostname, expected) => {
    expect(registrableDomain(hostname)).toBe(expected);
  });
});

describe("isLocalhostName", () => {
  test.each([
    ["localhost", true],
    ["LOCALHOST", true],
    ["localhost.", true],
    ["abc.datumproxy.localhost", true],
    ["ABC.Datumproxy.Localhost.", true],
    ["localhost.example.com", false],
    ["mylocalhost", false],
    ["notlocalhost.net", false],
    ["127.0.0.1", false],
    ["abc.datumproxy.net", false],
  ])("%p → %p", (hostname, expected) => {
    expect(isLocalhostName(hostname)).toBe(expected);
  });
});

describe("fallbackGet against a real server on 127.0.0.1", () => {
  const seen: { host: string | null; path: string }[] = [];
  let server: ReturnType<typeof Bun.serve>;

  beforeAll(() => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const url = new URL(req.url);
        seen.push({ host: req.headers.get("host"), path: `${url.pathname}${url.search}` });
        if (url.pathname === "/moved") return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
        if (url.pathname === "/down") return new Response("Tunnel not online", { status: 503 });
        return new Response("hello from the edge", { status: 200 });
      },
    });
  });

  afterAll(async () => {
    await server.stop(true);
  });

  test.each([
    ["/", 200],
    ["/some/path?q=1", 200],
    ["/down", 503],
    // Redirects are answers, not followed.
    ["/moved", 302],
  ])("a *.localhost URL reaches the server with the right Host header: %p → %p", async (path, status) => {
    seen.length = 0;
    const url = `http://abc.datumproxy.localhost:${server.port}${path}`;
    expect(await fallbackGet(url, AbortSignal.timeout(5_000))).toBe(status);
    expect(seen).toEqual([{ host: `abc.datumproxy.localhost:${server.port}`, path }]);
  });

  test("getPinned keeps the URL's host for Host while connecting to the given address", async () => {
    seen.length = 0;
    expect(await getPinned(`http://anything.example.test:${server.port}/x`, "127.0.0.1", AbortSignal.timeout(5_000))).toBe(200);
    expect(seen).toEqual([{ host: `anything.example.test:${server.port}`, path: "/x" }]);
  });

  test("an aborted signal rejects", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(fallbackGet(`http://abc.datumproxy.localhost:${server.port}/`, controller.signal)).rejects.toThrow();
  });
});
