import { describe, expect, test } from "bun:test";
import { envWithSettings, settingsFromEnv } from "../../../src/state/tunnel-settings.ts";
import { parseTunnelConfig } from "../../../src/state/tunnel-config.ts";

const LOCAL = {
  DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:18081",
  DATUM_CONNECT_RELAY_URLS: "http://127.0.0.1:18000/_dev/relay-placeholder",
  DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: "http://127.0.0.1:18000/_dev/relay-placeholder",
};

describe("settingsFromEnv: what a tunnel records when it is created", () => {
  test.each([
    ["the local Datum's exports", { ...LOCAL, DATUM_SESSION: "s", SECRET_TOKEN: "x" }, { public_url: LOCAL.DATUM_CONNECT_PUBLIC_URL, relay_urls: LOCAL.DATUM_CONNECT_RELAY_URLS, placeholder_relay: LOCAL.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY }],
    ["nothing set: the real platform's defaults at run time", {}, { public_url: null, relay_urls: null, placeholder_relay: null }],
    ["blank values are unset, values trimmed", { DATUM_CONNECT_PUBLIC_URL: "  ", DATUM_CONNECT_RELAY_URLS: " https://r.example/ " }, { public_url: null, relay_urls: "https://r.example/", placeholder_relay: null }],
  ] as const)("%s", (_what, env, expected) => {
    expect(settingsFromEnv(env)).toEqual(expected);
  });
});

describe("envWithSettings: the environment a tunnel runs with", () => {
  test.each([
    ["a unit's bare environment gets the recorded settings", { HOME: "/root" }, { public_url: LOCAL.DATUM_CONNECT_PUBLIC_URL, relay_urls: null, placeholder_relay: LOCAL.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY }, { HOME: "/root", DATUM_CONNECT_PUBLIC_URL: LOCAL.DATUM_CONNECT_PUBLIC_URL, DATUM_CONNECT_DEV_PLACEHOLDER_RELAY: LOCAL.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY }],
    ["a recorded setting wins over the running environment", { DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:1" }, { public_url: "http://{hostname}:2" }, { DATUM_CONNECT_PUBLIC_URL: "http://{hostname}:2" }],
    ["an unrecorded one falls back to it", { DATUM_CONNECT_RELAY_URLS: "https://r.example/" }, { relay_urls: null }, { DATUM_CONNECT_RELAY_URLS: "https://r.example/" }],
    ["an old tunnel.yaml without settings", { A: "1" }, undefined, { A: "1" }],
  ] as const)("%s", (_what, env, recorded, expected) => {
    expect(envWithSettings(env, recorded)).toEqual(expected);
  });

  test("does not change the environment it was given", () => {
    const env = { A: "1" };
    envWithSettings(env, { public_url: "http://{hostname}:2" });
    expect(env).toEqual({ A: "1" });
  });
});

describe("tunnel.yaml", () => {
  const base = "name: web\nlabel: web\nendpoint: http://127.0.0.1:18080\nproject: p\nsession: s\norg: null\napi_host: http://127.0.0.1:1\nexecutable: null\nhelper: null\ncreated_at: x\nscope: user\n";
  test("an old file without the settings still parses", () => {
    expect(parseTunnelConfig(base, "tunnel.yaml").public_url).toBeUndefined();
  });
  test("the settings round-trip", () => {
    const c = parseTunnelConfig(`${base}public_url: "http://{hostname}:18081"\nrelay_urls: null\nplaceholder_relay: http://127.0.0.1:18000/_dev/relay-placeholder\n`, "tunnel.yaml");
    expect([c.public_url, c.relay_urls, c.placeholder_relay]).toEqual(["http://{hostname}:18081", null, "http://127.0.0.1:18000/_dev/relay-placeholder"]);
  });
});
