/**
 * The exact user-facing lines of `tunnel listen` (docs/wire-facts.md#setup-progress, #verify, #cli-lines,
 * #json-events), as pure functions so every wording is table-tested in one place.
 */
import type { ProgressStep, StepStatus, TunnelProgress } from "../tunnel/progress.ts";
import { classifyProbeError } from "../verify/probe.ts";

/** Seconds with one decimal: `0.8`. */
export function secs1(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1);
}

/** Whole seconds: `12`. */
export function secs0(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(0);
}

export function stepDoneLine(step: ProgressStep, elapsedMs: number): string {
  return `  ✓ ${step.label} (${secs1(elapsedMs)}s)${step.resource ? ` [${step.resource}]` : ""}`;
}

export function stepWaitingLine(step: ProgressStep, elapsedMs: number): string {
  const detail = step.message ?? step.reason;
  return `  ○ waiting for ${step.label} (${secs0(elapsedMs)}s)${step.resource ? ` [${step.resource}]` : ""}${detail ? `: ${detail}` : ""}`;
}

export function originVerifiedLine(url: string, status: number, elapsedMs: number): string {
  return `  ✓ origin reachable (${secs1(elapsedMs)}s) [${url}]: HTTP ${status}`;
}

/** Why the origin probe did not count the origin as up, from its last attempt. */
export function originProblem(status: number | null, error: string | null): string {
  if (status !== null) return `answered HTTP ${status}`;
  switch (error !== null ? classifyProbeError(error) : "timeout") {
    case "refused":
      return "refused the connection: nothing is listening there (is the service running?)";
    case "reset":
      return `closed the connection without answering (${error})`;
    case "dns":
      return `did not resolve (${error})`;
    case "tls":
      return `failed the TLS handshake (${error})`;
    case "other":
      return `did not respond within budget (${error})`;
    default:
      return "did not respond within budget";
  }
}

export function originUnverifiedLine(url: string, status: number | null = null, error: string | null = null): string {
  return `warning: origin ${url} ${originProblem(status, error)} — continuing`;
}

/**
 * The public URL's last answer while it is waited for. A 502 while the origin probe found the
 * origin down is the edge reaching this tunnel and the tunnel not reaching the origin: say so.
 */
export function publicAnswer(status: number | null, error: string | null, originDown: boolean): string {
  if (status === 502 && originDown) return "HTTP 502: the origin is down";
  return status !== null ? `HTTP ${status}` : (error ?? "no answer");
}

export function proxyRespondingLine(url: string, status: number, elapsedMs: number): string {
  return `  ✓ proxy responding (${secs1(elapsedMs)}s) [${url}]: HTTP ${status}`;
}

export function proxyWaitingLine(url: string, elapsedMs: number, status: number | null, error: string | null, originDown = false): string {
  return `  ○ waiting for tunnel [${url}] (${secs0(elapsedMs)}s) ... ${publicAnswer(status, error, originDown)}`;
}

export function readyLine(elapsedMs: number, url: string): string {
  return `Tunnel ready after ${Math.floor(Math.max(0, elapsedMs) / 1000)} sec: ${url}`;
}

/** `https://<hostname>` on the platform; the local Datum's edge serves `http://<hostname>:<port>`. */
export function publicUrl(hostname: string, env: Readonly<Record<string, string | undefined>>): string {
  const template = env.DATUM_CONNECT_PUBLIC_URL?.trim();
  return template ? template.replaceAll("{hostname}", hostname) : `https://${hostname}`;
}

export interface StepChange {
  readonly step: ProgressStep;
  readonly previous: StepStatus | undefined;
}

/** Steps whose status differs from the previous poll (every step on the first). */
export function progressChanges(previous: TunnelProgress | undefined, next: TunnelProgress): StepChange[] {
  const before = new Map(previous?.steps.map((s) => [s.step, s.status]));
  return next.steps
    .filter((s) => before.get(s.step) !== s.status)
    .map((step) => ({ step, previous: before.get(step.step) }));
}
