/**
 * After the manager started a service: wait, within a window, until the agent says it is verified
 * ready (its `run.json`, docs/architecture.md#readiness), or failed. The manager is asked too,
 * so an agent that never got as far as writing `run.json` (a missing executable, a crash at start)
 * is seen failing instead of being waited out.
 */
import type { ExitCode } from "../errors.ts";
import { readRunState, type RunState } from "../state/run-state.ts";
import type { ServiceManager } from "./manager.ts";
import type { Scope } from "../state/paths.ts";

export const SERVICE_READY_WAIT_MS = 30_000;
const POLL_MS = 200;
const MANAGER_POLL_MS = 1_000;

export type ServiceWait =
  | { readonly outcome: "ready"; readonly state: RunState }
  | { readonly outcome: "provisioning"; readonly state: RunState | undefined }
  | { readonly outcome: "failed"; readonly exit: number; readonly message: string; readonly hint?: string | undefined };

export interface WaitOptions {
  readonly runPath: string;
  readonly manager: ServiceManager;
  readonly scope: Scope;
  readonly name: string;
  readonly waitMs: number;
  /** Only `run.json` written after this (ms epoch) counts: an older one is from an earlier run. */
  readonly since: number;
  /**
   * `run.json` as it was before the manager was asked to start: that run's record never counts,
   * however close to `since` it started (a tunnel stopped and started again within a second).
   */
  readonly previous?: Pick<RunState, "pid" | "startedAt"> | undefined;
}

/** Whether `state` is the record of the run this wait is for (not the one before it). */
export function isNewRun(state: Pick<RunState, "pid" | "startedAt">, o: Pick<WaitOptions, "since" | "previous">): boolean {
  if (o.previous && state.pid === o.previous.pid && state.startedAt === o.previous.startedAt) return false;
  return Date.parse(state.startedAt) >= o.since - 1_000;
}

export async function waitForService(o: WaitOptions): Promise<ServiceWait> {
  const deadline = Date.now() + o.waitMs;
  let last: RunState | undefined;
  let nextManagerPoll = Date.now() + MANAGER_POLL_MS;
  for (;;) {
    const state = await readRunState(o.runPath).catch(() => undefined);
    if (state && isNewRun(state, o)) {
      last = state;
      if (state.phase === "ready") return { outcome: "ready", state };
      if (state.phase === "failed" || state.phase === "stopped") {
        const exit = state.lastError?.exit ?? state.exitCode ?? 1;
        return {
          outcome: "failed",
          exit: exit === 0 ? 1 : exit,
          message: state.lastError?.message ?? `the service stopped before it was ready (${state.phase})`,
          hint: state.lastError?.hint,
        };
      }
    }
    if (Date.now() >= nextManagerPoll) {
      nextManagerPoll = Date.now() + MANAGER_POLL_MS;
      const m = await o.manager.query(o.scope, o.name).catch(() => undefined);
      if (m?.reachable && (m.active === "failed" || m.sub === "auto-restart")) {
        return {
          outcome: "failed",
          exit: m.exitStatus && m.exitStatus > 0 && m.exitStatus < 256 ? m.exitStatus : 1,
          message: `the service failed before it was ready (${o.manager.managerName}: ${[m.active, m.sub, m.result].filter(Boolean).join(", ")}${m.exitStatus !== null ? `, status ${m.exitStatus}` : ""})`,
        };
      }
    }
    if (Date.now() >= deadline) return { outcome: "provisioning", state: last };
    await Bun.sleep(POLL_MS);
  }
}

/** An exit code (README.md#exit-codes) for a status the agent or its manager reported (anything else is 1). */
export function exitCodeOf(code: number): ExitCode {
  const known: readonly number[] = [1, 2, 64, 65, 69, 75, 77, 78];
  return (known.includes(code) ? code : 1) as ExitCode;
}
