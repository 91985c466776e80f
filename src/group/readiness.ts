/**
 * A group's readiness verdicts (docs/groups.md#readiness), pure like the single tunnel's
 * (src/listen/readiness.ts), which decides each service's: a service whose origin does not answer
 * is degraded with that reason instead of "verifying" forever, and the group is ready only when
 * every service is, else it names the first that is not.
 */
import type { RunPhase, RunState } from "../state/run-state.ts";
import { assessReadiness, type Readiness } from "../listen/readiness.ts";

/** One service's verdict: its own facts, the agent's lease, and whether its origin answered. */
export function serviceReadiness(svc: RunState, heartbeat: RunState["heartbeat"], originDown: string | null, now: number): Readiness {
  const r = assessReadiness({ ...svc, heartbeat }, now);
  if (r.state === "starting" && originDown) return { ready: false, state: "degraded", reason: originDown };
  // Setup's verification ran out (kept serving, re-verified at every poll): degraded, with the last answer.
  const check = svc.pathCheck;
  if (r.state === "starting" && check && !check.ok) return { ready: false, state: "degraded", reason: `the public URL does not answer${check.reason ? `: ${check.reason}` : ""}` };
  if (r.state === "stopped") return { ready: false, state: "stopped", reason: "disabled" };
  return r;
}

/** The group's verdict over its services' (in file order), given the process's own phase. */
export function groupReadiness(phase: RunPhase, lastError: RunState["lastError"], services: readonly { readonly name: string; readonly readiness: Readiness }[]): Readiness {
  switch (phase) {
    case "stopping":
      return { ready: false, state: "stopping", reason: "stopping" };
    case "stopped":
      return { ready: false, state: "stopped", reason: "stopped" };
    case "failed":
      return { ready: false, state: "failed", reason: lastError?.message ?? "failed" };
    case "starting": {
      const verified = services.filter((s) => s.readiness.ready).length;
      return { ready: false, state: "starting", reason: `${verified} of ${services.length} services verified` };
    }
    case "ready": {
      const notReady = services.find((s) => !s.readiness.ready);
      if (services.length === 0) return { ready: false, state: "degraded", reason: "the group serves no service" };
      if (!notReady) return { ready: true, state: "ready", reason: "verified" };
      return { ready: false, state: "degraded", reason: `${notReady.name}: ${notReady.readiness.reason}` };
    }
  }
}
