/**
 * The verifier worker's main-thread face (docs/architecture.md#threads): one verification (origin
 * and public URL, each within its budget) in a worker of its own, cancelled when `signal` aborts,
 * the worker stopped afterwards. The listen session asks it during setup and again after events
 * that can break the path; the probing itself is `workers/verifier.ts` over `src/verify/probe.ts`.
 */
import type { FromVerifier, ProbeSummary, ToVerifier } from "../../workers/messages.ts";
import { FromVerifier as FromVerifierSchema } from "../../workers/messages.ts";
import type { ProxySettings } from "../net/proxy.ts";
import { WorkerSupervisor, type SupervisorLog } from "../supervise/worker.ts";

/** Beyond the probes' own budgets, how long the worker may take to answer at all. */
const ANSWER_MARGIN_MS = 30_000;

export interface Verification {
  /** Best effort: a down origin is a warning, not a failure; null probes no origin. */
  readonly originUrl: string | null;
  readonly originBudgetMs: number;
  readonly publicUrl: string;
  readonly publicBudgetMs: number;
  /** For the public URL only; the origin is probed directly, as the data plane dials it. */
  readonly proxy: ProxySettings;
}

export type ProbeReport = Extract<FromVerifier, { type: "attempt" | "probed" }>;

export interface VerifyOptions {
  readonly signal: AbortSignal;
  readonly log: SupervisorLog;
  /** Each probe attempt and each finished probe, as they happen. */
  readonly onReport: (report: ProbeReport) => void;
}

/**
 * A verifier worker shared by every verification running at once (a group verifies many services
 * together): started on the first request, stopped when the last one in flight ends, so an idle
 * agent holds no verifier thread (docs/architecture.md#threads).
 */
export class Verifier {
  readonly #log: SupervisorLog;
  #worker: WorkerSupervisor<ToVerifier, FromVerifier> | undefined;
  #starting: Promise<WorkerSupervisor<ToVerifier, FromVerifier>> | undefined;
  #stopping: Promise<void> = Promise.resolve();
  #inFlight = 0;
  readonly #listeners = new Map<number, (report: ProbeReport) => void>();

  constructor(log: SupervisorLog) {
    this.#log = log;
  }

  async #acquire(): Promise<WorkerSupervisor<ToVerifier, FromVerifier>> {
    if (this.#worker) return this.#worker;
    this.#starting ??= (async () => {
      await this.#stopping;
      const worker = new WorkerSupervisor<ToVerifier, FromVerifier>({
        name: "verifier",
        schema: FromVerifierSchema,
        log: this.#log,
        onMessage: (msg) => {
          if (msg.type === "attempt" || msg.type === "probed") this.#listeners.get(msg.id)?.(msg);
        },
      });
      await worker.start();
      this.#worker = worker;
      return worker;
    })().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  /** Run one verification; resolves with the public URL's summary (and the origin's, when probed). */
  async verify(v: Verification, o: VerifyOptions): Promise<{ origin: ProbeSummary | null; public: ProbeSummary }> {
    this.#inFlight++;
    let requestId: number | undefined;
    let worker: WorkerSupervisor<ToVerifier, FromVerifier> | undefined;
    const onAbort = () => {
      if (requestId !== undefined) worker?.post({ type: "cancel", id: requestId });
    };
    o.signal.addEventListener("abort", onAbort, { once: true });
    try {
      worker = await this.#acquire();
      const reply = await worker.request(
        (id) => {
          requestId = id;
          this.#listeners.set(id, o.onReport);
          return {
            type: "verify",
            id,
            originUrl: v.originUrl,
            originBudgetMs: v.originBudgetMs,
            publicUrl: v.publicUrl,
            publicBudgetMs: v.publicBudgetMs,
            proxy: { ...v.proxy },
          };
        },
        "verified",
        v.originBudgetMs + v.publicBudgetMs + ANSWER_MARGIN_MS,
      );
      return { origin: reply.origin, public: reply.public };
    } finally {
      o.signal.removeEventListener("abort", onAbort);
      if (requestId !== undefined) this.#listeners.delete(requestId);
      if (--this.#inFlight === 0 && this.#worker) {
        const idle = this.#worker;
        this.#worker = undefined;
        this.#stopping = idle.stop().catch(() => undefined);
        await this.#stopping;
      }
    }
  }
}

/** Run one verification in a worker of its own. */
export function verify(v: Verification, o: VerifyOptions): Promise<{ origin: ProbeSummary | null; public: ProbeSummary }> {
  return new Verifier(o.log).verify(v, o);
}
