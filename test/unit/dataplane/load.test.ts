import { expect, test } from "bun:test";
import { Exit, Unreachable } from "../../../src/errors.ts";
import { loadDataPlane } from "../../../src/dataplane/client.ts";

const failing = (): Promise<never> => Promise.reject(new Error("Cannot find native binding\nmore detail"));

test.each([
  ["linux", "arm64", "the tunnel data plane is not available on linux-arm64: @number0/iroh publishes no native module for it"],
  ["win32", "x64", "the tunnel data plane is not available on win32-x64: @number0/iroh publishes no native module for it"],
  ["darwin", "x64", "the tunnel data plane is not available on darwin-x64: @number0/iroh publishes no native module for it"],
  ["linux", "x64", "the tunnel data plane could not load on linux-x64: the @number0/iroh native module failed to load"],
])("%s-%s without a loadable native module → Unreachable (exit 69)", async (platform, arch, message) => {
  const err = await loadDataPlane({ platform, arch, loadNative: failing }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Unreachable);
  const e = err as Unreachable;
  expect(e.message).toBe(message);
  expect(e.exit).toBe(Exit.unreachable);
  expect(e.code).toBe("unsupported_platform");
  // A permanent limit of this build on this platform: trying again later gives the same answer.
  expect(e.retryable).toBe(false);
  expect(e.hint).toBeTruthy();
  expect(e.details).toBe("Cannot find native binding");
});

test("a platform whose native module loads gets a data plane (nothing spawned until start)", async () => {
  const dp = await loadDataPlane({ platform: "linux", arch: "arm64", loadNative: async () => ({}) });
  expect(dp.status()).toMatchObject({ state: "dead", spawns: 0 });
  await dp.stop();
});
