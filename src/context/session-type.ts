/**
 * Is a datumctl session a service account? datumctl exposes no command that says
 * (docs/wire-facts.md#session-type), so we use the key-file probe, option 1 there: a service-account login
 * writes its private key to `<UserConfigDir>/datumctl/service-accounts/<hex sha256(user-key)>.pem`
 * and interactive logins write nothing there. The probe reads no secrets (only whether the file
 * exists) and never touches the keyring, so it cannot raise a macOS Keychain prompt.
 *
 * Caveats the callers must respect (docs/wire-facts.md#session-type): sessions created before datumctl
 * v0.13.2 kept the key inline and probe as "interactive"; the PEM survives `logout`, so the session must
 * also still be in the config; and `UserConfigDir` must resolve as it did for datumctl (same `HOME` and
 * `XDG_CONFIG_HOME`). Anything we cannot decide is "unknown", which callers treat conservatively
 * (`install --system` refuses it with exit 78).
 */
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { posix, win32 } from "node:path";
import { findSession, type DatumctlConfig } from "./datumctl-config.ts";
import type { Env } from "./resolve.ts";

export type SessionType = "service_account" | "interactive" | "unknown";

export interface SessionTypeProbe {
  type: SessionType;
  /** Why, in words fit for `tunnel status` and for error hints. */
  reason: string;
  /** The key file that was probed, when one could be named. */
  keyPath?: string;
}

export interface ProbeOptions {
  platform?: NodeJS.Platform;
  /** Whether `path` is an existing regular file; the real file system unless a test says otherwise. */
  isFile?: (path: string) => boolean;
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Go's `os.UserConfigDir()`, which datumctl used when it wrote the key: `$XDG_CONFIG_HOME` (must be
 * absolute) or `$HOME/.config` on Unix, `$HOME/Library/Application Support` on macOS, `%AppData%`
 * on Windows. `undefined` where Go would return an error.
 */
export function userConfigDir(env: Env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === "win32") return env.AppData || env.APPDATA || undefined;
  const home = env.HOME;
  if (platform === "darwin") return home ? posix.join(home, "Library", "Application Support") : undefined;
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg) return posix.isAbsolute(xdg) ? xdg : undefined;
  return home ? posix.join(home, ".config") : undefined;
}

/** `<UserConfigDir>/datumctl/service-accounts/<hex sha256(user-key)>.pem` (docs/wire-facts.md#datumctl-config). */
export function serviceAccountKeyPath(
  userKey: string,
  env: Env,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const dir = userConfigDir(env, platform);
  if (!dir) return undefined;
  const digest = createHash("sha256").update(userKey).digest("hex");
  const path = platform === "win32" ? win32 : posix;
  return path.join(dir, "datumctl", "service-accounts", `${digest}.pem`);
}

export function probeSessionType(
  config: DatumctlConfig | undefined,
  sessionName: string,
  env: Env,
  options: ProbeOptions = {},
): SessionTypeProbe {
  if (!config) return { type: "unknown", reason: "no datumctl config to look the session up in" };
  const session = findSession(config, sessionName);
  if (!session) return { type: "unknown", reason: `no session named "${sessionName}" in the datumctl config` };
  const userKey = session["user-key"]?.trim();
  if (!userKey) return { type: "unknown", reason: `session "${sessionName}" has no user key` };
  const keyPath = serviceAccountKeyPath(userKey, env, options.platform);
  if (!keyPath) {
    return { type: "unknown", reason: "cannot locate datumctl's config directory (HOME / XDG_CONFIG_HOME unset or relative)" };
  }
  const isFile = options.isFile ?? isRegularFile;
  return isFile(keyPath)
    ? { type: "service_account", reason: "its service-account key file exists", keyPath }
    : { type: "interactive", reason: "it has no service-account key file", keyPath };
}

export function sessionType(config: DatumctlConfig | undefined, sessionName: string, env: Env): SessionType {
  return probeSessionType(config, sessionName, env).type;
}
