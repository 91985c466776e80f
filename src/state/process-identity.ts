/**
 * "Is PID n still the process that wrote this file?" A PID alone can be reused after a reboot or
 * a long uptime, so lock and run files also record the process's start time; on Linux that is
 * field 22 of `/proc/<pid>/stat` (clock ticks since boot), elsewhere it is not available and the
 * PID check stands alone.
 */
import { readFileSync } from "node:fs";

export function processStartTime(pid: number): string | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Linux process state letter (`R`, `S`, `Z` …) from `/proc/<pid>/stat`, where available. */
function procState(pid: number): string | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // A zombie (exited, not yet reaped by whoever adopted it) answers signal 0 but is dead.
  return procState(pid) !== "Z";
}

/** The recorded process is still running (same PID and, where known, the same start time). */
export function sameProcessRunning(pid: number, startTime: string | undefined): boolean {
  if (!pidAlive(pid)) return false;
  if (startTime === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}
