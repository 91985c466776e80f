import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../../src/errors.ts";
import { cachedRelayBinary, IROH_RELAY_VERSION, relayBinary, relayConfigToml } from "../../../src/devcloud/relay-server.ts";
import { REPO_ROOT } from "../../helpers/cli.ts";

describe("the relay version", () => {
  test("the build script builds the version dev cloud looks for", () => {
    expect(readFileSync(join(REPO_ROOT, "scripts", "relay", "VERSION"), "utf8").trim()).toBe(IROH_RELAY_VERSION);
  });

  test("it is the iroh-relay @number0/iroh's native module was built with", () => {
    const dir = join(REPO_ROOT, "node_modules", "@number0");
    const native = readdirSync(dir)
      .filter((d) => d.startsWith("iroh-"))
      .flatMap((d) => readdirSync(join(dir, d)).filter((f) => f.endsWith(".node")).map((f) => join(dir, d, f)));
    if (native.length === 0) {
      console.log("skip: no @number0/iroh native module installed here");
      return;
    }
    const text = readFileSync(native[0] as string).toString("latin1");
    const versions = new Set([...text.matchAll(/iroh-relay-(\d+\.\d+\.\d+)/g)].map((m) => m[1]));
    expect([...versions]).toEqual([IROH_RELAY_VERSION]);
  });
});

describe("cachedRelayBinary", () => {
  const tail = join("datumctl-connect", `iroh-relay-${IROH_RELAY_VERSION}`, "bin", "iroh-relay");
  const cases: [string, Record<string, string | undefined>, string | undefined][] = [
    ["XDG_CACHE_HOME wins", { XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" }, join("/x/cache", tail)],
    ["else ~/.cache", { HOME: "/home/u" }, join("/home/u/.cache", tail)],
    ["a blank XDG_CACHE_HOME is unset", { XDG_CACHE_HOME: " ", HOME: "/home/u" }, join("/home/u/.cache", tail)],
    ["neither", {}, undefined],
  ];
  for (const [name, env, want] of cases) test(name, () => expect(cachedRelayBinary(env)).toBe(want));
});

describe("relayBinary", () => {
  const env = { HOME: "/home/u" };
  const cached = cachedRelayBinary(env) as string;
  const exists = (paths: string[]) => (p: string) => paths.includes(p);

  test("--no-relay runs none, whatever exists", () => {
    expect(relayBinary({ disabled: true, flag: "/bin/relay", env }, exists(["/bin/relay", cached]))).toEqual({ kind: "none", reason: "--no-relay" });
  });
  test("--relay-bin names the binary", () => {
    expect(relayBinary({ flag: "/bin/relay", env }, exists(["/bin/relay"]))).toEqual({ kind: "binary", path: "/bin/relay" });
  });
  test("a --relay-bin that is not there is a usage error, not a quiet fallback", () => {
    expect(() => relayBinary({ flag: "/nope", env }, exists([cached]))).toThrow(UsageError);
  });
  test("else the cached build", () => {
    expect(relayBinary({ env }, exists([cached]))).toEqual({ kind: "binary", path: cached });
  });
  test("no cached build: none, saying where it looked and how to build it", () => {
    const got = relayBinary({ env }, exists([]));
    expect(got.kind).toBe("none");
    expect(got.kind === "none" && got.reason).toContain(cached);
    expect(got.kind === "none" && got.reason).toContain("scripts/build-relay.sh");
  });
});

test("the relay's config binds loopback on plain HTTP without metrics", () => {
  expect(relayConfigToml(4321)).toBe('http_bind_addr = "127.0.0.1:4321"\nenable_metrics = false\nenable_quic_addr_discovery = false\n');
});
