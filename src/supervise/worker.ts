/**
 * A supervisor per worker thread (docs/architecture.md#threads).
 *
 * States: `starting` (spawned, waiting for `ready`) → `ready` (handshake passed) → `running` (the
 * owner confirmed its work started) → `dead` (exited; respawned after a backoff unless stopping
 * or given up). Every received message is validated with the worker's schema; an invalid one is
 * logged, counted and dropped. Requests carry ids; each pending request is rejected when its worker
 * dies, so no caller waits forever. A worker that dies `BOOTSTRAP_DEATH_LIMIT` times in a row
 * before `ready`, or speaks another protocol, is not respawned again: that is reported as fatal.
 */
import { log as rootLog } from "../log.ts";
import * as v from "valibot";
import { Fatal, Log, PROTOCOL, Ready, RequestFailed, Stopped, type LogFields, type LogLevel } from "../../workers/messages.ts";
import { DEFAULT_BUDGETS, type SupervisorBudgets } from "./budgets.ts";
import { ranHealthy, restartDelay } from "./restart-policy.ts";

/**
 * Worker entry paths injected by the build (`define`), as a JSON object of name → path, for
 * compiled executables whose layout differs from the source tree. A relative path (`./workers/…`)
 * is resolved against `import.meta.url`, which in a compiled executable is its main module
 * (`/$bunfs/root/datumctl-connect`, `B:/~BUN/root/…` on Windows); the worker entrypoints sit
 * beside it, so the same define works on every target.
 */
declare const DATUM_CONNECT_WORKER_PATHS: string | undefined;

/** Where a worker's entry module is: the build's define when present, else the source tree. */
export function workerUrl(name: string): string {
  if (typeof DATUM_CONNECT_WORKER_PATHS === "string") {
    const paths = JSON.parse(DATUM_CONNECT_WORKER_PATHS) as Record<string, string | undefined>;
    const path = paths[name];
    if (path) return path.startsWith("./") || path.startsWith("../") ? new URL(path, import.meta.url).href : path;
  }
  return new URL(`../../workers/${name}.ts`, import.meta.url).href;
}

/**
 * The environment a worker starts with: only what the runtime itself may need (TMPDIR and the
 * like), DATUM_CONNECT_WORKER_DEBUG=1 when debug lines are shown, and what its owner adds (the
 * data plane adds the native-module cache path, src/dataplane/client.ts). No tokens, no other
 * DATUM_* variables: those travel as messages when a worker needs them (docs/architecture.md#tokens).
 */
export function minimalWorkerEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["TMPDIR", "TMP", "TEMP", "NO_COLOR"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  // consola's debug level is 4: below it the worker keeps its debug lines to itself (workers/lib/port.ts).
  const debug: Record<string, string> = rootLog.level >= 4 ? { DATUM_CONNECT_WORKER_DEBUG: "1" } : {};
  return { ...env, ...debug, ...extra };
}

export type WorkerState = "starting" | "ready" | "running" | "dead";

export interface WorkerDeath {
  /** ISO time of death. */
  readonly at: string;
  readonly reason: string;
  readonly exitCode: number | null;
  /** Died before passing the handshake. */
  readonly beforeReady: boolean;
}

export interface SupervisorStatus {
  readonly name: string;
  readonly state: WorkerState;
  readonly spawns: number;
  /** Respawns that reached `ready`. */
  readonly restarts: number;
  readonly deaths: number;
  readonly lastDeath: WorkerDeath | null;
  readonly invalidMessages: number;
  /** Respawning stopped for good (bootstrap guard or protocol mismatch). */
  readonly gaveUp: boolean;
  readonly readySince: string | null;
  readonly nextRestartAt: string | null;
}

export class WorkerDied extends Error {
  constructor(
    readonly worker: string,
    readonly reason: string,
  ) {
    super(`worker ${worker} died: ${reason}`);
    this.name = "WorkerDied";
  }
}

export class WorkerUnavailable extends Error {
  constructor(worker: string, state: WorkerState) {
    super(`worker ${worker} is not available (${state})`);
    this.name = "WorkerUnavailable";
  }
}

export class WorkerGaveUp extends Error {
  constructor(
    readonly worker: string,
    readonly death: WorkerDeath,
  ) {
    super(`worker ${worker} cannot start: ${death.reason}`);
    this.name = "WorkerGaveUp";
  }
}

