/**
 * How this machine names itself on its Connector (docs/wire-facts.md#tunnel-objects): the
 * `datum.net/device-name` and `datum.net/device-os` annotations shown in `tunnel list`.
 */
import { hostname as osHostname } from "node:os";

export type DeviceOs = "linux" | "macos" | "windows";

export const DEVICE_NAME_ANNOTATION = "datum.net/device-name";
export const DEVICE_OS_ANNOTATION = "datum.net/device-os";

/** Rust `std::env::consts::OS` spelling; other Unixes report as `linux`, the closest the platform knows. */
export function deviceOs(platform: string = process.platform): DeviceOs {
  if (platform === "darwin") return "macos";
  if (platform === "win32") return "windows";
  return "linux";
}

export interface DeviceNameSources {
  readonly platform?: string;
  readonly hostname?: () => string;
  /** macOS `scutil --get ComputerName` (the name the user chose in System Settings), or undefined. */
  readonly computerName?: () => string | undefined;
}

/** macOS: the user-facing Computer Name; elsewhere (or if that fails) the host name minus `.local`. */
export function friendlyDeviceName(sources: DeviceNameSources = {}): string {
  const platform = sources.platform ?? process.platform;
  if (platform === "darwin") {
    const name = (sources.computerName ?? macComputerName)()?.trim();
    if (name) return name;
  }
  const host = (sources.hostname ?? osHostname)();
  return host.endsWith(".local") ? host.slice(0, -".local".length) : host;
}

export function deviceAnnotations(sources: DeviceNameSources = {}): Record<string, string> {
  return {
    [DEVICE_NAME_ANNOTATION]: friendlyDeviceName(sources),
    [DEVICE_OS_ANNOTATION]: deviceOs(sources.platform),
  };
}

function macComputerName(): string | undefined {
  try {
    const result = Bun.spawnSync(["scutil", "--get", "ComputerName"], { stdout: "pipe", stderr: "ignore", timeout: 2_000 });
    return result.success ? result.stdout.toString() : undefined;
  } catch {
    return undefined; // scutil missing or not runnable: fall back to the host name
  }
}
