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

/** Run one verification; resolves with the public URL's summary (and the origin's, when probed). */
export async function verify(v: Verification, o: VerifyOptions): Promise<{ origin: ProbeSummary | null; public: ProbeSummary }> {
  const worker = new WorkerSupervisor<ToVerifier, FromVerifier>({
    name: "verifier",
    schema: FromVerifierSchema,
    log: o.log,
    onMessage: (msg) => {
      if (msg.type === "attempt" || msg.type === "probed") o.onReport(msg);
    },
  });
  await worker.start();
  let requestId: number | undefined;
  const onAbort = () => {
    if (requestId !== undefined) worker.post({ type: "cancel", id: requestId });
  };
  o.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const reply = await worker.request(
      (id) => ({
        type: "verify",
        id: (requestId = id),
        originUrl: v.originUrl,
        originBudgetMs: v.originBudgetMs,
        publicUrl: v.publicUrl,
        publicBudgetMs: v.publicBudgetMs,
        proxy: { ...v.proxy },
      }),
      "verified",
      v.originBudgetMs + v.publicBudgetMs + ANSWER_MARGIN_MS,
    );
    return { origin: reply.origin, public: reply.public };
  } finally {
    o.signal.removeEventListener("abort", onAbort);
    await worker.stop();
  }
}