export class WorkerRequestFailed extends Error {
  constructor(
    readonly worker: string,
    message: string,
  ) {
    super(message);
    this.name = "WorkerRequestFailed";
  }
}

export type SupervisorLog = (level: LogLevel, msg: string, fields?: LogFields) => void;

export interface SupervisorOptions<Out extends { type: string }> {
  readonly name: string;
  /** Defaults to `workerUrl(name)`. */
  readonly url?: string;
  /** The worker's `From…` schema from workers/messages.ts. */
  readonly schema: v.GenericSchema<unknown, Out>;
  /** Defaults to `PROTOCOL`. */
  readonly protocol?: number;
  /** Extra variables on top of `minimalWorkerEnv()`. */
  readonly env?: Record<string, string>;
  readonly budgets?: Partial<SupervisorBudgets>;
  readonly random?: () => number;
  readonly now?: () => number;
  /** Where the supervisor's own lines and the worker's `log` messages go. */
  readonly log?: SupervisorLog;
  /** Messages that are neither lifecycle nor a reply to a pending request. */
  readonly onMessage?: (msg: Out) => void;
  /** A respawned worker passed the handshake: give it back its state. */
  readonly onRespawn?: () => void | Promise<void>;
  /** Respawning stopped for good. */
  readonly onGiveUp?: (death: WorkerDeath) => void;
}

interface Pending<Out> {
  /** The reply type that settles the request. */
  readonly expect: string;
  resolve(msg: Out): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // rejections are for whoever awaits; none is "unhandled"
  return { promise, resolve, reject };
}

function sleepOr<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

function defaultLog(name: string): SupervisorLog {
  const logger = rootLog.withTag(name);
  return (level, msg, fields) => logger[level](fields ? `${msg} ${JSON.stringify(fields)}` : msg);
}

export class WorkerSupervisor<In extends { type: string }, Out extends { type: string }> {
  private readonly budgets: SupervisorBudgets;
  private readonly url: string;
  private readonly log: SupervisorLog;
  private readonly now: () => number;
  private readonly random: () => number;

  private worker: Worker | undefined;
  private state: WorkerState = "dead";
  private spawns = 0;
  private restarts = 0;
  private deaths = 0;
  private invalidMessages = 0;
  private attempt = 0;
  private bootstrapDeaths = 0;
  private readyAt: number | undefined;
  private lastDeath: WorkerDeath | null = null;
  private deathReason: string | undefined;
  private terminatedByUs = false;
  private permanent = false;
  private gaveUp = false;
  private stopping: Promise<void> | undefined;
  private readyTimer: ReturnType<typeof setTimeout> | undefined;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private nextRestartAt: number | undefined;
  private readonly pending = new Map<number, Pending<Out>>();
  private nextId = 1;
  private firstReady = deferred<void>();
  private firstReadyDone = false;
  private closed = deferred<void>();

