/**
 * launchd: a LaunchAgent (user scope, `~/Library/LaunchAgents/`) or LaunchDaemon (system scope,
 * `/Library/LaunchDaemons/`) property list, and the `launchctl` argument vectors.
 *
 * The job is kept alive only after an unsuccessful exit (`KeepAlive` → `SuccessfulExit: false`):
 * a clean stop (SIGTERM → exit 0) stays stopped, a crash or a fatal error is restarted, at most
 * every `ThrottleInterval` seconds. stdout and stderr go to the tunnel's log directory (the agent's
 * own JSON log is `logs/tunnel.log` beside them). `DATUM_CONNECT_UNIT_DIR` relocates the plist.
 */
import { posix } from "node:path";
import type { Scope } from "../state/paths.ts";
import type { Argv, Backend, CommandResult, ManagerState } from "./manager.ts";
import { RESTART_SEC, serviceName, TIMEOUT_STOP_SEC, type ServiceSpec } from "./spec.ts";

export interface LaunchdPaths {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
  /** The user's uid, for the `gui/<uid>` domain of LaunchAgents. */
  readonly uid: number;
}

export function launchdPlistDir(scope: Scope, p: LaunchdPaths): string {
  const override = p.env.DATUM_CONNECT_UNIT_DIR?.trim();
  if (override) return override;
  return scope === "system" ? "/Library/LaunchDaemons" : posix.join(p.home, "Library", "LaunchAgents");
}

export function launchdDomain(scope: Scope, uid: number): string {
  return scope === "system" ? "system" : `gui/${uid}`;
}

export function launchdTarget(scope: Scope, name: string, uid: number): string {
  return `${launchdDomain(scope, uid)}/${serviceName(scope, name)}`;
}

// ---------- the plist ----------

/** XML 1.0 cannot carry most control characters at all, escaped or not. */
export function xmlText(value: string): string {
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/.test(value)) throw new Error(`cannot put ${JSON.stringify(value)} in a property list`);
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

type PlistValue = string | number | boolean | readonly PlistValue[] | { readonly [key: string]: PlistValue };

function plistValue(value: PlistValue, indent: string): string[] {
  if (typeof value === "string") return [`${indent}<string>${xmlText(value)}</string>`];
  if (typeof value === "number") return [`${indent}<integer>${Math.trunc(value)}</integer>`];
  if (typeof value === "boolean") return [`${indent}<${value ? "true" : "false"}/>`];
  if (Array.isArray(value)) {
    return [`${indent}<array>`, ...(value as readonly PlistValue[]).flatMap((v) => plistValue(v, `${indent}\t`)), `${indent}</array>`];
  }
  const entries = Object.entries(value as { readonly [key: string]: PlistValue });
  return [
    `${indent}<dict>`,
    ...entries.flatMap(([k, v]) => [`${indent}\t<key>${xmlText(k)}</key>`, ...plistValue(v, `${indent}\t`)]),
    `${indent}</dict>`,
  ];
}

export function renderLaunchdPlist(spec: ServiceSpec): string {
  const doc: Record<string, PlistValue> = {
    Label: spec.unit,
    ProgramArguments: [...spec.argv],
    EnvironmentVariables: { ...spec.env },
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: RESTART_SEC,
    ExitTimeOut: TIMEOUT_STOP_SEC,
    ProcessType: "Background",
    StandardOutPath: posix.join(spec.logDir, "launchd.stdout.log"),
    StandardErrorPath: posix.join(spec.logDir, "launchd.stderr.log"),
  };
  if (spec.scope === "system" && spec.user) doc.UserName = spec.user;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by `datumctl-connect tunnel install`; removed by `tunnel uninstall`. Holds no secret. -->",
    '<plist version="1.0">',
    ...plistValue(doc, ""),
    "</plist>",
    "",
  ].join("\n");
}

// ---------- launchctl ----------

/** `launchctl print` output: `key = value` lines of the service's top level. */
export function parseLaunchctlPrint(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    // Top-level properties are indented by one tab; nested blocks by more.
    const m = /^\t([a-z][a-z ]*?) = (.*)$/.exec(line);
    if (m?.[1] && !(m[1] in out)) out[m[1]] = (m[2] ?? "").trim();
  }
  return out;
}

/** `launchctl print-disabled <domain>`: `"label" => disabled|enabled|true|false`. */
export function parsePrintDisabled(stdout: string, label: string): boolean | null {
  for (const line of stdout.split("\n")) {
    const m = /^\s*"([^"]+)"\s*=>\s*(\w+)/.exec(line);
    if (m?.[1] === label) return m[2] === "disabled" || m[2] === "true";
  }
  return null;
}

function int(value: string | undefined): number | null {
  return value !== undefined && /^-?\d+$/.test(value) ? Number(value) : null;
}

export function launchdState(print: CommandResult, disabled: CommandResult | undefined, label: string): ManagerState {
  if (print.code !== 0) {
    // 113: "Could not find service … in domain": not loaded.
    return { reachable: true, loaded: false, enabled: null, active: "inactive", sub: "not loaded", result: null, exitStatus: null, pid: null, restarts: null, detail: print.stderr.trim() || null };
  }
  const p = parseLaunchctlPrint(print.stdout);
  const isDisabled = disabled && disabled.code === 0 ? parsePrintDisabled(disabled.stdout, label) : null;
  const state = p.state ?? "unknown";
  return {
    reachable: true,
    loaded: true,
    enabled: isDisabled === null ? true : !isDisabled,
    active: state === "running" ? "active" : state === "waiting" || state === "not running" ? "inactive" : state,
    sub: state,
    result: p["last exit reason"] ?? null,
    exitStatus: int(p["last exit code"]),
    pid: int(p.pid),
    restarts: int(p.runs),
    detail: null,
  };
}

export function launchdBackend(paths: LaunchdPaths): Backend {
  const target = (scope: Scope, name: string) => launchdTarget(scope, name, paths.uid);
  const plist = (scope: Scope, name: string) => posix.join(launchdPlistDir(scope, paths), `${serviceName(scope, name)}.plist`);
  return {
    kind: "launchd",
    managerName: "launchd",
    unitPath: plist,
    render: renderLaunchdPlist,
    installPlan: (spec): Argv[] => [
      ["launchctl", "enable", target(spec.scope, spec.name)],
      // RunAtLoad: bootstrapping starts it.
      ["launchctl", "bootstrap", launchdDomain(spec.scope, paths.uid), plist(spec.scope, spec.name)],
    ],
    startPlan: (scope, name) => [["launchctl", "kickstart", target(scope, name)]],
    // SIGTERM: the agent disables its advertisement and exits 0, which KeepAlive leaves down.
    stopPlan: (scope, name) => [["launchctl", "kill", "SIGTERM", target(scope, name)]],
    removePlan: (scope, name) => [["launchctl", "bootout", target(scope, name)]],
    afterRemovePlan: () => [],
    queryPlan: (scope, name) => [["launchctl", "print", target(scope, name)], ["launchctl", "print-disabled", launchdDomain(scope, paths.uid)]],
    parseQuery: (results, scope, name) => {
      const [print, disabled] = results;
      return launchdState(print ?? { code: 1, stdout: "", stderr: "" }, disabled, serviceName(scope, name));
    },
  };
}

/** The restart `launchctl kickstart -k` (kills a running instance first). */
export function launchctlRestart(scope: Scope, name: string, uid: number): Argv {
  return ["launchctl", "kickstart", "-k", launchdTarget(scope, name, uid)];
}
