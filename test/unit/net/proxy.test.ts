// Which proxy a request goes through (src/net/proxy.ts): the variables, NO_PROXY's rules, redaction.
import { describe, expect, test } from "bun:test";
import { noProxyMatches, proxiedFetch, proxyFor, proxySettingsFrom, redactProxyCredentials, redactProxyUrl } from "../../../src/net/proxy.ts";

describe("proxySettingsFrom", () => {
  test.each([
    [{}, { httpsProxy: null, httpProxy: null, noProxy: null }],
    [{ HTTPS_PROXY: "http://p:3128" }, { httpsProxy: "http://p:3128", httpProxy: null, noProxy: null }],
    [{ https_proxy: "http://lower:1", HTTPS_PROXY: "http://upper:2" }, { httpsProxy: "http://lower:1", httpProxy: null, noProxy: null }],
    [{ https_proxy: "", HTTPS_PROXY: "http://upper:2" }, { httpsProxy: "http://upper:2", httpProxy: null, noProxy: null }],
    [{ HTTP_PROXY: "p:3128" }, { httpsProxy: null, httpProxy: "http://p:3128", noProxy: null }],
    [{ http_proxy: " http://p:1 ", NO_PROXY: "localhost" }, { httpsProxy: null, httpProxy: "http://p:1", noProxy: "localhost" }],
    [{ no_proxy: "a", NO_PROXY: "b" }, { httpsProxy: null, httpProxy: null, noProxy: "a" }],
  ] as const)("%j", (env, expected) => {
    expect(proxySettingsFrom(env)).toEqual(expected);
  });
});

describe("noProxyMatches", () => {
  test.each([
    // [url, NO_PROXY, exempt]
    ["https://api.datum.net/x", null, false],
    ["https://api.datum.net/x", "", false],
    ["https://api.datum.net/x", "*", true],
    ["https://api.datum.net/x", "api.datum.net", true],
    ["https://api.datum.net/x", "datum.net", true],
    ["https://api.datum.net/x", ".datum.net", true],
    ["https://api.datum.net/x", "*.datum.net", true],
    ["https://datum.net/x", ".datum.net", true],
    ["https://api.datum.net/x", "tum.net", false],
    ["https://api.datum.net/x", "other.net, datum.net", true],
    ["https://API.Datum.NET./x", "api.datum.net", true],
    ["https://api.datum.net/x", "api.datum.net:443", true],
    ["https://api.datum.net/x", "api.datum.net:8443", false],
    ["http://api.datum.net/x", "api.datum.net:80", true],
    ["http://127.0.0.1:8080/x", null, false],
    ["http://127.0.0.1:8080/x", "127.0.0.1", true],
    ["http://127.0.0.1:8080/x", "127.0.0.1:8080", true],
    ["http://127.0.0.1:8080/x", "127.0.0.1:9090", false],
    ["http://127.0.0.1:8080/x", "0.0.1", false],
    ["http://127.0.0.1:8080/x", "127.0.0.0/8", true],
    ["http://10.1.2.3/x", "10.0.0.0/8", true],
    ["http://11.1.2.3/x", "10.0.0.0/8", false],
    ["http://localhost:3000/x", "localhost", true],
    ["http://abc.datumproxy.localhost:3000/x", "localhost", true],
    ["http://abc.datumproxy.localhost:3000/x", ".localhost", true],
    ["http://abc.datumproxy.localhost:3000/x", "127.0.0.1", false],
    ["http://[::1]:3000/x", "::1", true],
    ["http://[::1]:3000/x", "[::1]:3000", true],
    ["http://[::1]:3000/x", "[::1]:4000", false],
    ["http://[::1]:3000/x", "::/0", true],
    ["http://[fd00::5]/x", "fd00::/8", true],
    ["http://[fe80::5]/x", "fd00::/8", false],
    ["http://example.com/x", "http://example.com", true],
    ["http://example.com/x", " , ,example.com", true],
  ] as const)("%s with NO_PROXY=%p → %p", (url, noProxy, exempt) => {
    expect(noProxyMatches(new URL(url), noProxy)).toBe(exempt);
  });
});

describe("proxyFor", () => {
  const settings = proxySettingsFrom({ HTTPS_PROXY: "http://s:1", HTTP_PROXY: "http://h:2", NO_PROXY: "127.0.0.1,localhost,.localhost" });
  test.each([
    ["https://api.datum.net/x", "http://s:1"],
    ["http://api.datum.net/x", "http://h:2"],
    ["wss://relay.example/x", "http://s:1"],
    ["http://127.0.0.1:4000/x", undefined],
    ["http://abc.datumproxy.localhost:4000/x", undefined],
    ["ftp://example.com/", undefined],
    ["not a url", undefined],
  ] as const)("%s → %p", (url, expected) => {
    expect(proxyFor(url, settings)).toBe(expected);
  });

  test("no proxy for a scheme whose variable is unset", () => {
    expect(proxyFor("http://api.datum.net/", proxySettingsFrom({ HTTPS_PROXY: "http://s:1" }))).toBeUndefined();
  });
});

describe("redaction", () => {
  test.each([
    ["http://user:pass@proxy:3128", "http://***@proxy:3128"],
    ["http://proxy:3128", "http://proxy:3128"],
    ["https://u@proxy/", "https://***@proxy/"],
  ])("%s → %s", (url, expected) => {
    expect(redactProxyUrl(url)).toBe(expected);
  });

  test("credentials in error text are replaced, raw and decoded", () => {
    const settings = proxySettingsFrom({ HTTPS_PROXY: "http://alice:p%40ss@proxy:3128" });
    const text = redactProxyCredentials("failed via http://alice:p%40ss@proxy:3128 (alice:p@ss)", settings);
    expect(text).toBe("failed via http://***@proxy:3128 (***)");
  });
});

describe("proxiedFetch", () => {
  test("passes the chosen proxy to the underlying fetch, and none for a direct request", async () => {
    const seen: { url: string; proxy: unknown }[] = [];
    const base = (async (input: string | URL | Request, init?: RequestInit) => {
      seen.push({ url: String(input), proxy: (init as { proxy?: unknown } | undefined)?.proxy });
      return new Response("ok");
    }) as typeof fetch;
    const f = proxiedFetch(proxySettingsFrom({ HTTP_PROXY: "http://p:1", NO_PROXY: "localhost" }), base);
    await f("http://example.com/a", { method: "GET" });
    await f("http://localhost/b");
    expect(seen).toEqual([
      { url: "http://example.com/a", proxy: "http://p:1" },
      { url: "http://localhost/b", proxy: undefined },
    ]);
  });
});
