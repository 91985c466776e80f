/**
 * The `User-Agent` every control-plane request carries: the enhancement's
 * `datum-connect/<version> datumctl-plugin/<version>`, followed by the platform in Rust's
 * `std::env::consts` spelling as the app sends it (docs/wire-facts.md#user-agent), so server-side logs group
 * our agents with the Rust ones.
 */
import { VERSION } from "../version.ts";

/** Rust `std::env::consts::OS` names for Node's `process.platform`. */
export function rustOs(platform: string): string {
  switch (platform) {
    case "darwin":
      return "macos";
    case "win32":
      return "windows";
    default:
      return platform; // linux, freebsd, … already match
  }
}

/** Rust `std::env::consts::ARCH` names for Node's `process.arch`. */
export function rustArch(arch: string): string {
  switch (arch) {
    case "x64":
      return "x86_64";
    case "arm64":
      return "aarch64";
    case "ia32":
      return "x86";
    default:
      return arch;
  }
}

export function userAgent(
  version: string = VERSION,
  platform: string = process.platform,
  arch: string = process.arch,
): string {
  return `datum-connect/${version} datumctl-plugin/${version} (${rustOs(platform)}; ${rustArch(arch)})`;
}
