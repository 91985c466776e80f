/**
 * The ListenNode worker (docs/architecture.md#threads): owns the iroh endpoint (ALPN `iroh-http-proxy/1`), the
 * allow-list and the byte counters. Payload bytes never leave this thread; main gets addresses,
 * counters and logs as messages (workers/messages.ts).
 *
 * iroh-js constraints honoured here (docs/architecture.md#iroh-js-constraints): the endpoint stays
 * referenced until the thread exits (defect 2, `liveEndpoints`); no `watch*` call ever (defect 1: the
 * address is polled); one write at a time per stream (defect 3, `IrohByteStream`); shutdown happens from
 * inside (defect 4): stop accepting, `ep.close()`, let pending work settle, post `stopped`, exit 0 — a
 * worker terminated from outside would leave its UDP sockets bound.
 */
import type { Connection, Endpoint, Incoming } from "@number0/iroh";
import type net from "node:net";
import { networkInterfaces } from "node:os";
import { IrohByteStream, pendingAborts } from "../src/dataplane/byte-stream.ts";
import { Counters } from "../src/dataplane/counters.ts";
import { directAddresses, interfaceAddresses } from "../src/dataplane/local-addresses.ts";
import { tallyPaths } from "../src/dataplane/path-kind.ts";
import { addrInfo, ALPN, bindEndpoint, boundPort, listenBindAttempts, MAX_STREAMS_PER_CONNECTION } from "../src/dataplane/iroh-endpoint.ts";
import { firstLine, headerTimeoutFromEnv, serveProxyStream, type UpstreamContext } from "../src/dataplane/upstream.ts";
import { ENDPOINT_POLL_MS, FIRST_RELAY_POLL_MS, FIRST_RELAY_WAIT_MS, WORKER_CLOSE_MS, WORKER_SETTLE_MS } from "../src/supervise/budgets.ts";
import { IdleTrimmer } from "../src/supervise/heap-trim.ts";
import { openWorkerPort } from "./lib/port.ts";
import { ToListenNode, type AllowListEntry, type FromListenNode, type SecretKeyBytes } from "./messages.ts";

type Start = Extract<ToListenNode, { type: "start" }>;

let allowList: readonly AllowListEntry[] = [];
let endpoint: Endpoint | undefined;
let pollTimer: ReturnType<typeof setInterval> | undefined;
let lastAddress = "";
/** Every address ever seen on this machine's interfaces (src/dataplane/local-addresses.ts). */
const seenLocal = new Set<string>();
let shuttingDown = false;
const counters = new Counters();
/** Connection and stream tasks still running, so shutdown can let them settle. */
const inflight = new Set<Promise<unknown>>();
/** Gives the heap back once every stream has been closed for a while (heap-trim.ts). */
const idleTrim = new IdleTrimmer();
const originSockets = new Set<net.Socket>();
/** Connections being served, so `stats` can say whether each goes direct or through the relay. */
const liveConnections = new Set<Connection>();

function connectionPaths(): ReturnType<typeof tallyPaths> {
  const all: Parameters<typeof tallyPaths>[0][number][] = [];
  for (const conn of liveConnections) {
    try {
      all.push(conn.paths());
    } catch {
      all.push([]); // closing under us: no path
    }
  }
  return tallyPaths(all);
}

const port = openWorkerPort<ToListenNode, FromListenNode>(ToListenNode, async (msg) => {
  switch (msg.type) {
    case "start":
      return start(msg);
    case "allowlist":
      // One assignment: a stream reads the list once, so it sees the old or the new one, whole.
      allowList = msg.entries;
      return;
    case "stats":
      port.post({ type: "stats", id: msg.id, ...counters.snapshot(), paths: connectionPaths() });
      return;
    case "shutdown":
      return shutdown();
    default: {
      const unexpected: never = msg;
      port.log("warn", "unhandled message", { type: String((unexpected as { type?: unknown }).type) });
    }
  }
});

const upstream: UpstreamContext = {
  allowList: () => allowList,
  counters,
  sockets: originSockets,
  log: (level, msg, fields) => port.log(level, msg, fields),
  // A stream must deliver its whole request head within this (slowloris guard).
  headerTimeoutMs: headerTimeoutFromEnv(),
};

// A fatal error closes and settles like a shutdown: an endpoint left live outlives this thread
// (see `onFatal`), and NAPI calls still in flight at exit crash the process later.
port.onFatal(() => closeEverything());

function track(task: Promise<unknown>): void {
  inflight.add(task);
  task
    .catch((err: unknown) => port.log("error", "internal task failed", { error: firstLine(err) }))
    .finally(() => inflight.delete(task));
}

function secretKeyBytes(key: SecretKeyBytes): number[] {
  if (typeof key !== "string") return key;
  return Array.from(Buffer.from(key, "base64"));
}

let binding = false;

