/**
 * The heartbeat worker (docs/architecture.md#threads): patches the Connector's connectionDetails when
 * they change and renews its Lease, for the one project this process serves
 * (docs/wire-facts.md#heartbeat). It never holds the secret key and never runs the credentials helper:
 * tokens arrive as messages, and a 401 is reported back so the main thread refreshes once.
 */
import type { TokenProvider } from "../src/controlplane/client.ts";
import { ControlPlaneClient } from "../src/controlplane/client.ts";
import { HeartbeatLoop, type EndpointDetails, type HeartbeatEvent } from "../src/heartbeat/loop.ts";
import { openWorkerPort } from "./lib/port.ts";
import { ToHeartbeat, type FromHeartbeat } from "./messages.ts";
import { abortableSleep } from "../src/retry/sleep.ts";
import { NO_PROXY_SETTINGS } from "../src/net/proxy.ts";
import { forgetInheritedProxyEnv } from "../src/net/worker-env.ts";

forgetInheritedProxyEnv();

/** How long a 401 waits for main's fresh token before retrying with what it has. */
const TOKEN_WAIT_MS = 60_000;

let current: { token: string; seq: number } | undefined;
let waiting: ((t: { token: string; seq: number }) => void)[] = [];
let details: EndpointDetails | undefined;
let loop: { controller: AbortController; done: Promise<void>; heartbeat: HeartbeatLoop } | undefined;

const tokens: TokenProvider = {
  async token() {
    if (!current) throw new Error("no token yet");
    return current.token;
  },
  async invalidate(rejected: string) {
    const seen = current;
    if (!seen) throw new Error("no token yet");
    // Only the token main gave us can have been rejected; a newer one may already be here.
    if (seen.token !== rejected) return seen.token;
    port.post({ type: "unauthorized", seq: seen.seq });
    const fresh = await new Promise<{ token: string; seq: number } | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), TOKEN_WAIT_MS);
      waiting.push((t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
    return (fresh ?? seen).token;
  },
};

function setToken(token: string, seq: number): void {
  if (current && seq < current.seq) return;
  current = { token, seq };
  const resolvers = waiting;
  waiting = [];
  for (const resolve of resolvers) resolve(current);
}


function forward(event: HeartbeatEvent): void {
  switch (event.type) {
    case "resolved":
      port.post({ type: "resolved", connector: event.connector, lease: event.lease ?? null });
      return;
    case "patched":
      port.post({ type: "patched", at: event.at });
      return;
    case "renewed":
      port.post({ type: "renewed", at: event.at, leaseDurationS: event.leaseDurationS });
      return;
    case "lease_lapsed":
      port.post({ type: "lease_lapsed", at: event.at, sinceMs: event.sinceMs });
      return;
    case "failed":
      port.post({ type: "heartbeat_failed", at: event.at, step: event.step, message: event.message, attempt: event.attempt, retryInMs: event.retryInMs });
      return;
  }
}

const port = openWorkerPort<ToHeartbeat, FromHeartbeat>(ToHeartbeat, async (msg) => {
  switch (msg.type) {
    case "start": {
      if (loop) return;
      setToken(msg.token, msg.seq);
      details = { endpointId: msg.endpointId, addresses: msg.addresses, homeRelay: msg.homeRelay };
      const controller = new AbortController();
      const client = new ControlPlaneClient({
        apiBase: msg.apiBase,
        project: msg.project,
        tokens,
        userAgent: msg.userAgent,
        proxy: msg.proxy ?? NO_PROXY_SETTINGS,
        // The loop has its own backoff (2 s → 30 s); one attempt per call keeps the two from stacking.
        budget: { attempts: 1, spacingMs: 0 },
        signal: controller.signal,
        notice: (line) => port.log("info", line.trim()),
      });
      const heartbeat = new HeartbeatLoop({
        client,
        details: () => details,
        placeholderRelay: msg.placeholderRelay ?? undefined,
        clock: { now: () => Date.now(), sleep: abortableSleep },
        onEvent: forward,
        log: (level, text) => port.log(level, text),
      });
      loop = { controller, done: heartbeat.run(controller.signal), heartbeat };
      return;
    }
    case "token":
      setToken(msg.token, msg.seq);
      return;
    case "endpoint":
      if (details) details = { ...details, addresses: msg.addresses, homeRelay: msg.homeRelay };
      return;
    case "resync":
      loop?.heartbeat.resync(msg.connector);
      return;
    case "shutdown": {
      loop?.controller.abort();
      await loop?.done.catch(() => undefined);
      port.post({ type: "stopped" });
      process.exit(0);
      return;
    }
    default: {
      const unexpected: never = msg;
      port.log("warn", "unhandled message", { type: String((unexpected as { type?: unknown }).type) });
    }
  }
});

port.ready();
