/**
 * Setup polling (docs/architecture.md#setup-polling): read the tunnel's progress every 750 ms until every
 * step is ready at the current generation and a hostname exists. Transient control-plane errors are
 * ridden over up to 10 consecutive failed polls (≈ 7.5 s), then exit 69; a hard signal (403, our own
 * object gone, `DeferredToOwner`) fails at once. Time and the poll are injected.
 *
 * The poll's requests must not bring the client's own transient budget (10 attempts 750 ms apart)
 * along: stacked under this loop's, ten failed polls would take ~75 s and ~100 failed requests
 * instead of ≈ 7.5 s. They get `SETUP_POLL_REQUEST_BUDGET`: one immediate retry, so a single lost
 * request is not a failed poll, and this loop owns the spacing and the count.
 */
import { CliError, Exit, Rejected, Unreachable } from "../errors.ts";
import type { TransientBudget } from "../retry/budget.ts";
import type { AbortableClock } from "../retry/sleep.ts";
import { allReady, formatTerminalFailure, terminalFailure, type TunnelProgress } from "../tunnel/progress.ts";

export const SETUP_POLL_MS = 750;
export const MAX_CONSECUTIVE_POLL_FAILURES = 10;
/** Per request of a setup poll (see above); the client's default is `DEFAULT_TRANSIENT_BUDGET`. */
export const SETUP_POLL_REQUEST_BUDGET: TransientBudget = { attempts: 2, spacingMs: 100 };

export interface AwaitSetupOptions {
  readonly id: string;
  readonly poll: () => Promise<TunnelProgress | undefined>;
  readonly clock: AbortableClock;
  readonly signal: AbortSignal;
  readonly intervalMs?: number;
  readonly maxConsecutiveFailures?: number;
  readonly onProgress: (progress: TunnelProgress) => void;
  readonly onPollFailed?: (message: string, consecutive: number) => void;
}

/** The tunnel hit a condition that waiting cannot fix (docs/wire-facts.md#terminal-failures). */
export class TerminalFailure extends Rejected {
  constructor(readonly text: string) {
    super(text.split("\n")[0] ?? text, text.split("\n").slice(1).join("\n").trim() || undefined, "conflict");
  }
}

export class SetupAborted extends Error {}

/** Errors that no number of retries will fix: everything classified except "unreachable". */
export function isPermanent(err: unknown): boolean {
  return err instanceof CliError && err.exit !== Exit.unreachable;
}

export async function awaitSetup(o: AwaitSetupOptions): Promise<TunnelProgress> {
  const interval = o.intervalMs ?? SETUP_POLL_MS;
  const budget = o.maxConsecutiveFailures ?? MAX_CONSECUTIVE_POLL_FAILURES;
  let failures = 0;
  for (;;) {
    if (o.signal.aborted) throw new SetupAborted("setup cancelled");
    let progress: TunnelProgress | undefined;
    try {
      progress = await o.poll();
      failures = 0;
    } catch (err) {
      if (isPermanent(err)) throw err;
      failures++;
      const message = err instanceof Error ? err.message : String(err);
      o.onPollFailed?.(message, failures);
      if (failures >= budget) {
        throw new Unreachable(
          `polling tunnel ${o.id} progress failed ${failures} times in a row: ${message}`,
          "the control plane is unreachable; check your network and try again",
        );
      }
    }
    if (progress === undefined && failures === 0) {
      throw new Rejected(`Tunnel ${o.id} disappeared during setup`, "it was deleted by someone else; run 'tunnel list'", "not_found");
    }
    if (progress) {
      o.onProgress(progress);
      const failed = terminalFailure(progress);
      if (failed) throw new TerminalFailure(formatTerminalFailure(failed));
      if (allReady(progress) && progress.hostnames.length > 0) return progress;
    }
    try {
      await o.clock.sleep(interval, o.signal);
    } catch {
      throw new SetupAborted("setup cancelled");
    }
  }
}
