import { expect, test } from "bun:test";
import { rustArch, rustOs, userAgent } from "../../../src/controlplane/user-agent.ts";

test.each([
  ["1.2.3", "linux", "x64", "datum-connect/1.2.3 datumctl-plugin/1.2.3 (linux; x86_64)"],
  ["1.2.3", "darwin", "arm64", "datum-connect/1.2.3 datumctl-plugin/1.2.3 (macos; aarch64)"],
  ["0.1.0", "win32", "x64", "datum-connect/0.1.0 datumctl-plugin/0.1.0 (windows; x86_64)"],
  ["0.1.0", "win32", "arm64", "datum-connect/0.1.0 datumctl-plugin/0.1.0 (windows; aarch64)"],
])("userAgent(%p, %p, %p)", (version, platform, arch, expected) => {
  expect(userAgent(version, platform, arch)).toBe(expected);
});

test.each([
  ["freebsd", "freebsd"],
  ["linux", "linux"],
])("rustOs(%p)", (platform, expected) => {
  expect(rustOs(platform)).toBe(expected);
});

test.each([
  ["ia32", "x86"],
  ["riscv64", "riscv64"],
])("rustArch(%p)", (arch, expected) => {
  expect(rustArch(arch)).toBe(expected);
});
