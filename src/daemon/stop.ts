/**
 * Stop a running tunnel process: SIGTERM (it disables its advertisement and exits 0), wait, then
 * SIGKILL once the budget is spent. The budget covers a clean teardown against a slow control
 * plane: the disable call's own retry budget (~7.5 s) plus worker shutdown, with room to spare.
 */
import { pidAlive, sameProcessRunning } from "../state/process-identity.ts";

export const STOP_BUDGET_MS = 30_000;
const POLL_MS = 50;

export type StopOutcome = "not-running" | "stopped" | "killed";

export async function stopProcess(pid: number, startTime: string | null, budgetMs = STOP_BUDGET_MS): Promise<StopOutcome> {
  if (!sameProcessRunning(pid, startTime ?? undefined)) return "not-running";
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return "not-running";
  }
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || !sameProcessRunning(pid, startTime ?? undefined)) return "stopped";
    await Bun.sleep(POLL_MS);
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return "stopped";
  }
  for (let i = 0; i < 100 && pidAlive(pid); i++) await Bun.sleep(POLL_MS);
  return "killed";
}
