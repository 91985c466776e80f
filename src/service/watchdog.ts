/**
 * When the agent feeds systemd's watchdog (`WATCHDOG=1`, src/service/sd-notify.ts): whenever the
 * process is healthy, from its first moment. Healthy means the data plane — the ListenNode worker
 * that carries the traffic — answers; before setup has started it (reading the config, minting a
 * token, finding the tunnel) and while its first start is under way there is nothing to answer
 * and setup's own failures end the process, so the ping goes out. Setup may wait a long time for
 * the platform (a first certificate can take many minutes): it never starves the watchdog.
 *
 * The decision is pure (`watchdogVerdict`); `checkDataPlane` gathers its inputs. A withheld ping
 * carries its reason, which the notifier writes to stderr (the journal) and the tunnel log.
 */
import type { WorkerState } from "../supervise/worker.ts";

/** What one watchdog tick decided. */
export interface WatchdogCheck {
  readonly ping: boolean;
  /** Why the ping is withheld (null when it is sent). */
  readonly reason: string | null;
}

/** The data-plane worker as its supervisor reports it. */
export interface WorkerFacts {
  readonly state: WorkerState;
  /** Spawns so far: 0 until setup starts the data plane. */
  readonly spawns: number;
  /** Deaths so far (a respawn is not a first start). */
  readonly deaths: number;
}

/** The worker's answer to a stats request: answered, no answer in time, or an error. */
export type WorkerAnswer = "answered" | "timeout" | { readonly error: string };

export interface DataPlaneFacts {
  /** null: setup has not created the data plane yet. */
  readonly worker: WorkerFacts | null;
  /** null: not asked (see `needsAnswer`). */
  readonly answer: WorkerAnswer | null;
}

/** How long the worker has to answer a tick's stats request. */
export const ANSWER_BUDGET_MS = 2_000;

/** Whether the worker exists and is started yet (only then can it be expected to answer). */
function started(w: WorkerFacts): boolean {
  return w.spawns > 0 && !(w.state === "starting" && w.deaths === 0);
}

/** Ask the worker only when it is started and up (ready or running). */
export function needsAnswer(w: WorkerFacts | null): boolean {
  return w !== null && started(w) && (w.state === "ready" || w.state === "running");
}

const OK: WatchdogCheck = { ping: true, reason: null };

export function watchdogVerdict(f: DataPlaneFacts): WatchdogCheck {
  const w = f.worker;
  // Setting up: no data plane yet, or its first start under way (bounded by its own budget).
  if (w === null || !started(w)) return OK;
  if (w.state !== "ready" && w.state !== "running") {
    return { ping: false, reason: `the data plane worker is ${w.state === "dead" ? "dead" : "restarting"} (${w.deaths} death${w.deaths === 1 ? "" : "s"} so far)` };
  }
  const a = f.answer;
  if (a === "answered") return OK;
  if (a === null) return { ping: false, reason: "the data plane worker was not asked" };
  if (a === "timeout") return { ping: false, reason: `the data plane worker did not answer within ${ANSWER_BUDGET_MS / 1000} s` };
  return { ping: false, reason: `the data plane worker failed to answer: ${a.error}` };
}

export interface DataPlaneLike {
  status(): WorkerFacts;
  stats(): Promise<unknown>;
}

/** One tick's check of `dataPlane` (undefined before setup creates it). */
export async function checkDataPlane(dataPlane: DataPlaneLike | undefined, budgetMs = ANSWER_BUDGET_MS): Promise<WatchdogCheck> {
  const worker = dataPlane ? dataPlane.status() : null;
  let answer: WorkerAnswer | null = null;
  if (dataPlane && needsAnswer(worker)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    answer = await Promise.race([
      dataPlane.stats().then(
        (): WorkerAnswer => "answered",
        (err: unknown): WorkerAnswer => ({ error: err instanceof Error ? err.message : String(err) }),
      ),
      new Promise<WorkerAnswer>((resolve) => {
        timer = setTimeout(() => resolve("timeout"), budgetMs);
      }),
    ]);
    clearTimeout(timer);
  }
  return watchdogVerdict({ worker, answer });
}
