// Relay list syntax and source (docs/wire-facts.md#relays): env `DATUM_CONNECT_RELAY_URLS`, else Datum's
// relays.
import { describe, expect, test } from "bun:test";
import { DATUM_RELAYS, parseRelayList, relayUrls } from "../../../src/dataplane/relays.ts";

const A = "https://relay-a.example.net/";
const B = "https://relay-b.example.net/";

describe("parseRelayList", () => {
  test.each<[string, string, string[], string[]]>([
    ["one bare host", "relay-a.example.net", [A], []],
    ["comma", "relay-a.example.net,relay-b.example.net", [A, B], []],
    ["semicolon", "relay-a.example.net;relay-b.example.net", [A, B], []],
    ["whitespace (space, tab, newline)", "relay-a.example.net relay-b.example.net\trelay-c.example.net\nrelay-d.example.net", [
      A,
      B,
      "https://relay-c.example.net/",
      "https://relay-d.example.net/",
    ], []],
    ["mixed separators and padding", "  relay-a.example.net , ; relay-b.example.net ;", [A, B], []],
    ["empties only", " , ;; \n\t ", [], []],
    ["empty", "", [], []],
    ["scheme kept", "https://relay-a.example.net", [A], []],
    ["http kept", "http://relay-a.example.net", ["http://relay-a.example.net/"], []],
    ["canonical trailing slash", "https://relay-a.example.net/", [A], []],
    ["port kept", "relay-a.example.net:8443", ["https://relay-a.example.net:8443/"], []],
    ["default port dropped", "https://relay-a.example.net:443", [A], []],
    ["path kept", "https://relay-a.example.net/relay", ["https://relay-a.example.net/relay"], []],
    ["host lower-cased", "RELAY-A.Example.NET", [A], []],
    ["trailing dot kept", "iroh-relay.us-east-1.datumconnect.net.", ["https://iroh-relay.us-east-1.datumconnect.net./"], []],
    ["IP address", "127.0.0.1:3340", ["https://127.0.0.1:3340/"], []],
    ["IPv6 address", "http://[::1]:3340", ["http://[::1]:3340/"], []],
    [
      "duplicates dropped, first position kept",
      "relay-b.example.net, relay-a.example.net, https://relay-b.example.net/, RELAY-A.EXAMPLE.NET, https://relay-a.example.net:443",
      [B, A],
      [],
    ],
    ["http and https are different relays", "http://relay-a.example.net https://relay-a.example.net", ["http://relay-a.example.net/", A], []],
    ["invalid entries reported, valid ones kept", "relay-a.example.net https:// http://[::1 relay-b.example.net", [A, B], ["https://", "http://[::1"]],
    ["an invalid host", "bad%host", [], ["bad%host"]],
    ["only invalid", "https://", [], ["https://"]],
  ])("%s", (_name, text, urls, invalid) => {
    expect(parseRelayList(text)).toEqual({ urls, invalid });
  });
});

describe("relayUrls", () => {
  test.each<[string, Record<string, string | undefined>, ReturnType<typeof relayUrls>]>([
    ["unset → Datum's relays", {}, { urls: [...DATUM_RELAYS], invalid: [], source: "default" }],
    ["undefined → Datum's relays", { DATUM_CONNECT_RELAY_URLS: undefined }, { urls: [...DATUM_RELAYS], invalid: [], source: "default" }],
    ["empty → Datum's relays", { DATUM_CONNECT_RELAY_URLS: "" }, { urls: [...DATUM_RELAYS], invalid: [], source: "default" }],
    ["blank → Datum's relays", { DATUM_CONNECT_RELAY_URLS: "  \n " }, { urls: [...DATUM_RELAYS], invalid: [], source: "default" }],
    ["set → env", { DATUM_CONNECT_RELAY_URLS: "relay-a.example.net;relay-b.example.net" }, { urls: [A, B], invalid: [], source: "env" }],
    // Separators only: the variable is set, so nothing falls back silently; the caller sees an empty list.
    ["separators only → env, empty", { DATUM_CONNECT_RELAY_URLS: ",;," }, { urls: [], invalid: [], source: "env" }],
    ["invalid → env, reported", { DATUM_CONNECT_RELAY_URLS: "https://" }, { urls: [], invalid: ["https://"], source: "env" }],
    ["other variables ignored", { IROH_GATEWAY_RELAY_URLS: "relay-a.example.net" }, { urls: [...DATUM_RELAYS], invalid: [], source: "default" }],
  ])("%s", (_name, env, expected) => {
    expect(relayUrls(env)).toEqual(expected);
  });

  test("the defaults are Datum's two relays, canonical, never n0's", () => {
    expect(DATUM_RELAYS).toEqual(["https://iroh-relay.us-east-1.datumconnect.net/", "https://iroh-relay.us-west-1.datumconnect.net/"]);
    expect(parseRelayList(DATUM_RELAYS.join(",")).urls).toEqual([...DATUM_RELAYS]);
  });

  test("the result is a copy: changing it leaves the defaults alone", () => {
    const { urls } = relayUrls({});
    urls.push("https://other.example.net/");
    expect(DATUM_RELAYS).toHaveLength(2);
  });
});
