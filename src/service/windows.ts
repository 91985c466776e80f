/**
 * Windows: a service of the service control manager, created and driven with `sc.exe` argument
 * vectors. Windows services are machine-wide, so only `--system` is offered there (a per-user
 * service would need the user's password in `sc.exe create obj= … password= …`: a secret).
 *
 * `sc.exe` takes its options as `name=` followed by the value in the next argument. Recovery:
 * restart after 5 s, 30 s, then 60 s, the failure count reset after a day; `failureflag 1` makes
 * those actions apply to a non-zero exit too, not only to a crash. The agent's environment (paths
 * only) is the service's `Environment` registry value, written with `reg.exe`.
 */
import type { Scope } from "../state/paths.ts";
import type { Argv, Backend, CommandResult, ManagerState } from "./manager.ts";
import { serviceName, type ServiceSpec } from "./spec.ts";

export const SC = "sc.exe";
export const RECOVERY_ACTIONS = "restart/5000/restart/30000/restart/60000";
export const RECOVERY_RESET_SEC = 86_400;

/** One argument as `CommandLineToArgvW` reads it back (quoted when needed, backslashes before quotes doubled). */
export function windowsArg(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === "\\") {
      backslashes++;
      continue;
    }
    if (ch === '"') {
      out += "\\".repeat(backslashes * 2 + 1) + '"';
    } else {
      out += "\\".repeat(backslashes) + ch;
    }
    backslashes = 0;
  }
  return `${out}${"\\".repeat(backslashes * 2)}"`;
}

/** The service's command line (`binPath=`). */
export function binPath(argv: readonly string[]): string {
  return argv.map(windowsArg).join(" ");
}

/** Separator for the `REG_MULTI_SZ` entries: `|` cannot occur in a Windows path. */
export const ENV_SEPARATOR = "|";

export function scCreate(spec: ServiceSpec): string[] {
  return [SC, "create", spec.unit, "binPath=", binPath(spec.argv), "start=", "auto", "DisplayName=", `Datum tunnel ${spec.name}`];
}

export function scDescription(spec: ServiceSpec): string[] {
  return [SC, "description", spec.unit, spec.description];
}

export function scFailure(unit: string): string[] {
  return [SC, "failure", unit, "reset=", String(RECOVERY_RESET_SEC), "actions=", RECOVERY_ACTIONS];
}

export function scFailureFlag(unit: string): string[] {
  return [SC, "failureflag", unit, "1"];
}

export function regEnvironment(spec: ServiceSpec): string[] {
  const entries = Object.entries(spec.env).map(([k, v]) => {
    if (v.includes(ENV_SEPARATOR)) throw new Error(`environment value ${k} contains ${ENV_SEPARATOR}`);
    return `${k}=${v}`;
  });
  return ["reg.exe", "add", `HKLM\\SYSTEM\\CurrentControlSet\\Services\\${spec.unit}`, "/v", "Environment", "/t", "REG_MULTI_SZ", "/s", ENV_SEPARATOR, "/d", entries.join(ENV_SEPARATOR), "/f"];
}

export function sc(verb: "start" | "stop" | "delete" | "query" | "qc", unit: string): string[] {
  return [SC, verb, unit];
}

/** `NAME : value` lines of `sc.exe query` / `sc.exe qc`. */
export function parseScOutput(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^\s*([A-Z_0-9]+)\s*:\s*(.*)$/.exec(line);
    if (m?.[1] && !(m[1] in out)) out[m[1]] = (m[2] ?? "").trim();
  }
  return out;
}

/** 1060: ERROR_SERVICE_DOES_NOT_EXIST. */
export function scMissing(result: CommandResult): boolean {
  return result.code === 1060 || /\b1060\b|does not exist as an installed service/i.test(result.stdout + result.stderr);
}

export function scState(query: CommandResult, qc: CommandResult | undefined): ManagerState {
  if (scMissing(query)) return { reachable: true, loaded: false, enabled: null, active: "inactive", sub: "not installed", result: null, exitStatus: null, pid: null, restarts: null, detail: null };
  const q = parseScOutput(query.stdout);
  const c = qc && qc.code === 0 ? parseScOutput(qc.stdout) : {};
  // "4  RUNNING", "1  STOPPED", "2  START_PENDING"
  const state = (q.STATE ?? "").split(/\s+/)[1] ?? "UNKNOWN";
  const exit = /^(\d+)/.exec(q.SERVICE_EXIT_CODE && q.SERVICE_EXIT_CODE !== "0  (0x0)" ? q.SERVICE_EXIT_CODE : (q.WIN32_EXIT_CODE ?? ""));
  const startType = (c.START_TYPE ?? "").split(/\s+/)[1];
  const pid = /^\d+$/.test(q.PID ?? "") ? Number(q.PID) : null;
  return {
    reachable: true,
    loaded: true,
    enabled: startType === undefined ? null : startType === "AUTO_START",
    active: state === "RUNNING" ? "active" : state === "STOPPED" ? "inactive" : state.toLowerCase(),
    sub: state,
    result: null,
    exitStatus: exit?.[1] !== undefined ? Number(exit[1]) : null,
    pid: pid && pid > 0 ? pid : null,
    restarts: null,
    detail: null,
  };
}

export function windowsBackend(): Backend {
  const unit = serviceName;
  return {
    kind: "scm",
    managerName: "the Windows service control manager",
    unitPath: () => null,
    render: () => null,
    installPlan: (spec: ServiceSpec): Argv[] => [
      scCreate(spec),
      scDescription(spec),
      scFailure(spec.unit),
      scFailureFlag(spec.unit),
      regEnvironment(spec),
      sc("start", spec.unit),
    ],
    startPlan: (scope: Scope, name: string) => [sc("start", unit(scope, name))],
    stopPlan: (scope: Scope, name: string) => [sc("stop", unit(scope, name))],
    removePlan: (scope: Scope, name: string) => [sc("stop", unit(scope, name)), sc("delete", unit(scope, name))],
    afterRemovePlan: () => [],
    queryPlan: (scope: Scope, name: string) => [sc("query", unit(scope, name)), sc("qc", unit(scope, name))],
    parseQuery: (results) => {
      const [query, qc] = results;
      return scState(query ?? { code: 1, stdout: "", stderr: "" }, qc);
    },
    registered: (results) => {
      const [query] = results;
      return query !== undefined && query.code === 0 && !scMissing(query);
    },
  };
}

