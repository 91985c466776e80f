/**
 * The worker half of the supervision protocol: what every worker does the same way.
 *
 * Installs the process-level handlers first (an uncaught error posts `fatal`, runs the worker's
 * fatal cleanup within `WORKER_CLOSE_MS`, and exits non-zero, so the supervisor sees a death with
 * a reason), validates every incoming message against the
 * worker's `To…` schema (invalid → a `log` warning back to main, never a throw), and gives the
 * worker typed `post`/`log`. Workers never print: stdout belongs to the main thread.
 */
import * as v from "valibot";
import { PROTOCOL, type LogFields, type LogLevel } from "../messages.ts";
import { WORKER_CLOSE_MS } from "../../src/supervise/budgets.ts";
import { trimAfterStart } from "../../src/supervise/heap-trim.ts";

/** Exit code of a worker that died of an uncaught error. */
export const FATAL_EXIT_CODE = 70;

export interface WorkerPort<Out> {
  post(msg: Out): void;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** The handshake; call once the worker can take requests. */
  ready(): void;
  /** Report a fatal error, run the fatal cleanup, exit non-zero. */
  die(message: string): void;
  /**
   * Work that must happen even on a fatal error. The ListenNode closes its endpoint here: a
   * worker thread that exits with a live iroh endpoint leaves it running natively, still bound
   * to its UDP port and answering for its key with nobody accepting (measured), so the restarted
   * worker could neither rebind the port nor be reached at the old addresses.
   */
  onFatal(cleanup: () => Promise<void>): void;
}

type Lifecycle = { type: "ready"; protocol: number } | { type: "log"; level: LogLevel; msg: string; fields?: LogFields } | { type: "fatal"; message: string };

function describe(err: unknown): string {
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}

export function openWorkerPort<In extends { type: string }, Out extends { type: string }>(
  schema: v.GenericSchema<unknown, In>,
  handle: (msg: In) => void | Promise<void>,
): WorkerPort<Out | Lifecycle> {
  const post = (msg: Out | Lifecycle): void => postMessage(msg);
  // Debug lines cross to the main thread only when its logger shows them (see minimalWorkerEnv):
  // the data plane logs one per connection, and a message per connection, cloned and validated on
  // the main thread only to be dropped there, cost CPU on the latency path.
  const debug = process.env.DATUM_CONNECT_WORKER_DEBUG === "1";
  const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (level === "debug" && !debug) return;
    post(fields ? { type: "log", level, msg, fields } : { type: "log", level, msg });
  };
  let cleanup: (() => Promise<void>) | undefined;
  let dying = false;
  const die = (message: string): void => {
    if (dying) return;
    dying = true;
    post({ type: "fatal", message });
    const bounded = new Promise<void>((resolve) => setTimeout(resolve, WORKER_CLOSE_MS));
    void Promise.race([Promise.resolve().then(cleanup), bounded])
      .catch(() => undefined)
      .finally(() => process.exit(FATAL_EXIT_CODE));
  };
  process.on("uncaughtException", (err) => die(`uncaught exception: ${describe(err)}`));
  process.on("unhandledRejection", (err) => die(`unhandled rejection: ${describe(err)}`));

  addEventListener("message", (event: MessageEvent) => {
    const parsed = v.safeParse(schema, event.data);
    if (!parsed.success) {
      log("warn", "invalid message from main dropped", { issues: v.summarize(parsed.issues) });
      return;
    }
    Promise.resolve()
      .then(() => handle(parsed.output))
      .catch((err: unknown) => die(`handling ${parsed.output.type} failed: ${describe(err)}`));
  });
  addEventListener("messageerror", () => log("warn", "undeserializable message from main dropped"));

  return {
    post,
    log,
    die,
    onFatal: (fn) => {
      cleanup = fn;
    },
    ready: () => {
      post({ type: "ready", protocol: PROTOCOL });
      trimAfterStart(); // this thread's heap, past its startup (heap-trim.ts)
    },
  };
}
