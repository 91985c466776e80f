/**
 * What every process that serves tunnels until a signal does around its session, the same for a
 * single tunnel (`foreground.ts`) and a group (`src/group/foreground.ts`): the stop signals (the
 * first aborts, a second forces the exit), the optional health endpoint, and turning the session's
 * outcome into `run.json`'s last word and the process's exit code.
 */
import { CliError, Exit } from "../errors.ts";
import { describeFailure } from "../failure.ts";
import { log, say } from "../log.ts";
import type { RunState } from "../state/run-state.ts";
import type { ListenEventBus } from "./events.ts";
import type { RunRecorder } from "./run-recorder.ts";

/**
 * SIGINT/SIGTERM (and whatever else `signals` names): the first aborts `controller` (the session
 * then disables what it enabled); a second exits 1 at once. `what` is what the first one starts
 * disabling. Returns the removal.
 */
export function onStopSignals(controller: AbortController, what: string, signals: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"]): () => void {
  let received = 0;
  const onSignal = (signalName: string) => {
    received++;
    if (received === 1) {
      log.debug(`${signalName} received: disabling ${what}`);
      controller.abort(new Error(signalName));
      return;
    }
    say(`error: ${signalName} again: forced exit before ${what} ${what.endsWith("s") ? "were" : "was"} disabled`);
    process.exit(1);
  };
  const handlers = signals.map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

/** Serve `/livez`, `/readyz` and `/metrics` on `address` from the recorded state. */
export async function serveHealth(address: string, state: () => RunState): Promise<{ stop(): Promise<void> }> {
  const { parseHealthAddress } = await import("../health/address.ts");
  const { startHealthServer } = await import("../health/server.ts");
  const parsed = parseHealthAddress(address);
  if (!parsed.loopback) say(`warning: the health endpoint on ${address} is reachable from other machines`);
  const server = await startHealthServer({ host: parsed.host, port: parsed.port, state });
  log.info(`Health endpoint: ${server.url}/readyz (also /livez, /metrics)`);
  return server;
}

/**
 * Run the session to its end and record how it ended: its exit code (`ended`: what `run.json`
 * says when that code is not 0), or its failure with the error's message, hint and code, so a
 * `--detach` parent can relay them. A failure is also logged when the process logs lines
 * (`logsLines`: a daemon or a service, whose terminal nobody watches), and thrown on.
 */
export async function runToEnd(
  run: () => Promise<number>,
  o: { readonly events: ListenEventBus; readonly recorder: RunRecorder; readonly ended: string; readonly logsLines: boolean; readonly before?: () => Promise<void> },
): Promise<void> {
  try {
    const code = await run();
    await o.before?.();
    await o.events.drained();
    await o.recorder.finish(code === 0 ? "stopped" : "failed", code, code === 0 ? undefined : { message: o.ended, exit: code, at: new Date().toISOString() });
    process.exitCode = code;
  } catch (err) {
    const failure = describeFailure(err);
    const exit = err instanceof CliError ? err.exit : Exit.runtime;
    await o.events.drained();
    await o.recorder.finish("failed", exit, {
      message: (failure.lines[0] ?? "error").replace(/^error: /, ""),
      ...(err instanceof CliError && err.hint ? { hint: err.hint } : {}),
      ...(err instanceof CliError ? { code: err.code } : {}),
      ...(err instanceof CliError && err.details ? { details: err.details } : {}),
      exit,
      at: new Date().toISOString(),
    });
    if (o.logsLines) log.error(failure.lines.join(" "));
    throw err;
  }
}