async function start(msg: Start): Promise<void> {
  if (endpoint || binding || shuttingDown) {
    port.post({ type: "error", id: msg.id, message: "the endpoint is already started" });
    return;
  }
  binding = true;
  let bound: { endpoint: Endpoint; attempt: number };
  try {
    bound = await bindEndpoint({
      secretKey: secretKeyBytes(msg.secretKey),
      alpns: [ALPN],
      relayUrls: msg.relayUrls,
      bindAttempts: listenBindAttempts(msg.bindPort),
    });
  } catch (err) {
    port.post({ type: "error", id: msg.id, message: `could not bind the iroh endpoint: ${firstLine(err)}` });
    return;
  } finally {
    binding = false;
  }
  if (shuttingDown) {
    // `shutdown` arrived while binding: this endpoint must not outlive the thread either.
    await bound.endpoint.close();
    port.post({ type: "error", id: msg.id, message: "shutting down" });
    return;
  }
  endpoint = bound.endpoint;
  if (msg.bindPort && bound.attempt > 0) {
    port.log("warn", "remembered UDP port unavailable; bound elsewhere", { wanted: msg.bindPort, bound: boundPort(endpoint) });
  }
  allowList = msg.allowList;
  const info = { endpointId: endpoint.id().toString(), ...currentAddress(endpoint) };
  lastAddress = JSON.stringify({ addresses: info.addresses, homeRelay: info.homeRelay });
  port.post({ type: "started", id: msg.id, boundPort: boundPort(endpoint), ...info });
  port.log("debug", "endpoint bound", { endpointId: info.endpointId, boundPort: boundPort(endpoint) });
  track(acceptLoop(endpoint));
  pollTimer = setInterval(() => pollAddress(), ENDPOINT_POLL_MS);
  if (msg.relayUrls.length > 0 && info.homeRelay === null) void pollForFirstRelay();
}

/** Poll quickly until iroh reports its first home relay (see FIRST_RELAY_POLL_MS), then leave it to the regular poll (ENDPOINT_POLL_MS). */
async function pollForFirstRelay(): Promise<void> {
  const deadline = performance.now() + FIRST_RELAY_WAIT_MS;
  while (performance.now() < deadline) {
    await sleep(FIRST_RELAY_POLL_MS);
    if (!endpoint || shuttingDown) return;
    if (pollAddress()?.homeRelay) return;
  }
}

/** iroh's addresses, corrected by what the interfaces say now (a moved machine: local-addresses.ts). */
function currentAddress(ep: Endpoint): ReturnType<typeof addrInfo> {
  const info = addrInfo(ep.addr());
  let local: ReturnType<typeof interfaceAddresses>;
  try {
    local = interfaceAddresses(networkInterfaces());
  } catch {
    return info;
  }
  for (const l of local) seenLocal.add(l.address);
  return { ...info, addresses: directAddresses(info.addresses, local, seenLocal, boundPort(ep)) };
}

/** Post `endpoint` when the direct addresses or the home relay changed since the last post; returns what it read. */
function pollAddress(): ReturnType<typeof addrInfo> | undefined {
  if (!endpoint || shuttingDown) return undefined;
  const info = currentAddress(endpoint);
  const key = JSON.stringify(info);
  if (key === lastAddress) return info;
  lastAddress = key;
  port.post({ type: "endpoint", ...info });
  return info;
}

async function acceptLoop(ep: Endpoint): Promise<void> {
  for (;;) {
    let incoming: Incoming | null;
    try {
      incoming = await ep.acceptNext();
    } catch (err) {
      if (!shuttingDown) port.log("error", "accepting connections failed", { error: firstLine(err) });
      return;
    }
    if (!incoming || shuttingDown) return; // null once the endpoint is closed
    track(serveConnection(incoming));
  }
}

async function serveConnection(incoming: Incoming): Promise<void> {
  let conn: Connection;
  try {
    conn = await (await incoming.accept()).connect();
  } catch (err) {
    port.log("debug", "incoming connection failed its handshake", { error: firstLine(err) });
    return;
  }
  counters.connectionAccepted();
  liveConnections.add(conn);
  conn.setMaxConcurrentBiStreams(MAX_STREAMS_PER_CONNECTION);
  try {
    for (;;) {
      const bi = await conn.acceptBi(); // rejects once the connection is closed
      const stream = new IrohByteStream(bi.send, bi.recv);
      idleTrim.begin();
      track(
        serveProxyStream(stream, upstream)
          .catch((err: unknown) => {
            port.log("debug", "stream ended with an error", { error: firstLine(err) });
          })
          .finally(() => idleTrim.end()),
      );
    }
  } catch (err) {
    if (!shuttingDown) port.log("debug", "connection closed", { reason: firstLine(err) });
  } finally {
    liveConnections.delete(conn);
    counters.connectionCompleted();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stop accepting, close the endpoint, end origin connections, then let every task holding an iroh
 * call settle (≤ WORKER_SETTLE_MS): exiting with NAPI calls in flight either leaks the endpoint's
 * sockets or crashes Bun when those calls complete into the vanished thread (iroh-js defect 4,
 * docs/architecture.md#iroh-js-constraints).
 */
async function closeEverything(): Promise<void> {
  shuttingDown = true;
  clearInterval(pollTimer);
  idleTrim.stop();
  if (endpoint) {
    // Bounded: whatever `close` still waits for, the remaining budget goes to settling.
    await Promise.race([endpoint.close(), sleep(WORKER_CLOSE_MS - WORKER_SETTLE_MS)]);
  }
  for (const socket of originSockets) socket.destroy();
  // Settling adds work: a stream task that ends calls `abort()`, whose iroh calls join
  // `pendingAborts` after any snapshot taken here. So wait again until both sets are empty.
  const deadline = performance.now() + WORKER_SETTLE_MS;
  for (let left = WORKER_SETTLE_MS; inflight.size + pendingAborts.size > 0 && left > 0; left = deadline - performance.now()) {
    await Promise.race([Promise.allSettled([...inflight, ...pendingAborts]), sleep(left)]);
  }
}

async function shutdown(): Promise<void> {
  if (shuttingDown) return;
  await closeEverything();
  port.post({ type: "stopped" });
  process.exit(0);
}

port.ready();
