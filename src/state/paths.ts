/**
 * Where local state lives (docs/architecture.md#local-state). Pure: the environment, platform and home
 * directory are parameters, so every platform's layout is tested on any machine.
 *
 * `DATUM_CONNECT_DIR` wins in both scopes: tests, packagers and service units rely on an explicit
 * root meaning exactly that root.
 */
import { posix, win32 } from "node:path";
import { homedir } from "node:os";
import { UsageError } from "../errors.ts";

export type Scope = "user" | "system";

export interface PathEnv {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly platform?: string;
  readonly home?: string;
}

export function stateRoot(scope: Scope = "user", sources: PathEnv = {}): string {
  const env = sources.env ?? process.env;
  const platform = sources.platform ?? process.platform;
  const override = env.DATUM_CONNECT_DIR?.trim();
  if (override) return override;
  const path = platform === "win32" ? win32 : posix;
  const home = sources.home ?? homedir();
  if (scope === "system") {
    if (platform === "win32") return path.join(env.PROGRAMDATA || "C:\\ProgramData", "datumctl", "connect");
    if (platform === "darwin") return "/Library/Application Support/datumctl/connect";
    return "/var/lib/datumctl/connect";
  }
  if (platform === "win32") {
    return path.join(env.LOCALAPPDATA || path.join(home, "AppData", "Local"), "datumctl", "connect");
  }
  if (platform === "darwin") return path.join(home, "Library", "Application Support", "datumctl", "connect");
  // XDG: a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME;
  const dataHome = xdg && posix.isAbsolute(xdg) ? xdg : posix.join(home, ".local", "share");
  return posix.join(dataHome, "datumctl", "connect");
}

/**
 * Where a compiled executable caches its native modules (src/dataplane/native-module.ts):
 * `$DATUM_CONNECT_NATIVE_DIR`, else `<user state root>/native`. Workers get the main thread's
 * answer in their environment, so every thread loads the same file.
 */
export function nativeCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const override = env.DATUM_CONNECT_NATIVE_DIR?.trim();
  if (override) return override;
  return (process.platform === "win32" ? win32 : posix).join(stateRoot("user", { env }), "native");
}

/**
 * Project ids and tunnel names become directory names, so only names that cannot climb out of the
 * root (`..`, `/`) or collide by case on case-insensitive disks are accepted:
 * - a tunnel name is `^[a-z0-9][a-z0-9-]{0,62}$` (issue 4's rule);
 * - a project id is what the platform allows: a DNS-1123 subdomain (labels joined by single dots).
 */
export const TUNNEL_NAME_RULE = "^[a-z0-9][a-z0-9-]{0,62}$";
const TUNNEL_NAME = new RegExp(TUNNEL_NAME_RULE);
const PROJECT_ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function assertSafeName(what: "project" | "tunnel name", name: string): string {
  const ok = what === "project" ? name.length <= 253 && PROJECT_ID.test(name) : TUNNEL_NAME.test(name);
  if (!ok) {
    throw new UsageError(
      `invalid ${what} '${name}'`,
      what === "project"
        ? "a project id is lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        : `a tunnel name must match ${TUNNEL_NAME_RULE}: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters`,
    );
  }
  return name;
}

function joinFor(root: string): (...parts: string[]) => string {
  // A Windows root (drive letter or backslash) keeps Windows separators even when tested elsewhere.
  return /^[A-Za-z]:[\\/]|\\/.test(root) ? win32.join : posix.join;
}

/** The unnamed-tunnel slot of a project: `projects/<project>/`. */
export function projectDir(root: string, project: string): string {
  return joinFor(root)(root, "projects", assertSafeName("project", project));
}

/** A named tunnel's directory: `tunnels/<name>/`. */
export function tunnelDir(root: string, name: string): string {
  return joinFor(root)(root, "tunnels", assertSafeName("tunnel name", name));
}

/** The files of one identity slot (a project slot or a named tunnel's directory). */
export function slotFiles(dir: string) {
  const join = joinFor(dir);
  return {
    listenKey: join(dir, "listen_key"),
    allowList: join(dir, "state.yml"),
    lock: join(dir, ".lock"),
  } as const;
}

/** The extra files of a named tunnel. */
export function tunnelFiles(dir: string) {
  const join = joinFor(dir);
  return {
    ...slotFiles(dir),
    config: join(dir, "tunnel.yaml"),
    /** A group's file, copied here by `up` and `install -f` (docs/groups.md). */
    group: join(dir, "group.yaml"),
    /** Which tunnel serves which service of a group, by service name. */
    services: join(dir, "services.json"),
    /** A pending `tunnel reload --prune` request, read on SIGHUP. */
    reloadRequest: join(dir, "reload.json"),
    run: join(dir, "run.json"),
    logs: join(dir, "logs"),
    log: join(dir, "logs", "tunnel.log"),
  } as const;
}

export function configFile(root: string): string {
  return joinFor(root)(root, "config.yml");
}