  constructor(private readonly options: SupervisorOptions<Out>) {
    this.budgets = { ...DEFAULT_BUDGETS, ...options.budgets };
    this.url = options.url ?? workerUrl(options.name);
    this.log = options.log ?? defaultLog(options.name);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Spawn the worker; resolves at its first `ready`, rejects with `WorkerGaveUp`. */
  start(): Promise<void> {
    if (this.spawns === 0 && !this.stopping) this.spawn();
    return this.firstReady.promise;
  }

  /** The owner's work started (e.g. the endpoint is bound): `ready` → `running`. */
  markRunning(): void {
    if (this.state === "ready") this.state = "running";
  }

  /** Send a message that expects no reply; false when no live worker could take it. */
  post(msg: In): boolean {
    if (!this.worker || (this.state !== "ready" && this.state !== "running")) return false;
    this.worker.postMessage(msg);
    return true;
  }

  /**
   * Send a request built around a fresh id and wait for the reply with that id and the expected
   * type. Rejects on an `error` reply, the worker's death, or the request budget.
   */
  request<T extends Out["type"]>(build: (id: number) => In, expect: T, timeoutMs = this.budgets.requestTimeoutMs): Promise<Extract<Out, { type: T }>> {
    const worker = this.worker;
    if (!worker || (this.state !== "ready" && this.state !== "running")) {
      return Promise.reject(new WorkerUnavailable(this.options.name, this.state));
    }
    const id = this.nextId++;
    return new Promise<Extract<Out, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new WorkerRequestFailed(this.options.name, `worker ${this.options.name} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        expect,
        resolve: (msg) => resolve(msg as Extract<Out, { type: T }>),
        reject,
        timer,
      });
      worker.postMessage(build(id));
    });
  }

  /**
   * Terminate the current worker as failed (the owner found it unusable, e.g. its restart could
   * not redo its work); it is respawned like any other death.
   */
  fail(reason: string): void {
    if (!this.worker) return;
    this.deathReason ??= reason;
    this.terminatedByUs = true;
    this.worker.terminate();
  }

  /** `shutdown`, wait up to the stop budget, then `terminate()`. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  status(): SupervisorStatus {
    return {
      name: this.options.name,
      state: this.state,
      spawns: this.spawns,
      restarts: this.restarts,
      deaths: this.deaths,
      lastDeath: this.lastDeath,
      invalidMessages: this.invalidMessages,
      gaveUp: this.gaveUp,
      readySince: this.readyAt === undefined ? null : new Date(this.readyAt).toISOString(),
      nextRestartAt: this.nextRestartAt === undefined ? null : new Date(this.nextRestartAt).toISOString(),
    };
  }

  private async stopNow(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.nextRestartAt = undefined;
    if (!this.firstReadyDone) this.firstReady.reject(new WorkerUnavailable(this.options.name, "dead"));
    const worker = this.worker;
    if (!worker) {
      this.state = "dead";
      return;
    }
    const closed = this.closed.promise;
    worker.postMessage({ type: "shutdown" });
    if (await sleepOr(closed, this.budgets.stopBudgetMs)) return;
    this.log("warn", "worker did not stop within its budget; terminating it", {
      worker: this.options.name,
      budgetMs: this.budgets.stopBudgetMs,
    });
    this.deathReason ??= `terminated after the ${this.budgets.stopBudgetMs} ms stop budget`;
    this.terminatedByUs = true;
    worker.terminate();
    if (!(await sleepOr(closed, this.budgets.terminateWaitMs))) this.onClose(worker, null);
  }

  private spawn(): void {
    this.spawns++;
    this.state = "starting";
    this.readyAt = undefined;
    this.deathReason = undefined;
    this.terminatedByUs = false;
    this.closed = deferred<void>();
    let worker: Worker;
    try {
      worker = new Worker(this.url, { name: this.options.name, env: minimalWorkerEnv(this.options.env) });
    } catch (err) {
      // A bad path or module can throw synchronously; it is a death before ready like any other.
      this.deathReason = `could not spawn: ${err instanceof Error ? err.message : String(err)}`;
      queueMicrotask(() => this.onClose(undefined, null));
      return;
    }
    this.worker = worker;
    worker.addEventListener("message", (event: MessageEvent) => {
      if (this.worker === worker) this.receive(event.data);
    });
    worker.addEventListener("messageerror", () => {
      if (this.worker === worker) this.dropInvalid(undefined, "message could not be deserialized");
    });
    worker.addEventListener("error", (event: Event) => {
      const message = (event as ErrorEvent).message || "uncaught error";
      if (this.worker === worker) this.deathReason ??= message;
      event.preventDefault();
    });
    worker.addEventListener("close", (event: Event) => {
      const code = (event as Event & { code?: unknown }).code;
      this.onClose(worker, typeof code === "number" ? code : null);
    });
    this.readyTimer = setTimeout(() => {
      if (this.worker !== worker || this.state !== "starting") return;
      this.deathReason ??= `no ready message within ${this.budgets.readyTimeoutMs} ms`;
      this.terminatedByUs = true;
      worker.terminate();
    }, this.budgets.readyTimeoutMs);
  }

  private dropInvalid(type: unknown, summary: string): void {
    this.invalidMessages++;
    this.log("warn", "invalid message from worker dropped", {
      worker: this.options.name,
      type: typeof type === "string" ? type : "(none)",
      issues: summary,
    });
  }

  private receive(data: unknown): void {
    const parsed = v.safeParse(this.options.schema, data);
    if (!parsed.success) {
      const type = typeof data === "object" && data !== null ? (data as { type?: unknown }).type : undefined;
      this.dropInvalid(type, v.summarize(parsed.issues));
      return;
    }
    const msg = parsed.output;
    if (v.is(Ready, msg)) return this.onReady(msg.protocol);
    if (v.is(Log, msg)) return this.log(msg.level, msg.msg, { worker: this.options.name, ...msg.fields });
    if (v.is(Fatal, msg)) {
      this.deathReason = msg.message;
      this.log("error", "worker reported a fatal error", { worker: this.options.name, message: msg.message });
      return;
    }
    if (v.is(Stopped, msg)) return;
    if (v.is(RequestFailed, msg)) {
      const pending = this.pending.get(msg.id);
      if (!pending) return;
      this.pending.delete(msg.id);
      clearTimeout(pending.timer);
      pending.reject(new WorkerRequestFailed(this.options.name, msg.message));
      return;
    }
    // A message carrying a pending request's id settles it only when it is the expected reply;
    // others with that id are progress along the way (the verifier's probe attempts).
    const id = (msg as { id?: unknown }).id;
    const pending = typeof id === "number" ? this.pending.get(id) : undefined;
    if (pending && typeof id === "number" && msg.type === pending.expect) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve(msg);
      return;
    }
    this.options.onMessage?.(msg);
  }

  private onReady(protocol: number): void {
    if (this.state !== "starting" || !this.worker) {
      this.log("warn", "unexpected ready message ignored", { worker: this.options.name, state: this.state });
      return;
    }
    clearTimeout(this.readyTimer);
    const expected = this.options.protocol ?? PROTOCOL;
    if (protocol !== expected) {
      // Another build's worker: respawning the same file cannot fix that.
      this.permanent = true;
      this.deathReason = `protocol mismatch: worker speaks ${protocol}, expected ${expected}`;
      this.terminatedByUs = true;
      this.worker.terminate();
      return;
    }
    this.state = "ready";
    this.readyAt = this.now();
    this.bootstrapDeaths = 0;
    if (!this.firstReadyDone) {
      this.firstReadyDone = true;
      this.firstReady.resolve();
      return;
    }
    this.restarts++;
    this.log("info", "worker restarted", { worker: this.options.name, restarts: this.restarts });
    Promise.resolve()
      .then(() => this.options.onRespawn?.())
      .catch((err: unknown) => {
        this.log("error", "restoring a restarted worker failed", { worker: this.options.name, error: String(err) });
      });
  }

  private onClose(worker: Worker | undefined, exitCode: number | null): void {
    if (worker !== undefined && worker !== this.worker) return;
    this.worker = undefined;
    clearTimeout(this.readyTimer);
    const diedAt = this.now();
    const beforeReady = this.readyAt === undefined;
    const stopping = this.stopping !== undefined;
    const reason =
      this.deathReason ??
      (stopping ? "stopped" : this.terminatedByUs ? "terminated" : exitCode === 0 ? "exited" : `exited with code ${exitCode ?? "unknown"}`);
    const death: WorkerDeath = { at: new Date(diedAt).toISOString(), reason, exitCode, beforeReady };
    this.lastDeath = death;
    this.state = "dead";
    this.deaths++;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new WorkerDied(this.options.name, reason));
      this.pending.delete(id);
    }
    this.closed.resolve();
    if (stopping) return;

    this.log("warn", "worker died", { worker: this.options.name, reason, exitCode: exitCode ?? "none", beforeReady });
    if (beforeReady) this.bootstrapDeaths++;
    if (this.permanent || this.bootstrapDeaths >= this.budgets.bootstrapDeathLimit) return this.giveUp(death);
    if (ranHealthy(this.readyAt, diedAt, this.budgets.healthyGraceMs)) this.attempt = 0;
    const delay = restartDelay(this.attempt++, this.random, this.budgets.restartBaseMs, this.budgets.restartCapMs);
    this.nextRestartAt = diedAt + delay;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.nextRestartAt = undefined;
      if (!this.stopping) this.spawn();
    }, delay);
  }

  private giveUp(death: WorkerDeath): void {
    this.gaveUp = true;
    this.log("error", "worker cannot start; not respawning it", {
      worker: this.options.name,
      reason: death.reason,
      deathsBeforeReady: this.bootstrapDeaths,
    });
    if (!this.firstReadyDone) this.firstReady.reject(new WorkerGaveUp(this.options.name, death));
    this.options.onGiveUp?.(death);
  }
}
