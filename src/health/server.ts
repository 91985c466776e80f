/**
 * The opt-in local health endpoint (`--health ADDRESS`, issue 4 deliverable 5) on `Bun.serve`:
 *
 *   GET /livez    200 `ok` while the process runs (never consults the state)
 *   GET /readyz   200 `{"ready":true}` only while `state().readiness.ready`, else 503
 *                 `{"ready":false,"reason":"…"}`
 *   GET /metrics  200, Prometheus text 0.0.4 (`metrics.ts`)
 *
 * HEAD is answered like GET (Bun drops the body and keeps the length). A known path with another
 * method is 405 with `Allow`; an unknown path is 404. No request body is ever read, and bodies
 * over `MAX_REQUEST_BODY` are refused by Bun before the handler runs.
 *
 * The server never throws into the agent: a state provider or renderer that throws turns into a
 * 500 with a short text body (and one warning per distinct message), and `/livez` keeps answering.
 *
 * Binding failure (port in use, address not on this host, privileged port) is `Rejected`, exit
 * 64, naming the address. Not `UsageError` (2): the flag was well formed (`address.ts` already
 * answers malformed values with 2); what failed is a conflict with something else on the machine,
 * the class our exit codes give 64 (README.md#exit-codes) ("name conflict", a second start of a name).
 * Scripts can then tell "fix the command" (2) from "free the port or pick another" (64).
 */
import { Rejected } from "../errors.ts";
import { log } from "../log.ts";
import type { RunState } from "../state/run-state.ts";
import { COMMIT, VERSION } from "../version.ts";
import { formatHostPort } from "./address.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";

/** Bun answers 413 to anything larger without calling the handler; we read no bodies at all. */
export const MAX_REQUEST_BODY = 1024;

export interface HealthServerOptions {
  /** Bind host as `parseHealthAddress` returns it (`127.0.0.1`, `::1`, `0.0.0.0`). */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The live run state, read on every `/readyz` and `/metrics` request. */
  readonly state: () => RunState;
}

export interface HealthServer {
  /** `http://127.0.0.1:PORT` (no trailing slash; IPv6 in brackets). */
  readonly url: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Stop listening and close open connections; the port is free when it resolves. Idempotent. */
  stop(): Promise<void>;
}

const PATHS = new Set(["/livez", "/readyz", "/metrics"]);
const NO_STORE = { "cache-control": "no-store" } as const;
const TEXT = { ...NO_STORE, "content-type": "text/plain; charset=utf-8" } as const;
const JSON_TYPE = { ...NO_STORE, "content-type": "application/json" } as const;

/** The last warning written, so a scraper hitting a broken provider every few seconds logs it once. */
let lastWarning = "";

function internalError(what: string, err: unknown): Response {
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  if (message !== lastWarning) {
    lastWarning = message;
    // Tagged lazily: file logging (daemon mode) swaps the reporters after this module loads.
    log.withTag("health").warn(`health endpoint: ${message}`);
  }
  return new Response(`internal error: ${what}\n`, { status: 500, headers: TEXT });
}

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...TEXT, ...extra } });
}

/** The whole routing decision; exported so the unit tests can drive it without a socket. */
export function handleHealthRequest(req: Request, state: () => RunState): Response {
  let path: string;
  try {
    path = new URL(req.url).pathname;
  } catch {
    return text(400, "bad request\n");
  }
  if (!PATHS.has(path)) return text(404, "not found\n");
  if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed\n", { allow: "GET, HEAD" });

  if (path === "/livez") return text(200, "ok\n");

  let current: RunState;
  try {
    current = state();
  } catch (err) {
    return internalError("run state unavailable", err);
  }

  if (path === "/readyz") {
    try {
      const { ready, reason } = current.readiness;
      const body = ready === true ? { ready: true } : { ready: false, reason: typeof reason === "string" && reason !== "" ? reason : "not ready" };
      return new Response(JSON.stringify(body), { status: ready === true ? 200 : 503, headers: JSON_TYPE });
    } catch (err) {
      return internalError("readiness unavailable", err);
    }
  }

  try {
    return new Response(renderMetrics(current, { version: VERSION, commit: COMMIT }), {
      status: 200,
      headers: { ...NO_STORE, "content-type": METRICS_CONTENT_TYPE },
    });
  } catch (err) {
    return internalError("metrics unavailable", err);
  }
}

function urlOf(host: string, port: number): string {
  return `http://${formatHostPort(host, port)}`;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const where = formatHostPort(opts.host, opts.port);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: opts.host,
      port: opts.port,
      development: false,
      // Explicit: with `development: false` Bun 1.4 sets SO_REUSEPORT unless told otherwise, and a
      // second agent on the same port would then bind silently and split the scrapes with us
      // (oven-sh/bun#1443). The e2e tests bind the port twice, in process and from a child.
      reusePort: false,
      maxRequestBodySize: MAX_REQUEST_BODY,
      fetch: (req) => handleHealthRequest(req, opts.state),
      // Last line of defence: whatever escapes the handler is a 500, never a crash.
      error: (err) => internalError("unexpected", err),
    });
  } catch (err) {
    throw bindFailure(where, err);
  }
  const port = server.port ?? opts.port;
  let stopped: Promise<void> | undefined;
  return {
    url: urlOf(opts.host, port),
    port,
    stop(): Promise<void> {
      stopped ??= server.stop(true).then(
        () => undefined,
        () => undefined,
      );
      return stopped;
    },
  };
}

function bindFailure(where: string, err: unknown): Rejected {
  const code = (err as { code?: unknown } | null)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "EADDRINUSE":
      return new Rejected(`cannot serve health on ${where}: the address is in use`, "stop whatever listens there, or pick another --health port (:0 picks a free one)", "conflict");
    case "EADDRNOTAVAIL":
      return new Rejected(`cannot serve health on ${where}: the address is not available on this host`, "use 127.0.0.1:PORT or [::1]:PORT");
    case "EACCES":
    case "EPERM":
      return new Rejected(`cannot serve health on ${where}: permission denied`, "ports below 1024 need privileges; pick a higher --health port");
    default:
      return new Rejected(`cannot serve health on ${where}: ${detail}`, "pick another --health address");
  }
}
