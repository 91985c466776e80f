/**
 * systemd: the unit file and the `systemctl` argument vectors (issue 5, docs/architecture.md#services).
 *
 * User units live in `~/.config/systemd/user/` (`$XDG_CONFIG_HOME/systemd/user` when that is set),
 * system units in `/etc/systemd/system/`; `DATUM_CONNECT_UNIT_DIR` relocates both (tests,
 * packagers). The unit is `Type=notify`: the agent sends READY=1 only once the public URL answers,
 * STATUS= lines on the way, and WATCHDOG=1 every half `WatchdogSec` while its data plane answers,
 * so a wedged agent is killed and restarted. `KillMode=mixed` sends SIGTERM to the agent alone,
 * so a credentials-helper call it needs to disable the advertisement on the way out is not killed
 * under it. A group's unit has `ExecReload=` sending SIGHUP, so `systemctl reload` converges the
 * running group to its file (docs/groups.md#reload).
 *
 * Quoting follows systemd.syntax(7) and systemd.service(5): `%` is a specifier everywhere
 * (`%%`), `$` expands in command lines (`$$`), a word with blanks, quotes, backslashes or `;` is
 * double-quoted with C escapes.
 */
import { posix } from "node:path";
import type { Scope } from "../state/paths.ts";
import type { Backend, CommandResult, ManagerState } from "./manager.ts";
import { RESTART_SEC, serviceName, TIMEOUT_STOP_SEC, WATCHDOG_SEC, type ServiceSpec } from "./spec.ts";

export interface SystemdPaths {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
}

export function unitFileName(scope: Scope, name: string): string {
  return `${serviceName(scope, name)}.service`;
}

export function systemdUnitDir(scope: Scope, p: SystemdPaths): string {
  const override = p.env.DATUM_CONNECT_UNIT_DIR?.trim();
  if (override) return override;
  if (scope === "system") return "/etc/systemd/system";
  const xdg = p.env.XDG_CONFIG_HOME;
  const config = xdg && posix.isAbsolute(xdg) ? xdg : posix.join(p.home, ".config");
  return posix.join(config, "systemd", "user");
}

// ---------- quoting ----------

const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

function checkText(what: string, value: string): void {
  if (CONTROL.test(value)) throw new Error(`${what} contains a control character: ${JSON.stringify(value)}`);
}

function cEscape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t");
}

/**
 * One argument of `ExecStart=`: specifiers and `$` doubled (systemd expands `$VAR` in arguments);
 * quoted when it holds anything word-breaking.
 */
export function quoteExecWord(word: string, executable = false): string {
  checkText("a command-line word", word);
  // The executable's name is never variable-expanded, so its `$` stays single.
  const escaped = executable ? word.replace(/%/g, "%%") : word.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (escaped !== "" && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${cEscape(escaped)}"`;
}

/**
 * `ExecStart=` value. The executable must be an absolute path (no prefix characters, no PATH
 * search) without quotes or backslashes, which systemd refuses in an executable's name.
 */
export function execLine(argv: readonly string[]): string {
  const [exe, ...rest] = argv;
  if (!exe || !posix.isAbsolute(exe)) throw new Error(`the service executable must be an absolute path, not ${JSON.stringify(exe ?? "")}`);
  if (/['"\\]/.test(exe)) throw new Error(`systemd cannot run an executable whose path holds quotes or backslashes: ${exe}`);
  return [quoteExecWord(exe, true), ...rest.map((w) => quoteExecWord(w))].join(" ");
}

/** `Environment=` value: one quoted assignment; specifiers doubled, no `$` expansion there. */
export function environmentAssignment(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`invalid environment variable name ${JSON.stringify(key)}`);
  checkText(`environment variable ${key}`, value);
  return `"${cEscape(`${key}=${value}`.replace(/%/g, "%%"))}"`;
}

/** Free text for `Description=`: one line, specifiers doubled, no trailing backslash (a continuation). */
export function unitText(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, " ").replace(/%/g, "%%").replace(/\\+$/, "").trim();
}

export function checkUserName(user: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(user) || user.length > 256) throw new Error(`invalid user name for User=: ${JSON.stringify(user)}`);
  return user;
}

// ---------- the unit ----------

/** A group's reload: SIGHUP to the agent (`$MAINPID` is systemd's, expanded when it runs). */
export const RELOAD_COMMAND = "/bin/kill -HUP $MAINPID";

