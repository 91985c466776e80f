import { expect, test } from "bun:test";
import { deviceAnnotations, deviceOs, friendlyDeviceName } from "../../../src/tunnel/device.ts";

test.each([
  ["linux", "linux"],
  ["darwin", "macos"],
  ["win32", "windows"],
  ["freebsd", "linux"],
])("deviceOs(%p)", (platform, expected) => {
  expect(deviceOs(platform)).toBe(expected as never);
});

test.each<[string, string, string | undefined, string]>([
  ["linux", "build-box", undefined, "build-box"],
  ["linux", "build-box.local", undefined, "build-box"],
  ["linux", "a.local.example", undefined, "a.local.example"],
  ["darwin", "mbp.local", "Ada's MacBook Pro\n", "Ada's MacBook Pro"],
  ["darwin", "mbp.local", undefined, "mbp"],
  ["darwin", "mbp.local", "  ", "mbp"],
  ["win32", "DESKTOP-1", "ignored", "DESKTOP-1"],
])("friendlyDeviceName on %p (host %p, scutil %p)", (platform, host, computerName, expected) => {
  expect(friendlyDeviceName({ platform, hostname: () => host, computerName: () => computerName })).toBe(expected);
});

test("deviceAnnotations", () => {
  expect(deviceAnnotations({ platform: "linux", hostname: () => "box.local" })).toEqual({
    "datum.net/device-name": "box",
    "datum.net/device-os": "linux",
  });
});

test("the real machine has a name", () => {
  expect(friendlyDeviceName().length).toBeGreaterThan(0);
});
