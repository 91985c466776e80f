/**
 * The verifier worker (docs/architecture.md#threads): probes the origin and the public URL during setup and on
 * demand (docs/wire-facts.md#verify), and mutates nothing. It runs in its own thread so a slow DNS
 * lookup or TLS handshake never stalls the main thread's progress view or signal handling.
 */
import { fallbackGet } from "../src/verify/dns-fallback.ts";
import { probeUntilUp, type ProbeAttempt, type ProbeResult } from "../src/verify/probe.ts";
import { openWorkerPort } from "./lib/port.ts";
import { ToVerifier, type FromVerifier, type ProbeSummary, type ProbeTarget } from "./messages.ts";
import { abortableSleep } from "../src/retry/sleep.ts";
import { NO_PROXY_SETTINGS, proxiedFetch, type ProxySettings } from "../src/net/proxy.ts";
import { forgetInheritedProxyEnv } from "../src/net/worker-env.ts";

forgetInheritedProxyEnv();

const running = new Map<number, AbortController>();


/**
 * A GET through `fetcher`. Certificates are verified; redirects are answers too (a 301 means the
 * edge serves the name). The public URL goes through the user's proxy like any request of ours; the
 * origin is probed directly, the way the data plane dials it.
 */
function getter(fetcher: typeof fetch): (url: string, signal: AbortSignal) => Promise<number> {
  return async (url, signal) => {
    const res = await fetcher(url, { signal, redirect: "manual", keepalive: false });
    await res.body?.cancel();
    return res.status;
  };
}

function summary(url: string, result: ProbeResult): ProbeSummary {
  if (result.up) return { url, up: true, status: result.status, error: null, elapsedMs: result.elapsedMs, viaFallback: result.viaFallback };
  return {
    url,
    up: false,
    status: result.last?.status ?? null,
    error: result.aborted ? "cancelled" : (result.last?.error ?? null),
    elapsedMs: result.elapsedMs,
    viaFallback: result.last?.viaFallback === true,
  };
}

async function probe(id: number, target: ProbeTarget, url: string, budgetMs: number, signal: AbortSignal, proxy: ProxySettings): Promise<ProbeSummary> {
  const result = await probeUntilUp({
    url,
    budgetMs,
    get: getter(target === "public" ? proxiedFetch(proxy) : fetch),
    fallback: fallbackGet,
    clock: { now: () => performance.now(), sleep: abortableSleep },
    signal,
    onAttempt: (a: ProbeAttempt) =>
      port.post({ type: "attempt", id, target, url, elapsedMs: a.elapsedMs, status: a.status ?? null, error: a.error ?? null }),
  });
  const s = summary(url, result);
  port.post({ type: "probed", id, target, result: s });
  return s;
}

const port = openWorkerPort<ToVerifier, FromVerifier>(ToVerifier, async (msg) => {
  switch (msg.type) {
    case "verify": {
      const controller = new AbortController();
      running.set(msg.id, controller);
      try {
        const proxy = msg.proxy ?? NO_PROXY_SETTINGS;
        const origin = msg.originUrl ? await probe(msg.id, "origin", msg.originUrl, msg.originBudgetMs, controller.signal, proxy) : null;
        const pub = await probe(msg.id, "public", msg.publicUrl, msg.publicBudgetMs, controller.signal, proxy);
        port.post({ type: "verified", id: msg.id, origin, public: pub });
      } finally {
        running.delete(msg.id);
      }
      return;
    }
    case "cancel":
      running.get(msg.id)?.abort();
      return;
    case "shutdown":
      for (const c of running.values()) c.abort();
      port.post({ type: "stopped" });
      process.exit(0);
      return;
    default: {
      const unexpected: never = msg;
      port.log("warn", "unhandled message", { type: String((unexpected as { type?: unknown }).type) });
    }
  }
});

port.ready();
