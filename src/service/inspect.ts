/**
 * The service half of `tunnel status`: is the tunnel installed, enabled, where is its unit, what
 * does the manager say about it, how did it last exit, and do the executable and helper paths
 * recorded in its `tunnel.yaml` still resolve (docs/architecture.md#services).
 */
import type { RunState } from "../state/run-state.ts";
import type { Scope } from "../state/paths.ts";
import type { TunnelConfig } from "../state/tunnel-config.ts";
import { checkPath, type PathCheck } from "./executable.ts";
import { unknownState, type ManagerKind, type ManagerState, type ServiceManager } from "./manager.ts";
import { serviceName } from "./spec.ts";

export interface LastExit {
  /** Exit status: the agent's own record, else the manager's. */
  readonly code: number | null;
  /** The manager's word for it (`exit-code`, `watchdog`, `signal`, …), when it has one. */
  readonly reason: string | null;
  /** The agent's last error message. */
  readonly message: string | null;
  readonly at: string | null;
}

export interface ServiceStatus {
  readonly installed: boolean;
  readonly manager: ManagerKind;
  readonly managerName: string;
  /** systemd unit (`….service`), launchd label or SCM service name. */
  readonly unit: string;
  readonly unitPath: string | null;
  readonly enabled: boolean | null;
  readonly state: ManagerState;
  readonly lastExit: LastExit | null;
  readonly executable: PathCheck;
  readonly helper: PathCheck;
}

export function unitDisplayName(kind: ManagerKind, scope: Scope, name: string): string {
  return kind === "systemd" ? `${serviceName(scope, name)}.service` : serviceName(scope, name);
}

export function lastExitOf(run: RunState | undefined, running: boolean, state: ManagerState): LastExit | null {
  const managerSaysFailed = state.reachable && state.result !== null && state.result !== "success";
  const ended = run !== undefined && !running && run.exitCode !== null;
  if (!ended && !managerSaysFailed && !run?.lastError) return null;
  return {
    code: ended ? run.exitCode : (run?.lastError?.exit ?? (managerSaysFailed ? state.exitStatus : null)),
    reason: managerSaysFailed ? state.result : null,
    message: run?.lastError?.message ?? null,
    at: run?.lastError?.at ?? (ended ? run.updatedAt : null),
  };
}

export async function inspectService(
  manager: ServiceManager,
  scope: Scope,
  name: string,
  config: TunnelConfig | undefined,
  run: RunState | undefined,
  running: boolean,
): Promise<ServiceStatus> {
  const installed = await manager.isInstalled(scope, name).catch(() => false);
  const state = installed ? await manager.query(scope, name).catch((err: unknown) => unknownState(err instanceof Error ? err.message : String(err))) : unknownState("not installed");
  return {
    installed,
    manager: manager.kind,
    managerName: manager.managerName,
    unit: unitDisplayName(manager.kind, scope, name),
    unitPath: manager.unitPath(scope, name),
    enabled: installed ? state.enabled : false,
    state,
    lastExit: lastExitOf(run, running, state),
    executable: checkPath(config?.executable),
    helper: checkPath(config?.helper),
  };
}
