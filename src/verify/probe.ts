/**
 * "Is it up yet?" probes for setup verification (docs/wire-facts.md#verify): GET a URL until it
 * answers below 500, with a backoff and a budget. The origin probe is best effort; the public-URL
 * probe decides readiness (docs/architecture.md#readiness: ready means verified). Pure scheduling,
 * injected fetch and clock: `workers/verifier.ts` wires the real ones.
 */
import type { AbortableClock } from "../retry/sleep.ts";

export const PROBE_ATTEMPT_TIMEOUT_MS = 5_000;
export const PROBE_INITIAL_DELAY_MS = 250;
export const PROBE_MAX_DELAY_MS = 2_000;

export interface ProbeAttempt {
  readonly elapsedMs: number;
  readonly status?: number;
  /** The innermost error text of a failed attempt. */
  readonly error?: string;
  /** This attempt went through the DNS fallback. */
  readonly viaFallback?: boolean;
}

export type ProbeResult =
  | { readonly up: true; readonly status: number; readonly elapsedMs: number; readonly viaFallback: boolean }
  | { readonly up: false; readonly last: ProbeAttempt | undefined; readonly elapsedMs: number; readonly aborted: boolean };

/** One GET. Resolves with the status, rejects on network trouble. */
export type Getter = (url: string, signal: AbortSignal) => Promise<number>;

export interface ProbeOptions {
  readonly url: string;
  readonly budgetMs: number;
  readonly get: Getter;
  /** Tried once per attempt after a DNS-looking failure; returns a status, or undefined if it could not. */
  readonly fallback?: (url: string, signal: AbortSignal) => Promise<number | undefined>;
  readonly clock: AbortableClock;
  readonly signal: AbortSignal;
  readonly attemptTimeoutMs?: number;
  readonly onAttempt?: (attempt: ProbeAttempt) => void;
}

/** Backoff between attempts: 250 ms doubling to 2 s. */
export function probeDelayMs(attempt: number): number {
  return Math.min(PROBE_MAX_DELAY_MS, PROBE_INITIAL_DELAY_MS * 2 ** Math.max(0, Math.min(attempt, 10)));
}

/** "< 500 is up": a 404 from the origin means the service answers; a 503 means the edge does not yet. */
export function isUp(status: number): boolean {
  return status < 500;
}

/** The upstream heuristic for "this failed because a name did not resolve" (docs/wire-facts.md#verify). */
export function looksLikeDnsError(text: string): boolean {
  const t = text.toLowerCase();
  return ["dns", "name or service not known", "nodomain", "failed to lookup", "no such host", "enotfound", "eai_again", "unable to connect. is the computer able to access the url"].some((s) => t.includes(s));
}

/** What kind of failure a probe's error text (from `innermostMessage`) reports, for the user's line. */
export type ProbeFailure = "refused" | "timeout" | "reset" | "dns" | "tls" | "other";

export function classifyProbeError(text: string): ProbeFailure {
  const t = text.toLowerCase();
  // Before DNS: Bun's refusal also says "Unable to connect. Is the computer able to access the url?".
  if (["econnrefused", "connectionrefused", "connection refused"].some((s) => t.includes(s))) return "refused";
  if (["timed out", "timeout", "etimedout"].some((s) => t.includes(s))) return "timeout";
  if (["econnreset", "connectionclosed", "connection reset", "socket hang up", "epipe"].some((s) => t.includes(s))) return "reset";
  if (looksLikeDnsError(text)) return "dns";
  if (["certificate", "cert_", "tls", "ssl", "self signed", "self-signed"].some((s) => t.includes(s))) return "tls";
  return "other";
}

/** The innermost message of an error chain, first line only. */
export function innermostMessage(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 8 && e instanceof Error && e.cause !== undefined; i++) e = e.cause;
  const text = e instanceof Error ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ""}${e.message}` : String(e);
  return text.split("\n")[0] ?? text;
}

export async function probeUntilUp(o: ProbeOptions): Promise<ProbeResult> {
  const started = o.clock.now();
  const elapsed = () => o.clock.now() - started;
  let last: ProbeAttempt | undefined;
  for (let attempt = 0; ; attempt++) {
    if (o.signal.aborted) return { up: false, last, elapsedMs: elapsed(), aborted: true };
    const timeout = AbortSignal.any([o.signal, AbortSignal.timeout(o.attemptTimeoutMs ?? PROBE_ATTEMPT_TIMEOUT_MS)]);
    try {
      const status = await o.get(o.url, timeout);
      last = { elapsedMs: elapsed(), status };
    } catch (err) {
      const error = innermostMessage(err);
      last = { elapsedMs: elapsed(), error };
      if (o.fallback && looksLikeDnsError(error) && !o.signal.aborted) {
        const status = await o.fallback(o.url, timeout).catch(() => undefined);
        if (status !== undefined) last = { elapsedMs: elapsed(), status, viaFallback: true };
      }
    }
    o.onAttempt?.(last);
    if (last.status !== undefined && isUp(last.status)) {
      return { up: true, status: last.status, elapsedMs: elapsed(), viaFallback: last.viaFallback === true };
    }
    const wait = probeDelayMs(attempt);
    if (elapsed() + wait > o.budgetMs) return { up: false, last, elapsedMs: elapsed(), aborted: false };
    try {
      await o.clock.sleep(wait, o.signal);
    } catch {
      return { up: false, last, elapsedMs: elapsed(), aborted: true };
    }
  }
}
