import { describe, expect, test } from "bun:test";
import { UsageError } from "../../../src/errors.ts";
import { configFile, projectDir, type Scope, slotFiles, stateRoot, tunnelDir, tunnelFiles } from "../../../src/state/paths.ts";

describe("stateRoot", () => {
  test.each<[string, Scope, string, Record<string, string>, string]>([
    ["override wins (user)", "user", "linux", { DATUM_CONNECT_DIR: "/tmp/dc" }, "/tmp/dc"],
    ["override wins (system)", "system", "linux", { DATUM_CONNECT_DIR: "/tmp/dc" }, "/tmp/dc"],
    ["blank override ignored", "user", "linux", { DATUM_CONNECT_DIR: "  " }, "/home/ada/.local/share/datumctl/connect"],
    ["linux XDG", "user", "linux", { XDG_DATA_HOME: "/xdg" }, "/xdg/datumctl/connect"],
    ["linux relative XDG ignored", "user", "linux", { XDG_DATA_HOME: "rel" }, "/home/ada/.local/share/datumctl/connect"],
    ["linux default", "user", "linux", {}, "/home/ada/.local/share/datumctl/connect"],
    ["linux system", "system", "linux", {}, "/var/lib/datumctl/connect"],
    ["macOS user", "user", "darwin", { XDG_DATA_HOME: "/xdg" }, "/home/ada/Library/Application Support/datumctl/connect"],
    ["macOS system", "system", "darwin", {}, "/Library/Application Support/datumctl/connect"],
    ["windows user", "user", "win32", { LOCALAPPDATA: "C:\\Users\\ada\\AppData\\Local" }, "C:\\Users\\ada\\AppData\\Local\\datumctl\\connect"],
    ["windows system", "system", "win32", { PROGRAMDATA: "D:\\ProgramData" }, "D:\\ProgramData\\datumctl\\connect"],
    ["windows system default", "system", "win32", {}, "C:\\ProgramData\\datumctl\\connect"],
  ])("%s", (_title, scope, platform, env, expected) => {
    const home = platform === "win32" ? "C:\\Users\\ada" : "/home/ada";
    expect(stateRoot(scope, { env, platform, home })).toBe(expected);
  });

  test("the test preload points the root at a temp dir", () => {
    expect(stateRoot()).toBe(process.env.DATUM_CONNECT_DIR!);
  });
});

describe("slots", () => {
  test("project and tunnel dirs and their files", () => {
    expect(projectDir("/r", "p-123")).toBe("/r/projects/p-123");
    expect(tunnelDir("/r", "dev-app")).toBe("/r/tunnels/dev-app");
    expect(slotFiles("/r/projects/p-123")).toEqual({
      listenKey: "/r/projects/p-123/listen_key",
      allowList: "/r/projects/p-123/state.yml",
      lock: "/r/projects/p-123/.lock",
    });
    expect(tunnelFiles("/r/tunnels/a")).toMatchObject({
      config: "/r/tunnels/a/tunnel.yaml",
      run: "/r/tunnels/a/run.json",
      log: "/r/tunnels/a/logs/tunnel.log",
    });
    expect(configFile("/r")).toBe("/r/config.yml");
    expect(tunnelDir("C:\\data", "a")).toBe("C:\\data\\tunnels\\a");
  });

  test.each(["..", "../x", "a/b", "A", "-a", "", "a".repeat(64), "a b", "a\\b", "a.b"])("rejects tunnel name %p", (name) => {
    expect(() => tunnelDir("/r", name)).toThrow(UsageError);
  });

  test.each(["..", "../x", "a/b", "A", "-a", "a-", "", "a b", "a\\b", "a..b", ".a"])("rejects project id %p", (name) => {
    expect(() => projectDir("/r", name)).toThrow(UsageError);
  });

  test.each(["a-", "a".repeat(63)])("a tunnel name may end in '-' and have 63 characters: %p", (name) => {
    expect(tunnelDir("/r", name)).toBe(`/r/tunnels/${name}`);
  });

  test.each(["web", "p-123", "acme.web", "a".repeat(63)])("accepts project id %p", (id) => {
    expect(projectDir("/r", id)).toBe(`/r/projects/${id}`);
  });

  test.each(["a", "p-123", "dev-app", "a".repeat(63), "0x"])("accepts %p", (name) => {
    expect(tunnelDir("/r", name)).toBe(`/r/tunnels/${name}`);
  });
});
