/**
 * The backend for this machine, chosen by `process.platform`: systemd on Linux, launchd on macOS,
 * the service control manager on Windows. Every backend can be built on any machine (tests render
 * all three here); only running its commands needs the real manager.
 */
import { homedir } from "node:os";
import { launchdBackend } from "./launchd.ts";
import { CommandServiceManager, processRunner, type Backend, type CommandRunner, type ServiceManager } from "./manager.ts";
import { systemdBackend } from "./systemd.ts";
import { windowsBackend } from "./windows.ts";

export interface PlatformOptions {
  readonly platform?: NodeJS.Platform;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
  readonly uid?: number;
}

export function backendFor(o: PlatformOptions = {}): Backend {
  const platform = o.platform ?? process.platform;
  const env = o.env ?? process.env;
  const home = o.home ?? env.HOME ?? homedir();
  if (platform === "win32") return windowsBackend();
  if (platform === "darwin") return launchdBackend({ env, home, uid: o.uid ?? process.getuid?.() ?? 0 });
  return systemdBackend({ env, home });
}

export function serviceManager(o: PlatformOptions & { readonly runner?: CommandRunner } = {}): ServiceManager {
  return new CommandServiceManager(backendFor(o), o.runner ?? processRunner());
}
