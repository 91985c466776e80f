import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  datumctlConfigPath,
  findContext,
  findSession,
  parseDatumctlConfig,
  readDatumctlConfig,
} from "../../../src/context/datumctl-config.ts";
import { writeDatumctlConfig } from "../../../src/devcloud/datumctl-double/config-files.ts";
import { Malformed } from "../../../src/errors.ts";

const root = process.env.DATUM_CONNECT_TEST_ROOT as string;
const scratch = () => mkdtempSync(join(root, "dcfg-"));

/** datumctl's config example (docs/wire-facts.md#datumctl-config), with fields we do not model (they must be ignored, not rejected). */
const FULL = `apiVersion: datumctl.config.datum.net/v1beta1
kind: DatumctlConfig
sessions:
- name: alice@example.com@api.datum.net
  user-key: alice@example.com@auth.datum.net
  user-email: alice@example.com
  user-name: Alice
  endpoint:
    server: https://api.datum.net
    auth-hostname: auth.datum.net
    insecure-skip-tls-verify: false
    some-future-field: 1
  last-context: alice@example.com@api.datum.net/acme/web
contexts:
- name: alice@example.com@api.datum.net/acme
  session: alice@example.com@api.datum.net
  organization-id: acme
- name: alice@example.com@api.datum.net/acme/web
  session: alice@example.com@api.datum.net
  organization-id: acme
  project-id: web
  namespace: default
current-context: alice@example.com@api.datum.net/acme/web
active-session: alice@example.com@api.datum.net
auto-update: false
cache:
  organizations: [{id: acme, display-name: ACME, session: alice@example.com@api.datum.net}]
  projects: [{id: web, display-name: Web, org-id: acme, session: alice@example.com@api.datum.net}]
  last-refreshed: 2026-07-16T00:00:00Z
a-top-level-field-from-the-future: {x: [1, 2]}
`;

describe("parseDatumctlConfig", () => {
  test("reads datumctl's config schema (docs/wire-facts.md#datumctl-config) and ignores unknown fields", () => {
    const config = parseDatumctlConfig(FULL, "/h/.datumctl/config");
    expect(config["current-context"]).toBe("alice@example.com@api.datum.net/acme/web");
    expect(config["active-session"]).toBe("alice@example.com@api.datum.net");
    expect(findSession(config, "alice@example.com@api.datum.net")?.endpoint?.server).toBe("https://api.datum.net");
    expect(findContext(config, "alice@example.com@api.datum.net/acme/web")?.["project-id"]).toBe("web");
    expect(config.cache?.projects?.[0]?.["org-id"]).toBe("acme");
  });

  test.each([
    ["empty file", ""],
    ["only a comment", "# nothing yet\n"],
    ["null lists, as Go writes them", "sessions:\ncontexts:\ncurrent-context: \"\"\n"],
    ["older config without newer keys", "apiVersion: datumctl.config.datum.net/v1beta1\nsessions: []\n"],
  ])("%s is a valid, empty-ish config", (_name, text) => {
    const config = parseDatumctlConfig(text, "/p");
    expect(findSession(config, "x")).toBeUndefined();
  });

  test.each([
    ["not YAML", "sessions: [\n  - name: a\n bad", "is not valid YAML"],
    ["tabs", "a: 1\n\tb: 2\n", "is not valid YAML"],
    ["a list at the top", "- a\n- b\n", "does not match datumctl's config schema"],
    ["sessions not a list", "sessions: alice\n", "does not match datumctl's config schema"],
    ["session without a name", "sessions:\n- user-key: k\n", "does not match datumctl's config schema"],
    ["current-context not a string", "current-context: [a]\n", "does not match datumctl's config schema"],
  ])("%s → Malformed (65) naming the path", (_name, text, fragment) => {
    let err: unknown;
    try {
      parseDatumctlConfig(text, "/home/u/.datumctl/config");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Malformed);
    const m = err as Malformed;
    expect(m.exit).toBe(65);
    expect(m.message).toBe(`datumctl config /home/u/.datumctl/config ${fragment}`);
    expect(m.details).toBeTruthy();
  });
});

describe("readDatumctlConfig", () => {
  test("path is $HOME/.datumctl/config", () => {
    expect(datumctlConfigPath({ HOME: "/home/u", XDG_CONFIG_HOME: "/elsewhere" })).toBe("/home/u/.datumctl/config");
    expect(datumctlConfigPath()).toBe(join(process.env.HOME as string, ".datumctl", "config"));
  });

  test("missing file → not found (no throw)", () => {
    const path = join(scratch(), ".datumctl", "config");
    expect(readDatumctlConfig(path)).toEqual({ found: false, path });
  });

  test("~/.datumctl being a file → not found", () => {
    const dir = scratch();
    writeFileSync(join(dir, ".datumctl"), "x");
    expect(readDatumctlConfig(join(dir, ".datumctl", "config")).found).toBe(false);
  });

  test("reads what writeDatumctlConfig writes", () => {
    const home = scratch();
    const path = writeDatumctlConfig(home, {
      sessions: [{ name: "s@api.datum.net", userKey: "s@auth.datum.net", server: "http://127.0.0.1:8080" }],
      contexts: [{ session: "s@api.datum.net", org: "o", project: "p" }],
      currentContext: "s@api.datum.net/o/p",
      activeSession: "s@api.datum.net",
    });
    const result = readDatumctlConfig(path);
    expect(result.found).toBe(true);
    if (!result.found) return;
    expect(result.config["current-context"]).toBe("s@api.datum.net/o/p");
    expect(findSession(result.config, "s@api.datum.net")?.endpoint?.server).toBe("http://127.0.0.1:8080");
  });

  test("a directory where the file should be → Malformed", () => {
    const dir = scratch();
    const path = join(dir, ".datumctl", "config");
    mkdirSync(path, { recursive: true });
    expect(() => readDatumctlConfig(path)).toThrow(`cannot read datumctl config ${path}`);
  });

  const asRoot = process.getuid?.() === 0;
  if (asRoot) console.log("skip: 'an unreadable file' needs a non-root user (root reads a mode-000 file anyway)");
  test.skipIf(asRoot)("an unreadable file → Malformed naming the path", () => {
    const dir = scratch();
    const path = join(dir, "config");
    writeFileSync(path, FULL);
    chmodSync(path, 0o000);
    expect(() => readDatumctlConfig(path)).toThrow(`cannot read datumctl config ${path}`);
  });
});