export function renderSystemdUnit(spec: ServiceSpec): string {
  const service: string[] = [
    "Type=notify",
    "NotifyAccess=main",
    `ExecStart=${execLine(spec.argv)}`,
  ];
  if (spec.reloadable) service.push(`ExecReload=${RELOAD_COMMAND}`);
  if (spec.scope === "system" && spec.user) service.push(`User=${checkUserName(spec.user)}`);
  for (const [key, value] of Object.entries(spec.env)) service.push(`Environment=${environmentAssignment(key, value)}`);
  service.push(
    "Restart=on-failure",
    `RestartSec=${RESTART_SEC}`,
    `WatchdogSec=${WATCHDOG_SEC}s`,
    // Setup ends on its own (ready, or a failure exit that Restart= handles) and the watchdog
    // covers a hang, so the start itself has no deadline: certificate issuance may take minutes.
    "TimeoutStartSec=infinity",
    `TimeoutStopSec=${TIMEOUT_STOP_SEC}s`,
    "KillMode=mixed",
    `SyslogIdentifier=${spec.unit}`,
  );
  return [
    "# Written by `datumctl-connect tunnel install`; removed by `tunnel uninstall`.",
    "# Holds no secret: the agent mints its tokens through the credentials helper at run time.",
    "[Unit]",
    `Description=${unitText(spec.description)}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    ...service,
    "",
    "[Install]",
    `WantedBy=${spec.scope === "system" ? "multi-user.target" : "default.target"}`,
    "",
  ].join("\n");
}

// ---------- systemctl ----------

export function systemctl(scope: Scope, ...args: string[]): string[] {
  return ["systemctl", ...(scope === "user" ? ["--user"] : []), ...args];
}

export const SHOW_PROPERTIES = ["ActiveState", "SubState", "Result", "ExecMainStatus", "ExecMainPID", "UnitFileState", "NRestarts", "LoadState"] as const;

export function systemctlShow(scope: Scope, name: string): string[] {
  return systemctl(scope, "show", "-p", SHOW_PROPERTIES.join(","), unitFileName(scope, name));
}

/** `Key=Value` lines of `systemctl show`. */
export function parseSystemctlShow(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

function int(value: string | undefined): number | null {
  if (value === undefined || !/^-?\d+$/.test(value)) return null;
  return Number(value);
}

export function systemdState(show: Record<string, string>): ManagerState {
  const fileState = show.UnitFileState;
  const load = show.LoadState;
  const pid = int(show.ExecMainPID);
  return {
    reachable: true,
    loaded: load === undefined ? null : load === "loaded",
    enabled: fileState === undefined || fileState === "" ? null : fileState === "enabled" || fileState === "enabled-runtime",
    active: show.ActiveState || "unknown",
    sub: show.SubState || null,
    result: show.Result || null,
    exitStatus: int(show.ExecMainStatus),
    pid: pid && pid > 0 ? pid : null,
    restarts: int(show.NRestarts),
    detail: null,
  };
}

export function systemdBackend(paths: SystemdPaths): Backend {
  const unit = unitFileName;
  return {
    kind: "systemd",
    managerName: "systemd",
    unitPath: (scope, name) => posix.join(systemdUnitDir(scope, paths), unit(scope, name)),
    render: renderSystemdUnit,
    installPlan: (spec) => [
      systemctl(spec.scope, "daemon-reload"),
      systemctl(spec.scope, "enable", unit(spec.scope, spec.name)),
      // --no-block: a Type=notify start would wait for READY=1; install waits for ready itself.
      systemctl(spec.scope, "--no-block", "start", unit(spec.scope, spec.name)),
    ],
    startPlan: (scope, name) => [systemctl(scope, "--no-block", "start", unit(scope, name))],
    stopPlan: (scope, name) => [systemctl(scope, "stop", unit(scope, name))],
    removePlan: (scope, name) => [systemctl(scope, "stop", unit(scope, name)), systemctl(scope, "disable", unit(scope, name))],
    afterRemovePlan: (scope, name) => [systemctl(scope, "daemon-reload"), systemctl(scope, "reset-failed", unit(scope, name))],
    queryPlan: (scope, name) => [systemctlShow(scope, name)],
    parseQuery: (results: readonly CommandResult[]) => {
      const [show] = results;
      if (!show || show.code !== 0) return { ...systemdState({}), reachable: false, active: "unknown", detail: show?.stderr.trim() || "systemctl show failed" };
      return systemdState(parseSystemctlShow(show.stdout));
    },
  };
}

