/**
 * The one readiness verdict of a tunnel (issue 18 item 3). Pure: the facts a listen records in
 * `run.json` (its phase, the last conditions it read, the runtime watch's last poll, the lease's
 * last renewal, whether its process still runs) in, `{ready, state, reason}` out. The listen
 * records the verdict in `run.json` on every change; `/readyz` and `/metrics` serve that record,
 * and `ps` and `status` read it through `observedReadiness`, which also knows when the process
 * that wrote it is gone. No other code decides whether a tunnel is ready.
 */
import type { RunState } from "../state/run-state.ts";
import { STEPS } from "../tunnel/progress.ts";

export type ReadinessState = "starting" | "ready" | "degraded" | "stopping" | "stopped" | "failed" | "dead";

export interface Readiness {
  readonly ready: boolean;
  readonly state: ReadinessState;
  readonly reason: string;
}

/** What the verdict is made of: a subset of `RunState`. */
export type ReadinessFacts = Pick<RunState, "phase" | "conditions" | "heartbeat" | "lastError" | "tunnelId"> & {
  readonly watch?: RunState["watch"];
  readonly pathCheck?: RunState["pathCheck"];
};

const LABELS = new Map<string, string>(STEPS.map((s) => [s.step, s.label]));

function labelOf(step: string): string {
  return LABELS.get(step) ?? step;
}

/** A condition that blocks readiness: anything not ready, except an absent optional one. */
function blocking(c: RunState["conditions"][number]): boolean {
  return c.status !== "ready" && !(c.step === "connector_metadata_programmed" && c.status === "unknown");
}

function conditionDetail(c: RunState["conditions"][number]): string {
  return c.message ? `: ${c.message}` : c.reason ? ` (${c.reason})` : "";
}

/**
 * The verdict of a listen that is running now (`now` in epoch ms, for the lease's freshness).
 * Order matters: the most specific cause of "not ready" is the reason given.
 */
export function assessReadiness(f: ReadinessFacts, now: number): Readiness {
  switch (f.phase) {
    case "stopping":
      return { ready: false, state: "stopping", reason: "stopping" };
    case "stopped":
      return { ready: false, state: "stopped", reason: "stopped" };
    case "failed":
      return { ready: false, state: "failed", reason: f.lastError?.message ?? "failed" };
    case "starting": {
      if (f.conditions.length === 0) return { ready: false, state: "starting", reason: f.tunnelId ? "setting up" : "starting" };
      const pending = f.conditions.find(blocking);
      return { ready: false, state: "starting", reason: pending ? `waiting for ${labelOf(pending.step)}` : "verifying the public URL" };
    }
    case "ready":
      break;
  }
  const w = f.watch;
  if (w?.advertised === false) {
    return { ready: false, state: "degraded", reason: "the tunnel is disabled: its ConnectorAdvertisement is gone, so the edge does not route to it" };
  }
  if (w && w.failures > 0) {
    const why = w.lastError ? `: ${w.lastError.message}` : "";
    return { ready: false, state: "degraded", reason: `control plane unreachable (${w.failures} failed ${w.failures === 1 ? "poll" : "polls"} in a row)${why}` };
  }
  const pending = f.conditions.find(blocking);
  if (pending) return { ready: false, state: "degraded", reason: `${labelOf(pending.step)} is ${pending.status}${conditionDetail(pending)}` };
  const hb = f.heartbeat;
  const last = hb.lastRenewalAt ? Date.parse(hb.lastRenewalAt) : Number.NaN;
  const leaseMs = (hb.leaseDurationS ?? 30) * 1_000;
  if (Number.isFinite(last) && now - last > leaseMs) {
    const why = hb.lastError ? `: ${hb.lastError.message}` : "";
    return { ready: false, state: "degraded", reason: `lease not renewed for ${Math.round((now - last) / 1000)}s${why}` };
  }
  const check = f.pathCheck;
  if (check && !check.ok) {
    return { ready: false, state: "degraded", reason: `the public URL fails after ${check.after}${check.reason ? `: ${check.reason}` : ""}` };
  }
  return { ready: true, state: "ready", reason: "verified" };
}

/** The message a process that vanished without recording why gets (`kill -9`, a crash, a reboot). */
export const EXITED_UNEXPECTEDLY = "the process exited unexpectedly (not running)";

/**
 * What `ps` and `status` say about a recorded tunnel: the recorded verdict while its process
 * runs; once it is gone, never ready, with the way it ended.
 */
export function observedReadiness(run: Pick<RunState, "phase" | "readiness" | "lastError">, running: boolean): Readiness {
  if (running) {
    const r = run.readiness;
    const state = r.state ?? (r.ready ? "ready" : run.phase === "ready" ? "degraded" : run.phase);
    return { ready: r.ready, state, reason: r.reason };
  }
  if (run.phase === "stopped") return { ready: false, state: "stopped", reason: "stopped" };
  if (run.phase === "failed") return { ready: false, state: "failed", reason: run.lastError?.message ?? "failed" };
  return { ready: false, state: "dead", reason: run.lastError?.message ?? EXITED_UNEXPECTEDLY };
}
