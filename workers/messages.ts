/**
 * Every main ↔ worker message, as valibot schemas (docs/architecture.md#threads).
 *
 * One `v.variant("type", …)` per direction per worker, built from `strictObject` branches so a
 * field added on one side and not the other fails validation (and the tests) instead of being
 * silently dropped. Schema and type share a name. Both sides validate what they receive; an
 * invalid message is logged and dropped, never a crash.
 *
 * Lifecycle branches are shared by every worker: `ready` (the handshake, carrying `PROTOCOL`),
 * `log` (workers never print), `fatal` (posted from the worker's uncaught-error handlers),
 * `error` (a request that carried an `id` failed), `stopped`, and `shutdown`. Requests that
 * expect a reply carry a numeric `id`, and the reply repeats it. A new worker adds its own
 * `To…`/`From…` pair from these pieces; a new message is one more branch.
 */
import * as v from "valibot";

/** Bumped on any incompatible change; a worker from another build fails the handshake. */
export const PROTOCOL = 1;

const RequestId = v.pipe(v.number(), v.integer(), v.minValue(0));
const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const BindPort = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const Count = v.pipe(v.number(), v.minValue(0));

/**
 * The HTTP proxy settings a worker's requests use (src/net/proxy.ts). Workers start with a minimal
 * environment, so main hands them over as a message field; a proxy URL may carry credentials, and
 * a message is never logged.
 */
const ProxySettings = v.strictObject({ httpsProxy: v.nullable(v.string()), httpProxy: v.nullable(v.string()), noProxy: v.nullable(v.string()) });

// ---- lifecycle, shared by every worker ------------------------------------------------------

export const Ready = v.strictObject({ type: v.literal("ready"), protocol: v.pipe(v.number(), v.integer()) });
export type Ready = v.InferOutput<typeof Ready>;

export const LogLevel = v.picklist(["debug", "info", "warn", "error"]);
export type LogLevel = v.InferOutput<typeof LogLevel>;

export const LogFields = v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]));
export type LogFields = v.InferOutput<typeof LogFields>;

export const Log = v.strictObject({
  type: v.literal("log"),
  level: LogLevel,
  msg: v.string(),
  fields: v.optional(LogFields),
});
export type Log = v.InferOutput<typeof Log>;

export const Fatal = v.strictObject({ type: v.literal("fatal"), message: v.string() });
export type Fatal = v.InferOutput<typeof Fatal>;

/** The request with this `id` failed; the supervisor rejects the caller's promise with `message`. */
export const RequestFailed = v.strictObject({ type: v.literal("error"), id: RequestId, message: v.string() });
export type RequestFailed = v.InferOutput<typeof RequestFailed>;

export const Stopped = v.strictObject({ type: v.literal("stopped") });
export type Stopped = v.InferOutput<typeof Stopped>;

export const Shutdown = v.strictObject({ type: v.literal("shutdown") });
export type Shutdown = v.InferOutput<typeof Shutdown>;

/** Messages the supervisor itself understands, whatever the worker. */
export const Lifecycle = v.variant("type", [Ready, Log, Fatal, RequestFailed, Stopped]);
export type Lifecycle = v.InferOutput<typeof Lifecycle>;

// ---- ListenNode (workers/listen-node.ts) ------------------------------------------------------

/** 32 raw secret-key bytes (the `listen_key` file, docs/wire-facts.md#identity-and-alpn), as a byte array or standard base64. */
export const SecretKeyBytes = v.union([
  v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255))), v.length(32)),
  v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9+/]{43}=$/, "expected the base64 of 32 bytes"),
  ),
]);
export type SecretKeyBytes = v.InferOutput<typeof SecretKeyBytes>;

export const AllowListEntry = v.strictObject({
  id: v.string(),
  host: v.pipe(v.string(), v.minLength(1)),
  port: Port,
  enabled: v.boolean(),
});
export type AllowListEntry = v.InferOutput<typeof AllowListEntry>;

export const DirectAddress = v.strictObject({ address: v.string(), port: Port });
export type DirectAddress = v.InferOutput<typeof DirectAddress>;

export const TargetCounters = v.strictObject({
  accepted: Count,
  denied: Count,
  completed: Count,
  failed: Count,
  bytesToOrigin: Count,
  bytesFromOrigin: Count,
  active: v.number(),
});
export type TargetCounters = v.InferOutput<typeof TargetCounters>;

export const ToListenNode = v.variant("type", [
  v.strictObject({
    type: v.literal("start"),
    id: RequestId,
    secretKey: SecretKeyBytes,
    /** The UDP port bound last time, so a restart keeps its addresses (docs/architecture.md#local-state); 0 or absent = any. */
    bindPort: v.optional(BindPort),
    /** Relay URLs; empty means relays disabled. */
    relayUrls: v.array(v.pipe(v.string(), v.url())),
    allowList: v.array(AllowListEntry),
  }),
  /** Replace the whole allow-list at once (docs/wire-facts.md#allow-list: updated atomically with the file). */
  v.strictObject({ type: v.literal("allowlist"), entries: v.array(AllowListEntry) }),
  v.strictObject({ type: v.literal("stats"), id: RequestId }),
  Shutdown,
]);
export type ToListenNode = v.InferOutput<typeof ToListenNode>;

const EndpointFields = {
  addresses: v.array(DirectAddress),
  homeRelay: v.nullable(v.string()),
};

export const FromListenNode = v.variant("type", [
  Ready,
  v.strictObject({
    type: v.literal("started"),
    id: RequestId,
    endpointId: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
    boundPort: BindPort,
    ...EndpointFields,
  }),
  /** Posted when the polled address or home relay changed (watchers abort the process, defect 1). */
  v.strictObject({ type: v.literal("endpoint"), ...EndpointFields }),
  v.strictObject({
    type: v.literal("stats"),
    id: RequestId,
    counters: v.record(v.string(), TargetCounters),
    connectionsAccepted: Count,
    connectionsCompleted: Count,
    /** Live connections by the kind of their selected path (src/dataplane/path-kind.ts). */
    paths: v.strictObject({ direct: Count, relay: Count, none: Count }),
  }),
  Log,
  Fatal,
  RequestFailed,
  Stopped,
]);
export type FromListenNode = v.InferOutput<typeof FromListenNode>;

// ---- Heartbeat (workers/heartbeat.ts) ---------------------------------------------------------

/**
 * A bearer token and its sequence number. Tokens travel main → heartbeat only as messages (never
 * workerData, env or argv); `unauthorized` names the sequence number the server rejected, so main
 * refreshes once per rejected token however many requests hit the 401.
 */
const TokenFields = { token: v.pipe(v.string(), v.minLength(1)), seq: v.pipe(v.number(), v.integer(), v.minValue(0)) };

const EndpointIdHex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));

export const ToHeartbeat = v.variant("type", [
  v.strictObject({
    type: v.literal("start"),
    /** API base URL and the one project this process serves (docs/wire-facts.md#heartbeat: no auto-enroll). */
    apiBase: v.pipe(v.string(), v.url()),
    project: v.pipe(v.string(), v.minLength(1)),
    userAgent: v.string(),
    endpointId: EndpointIdHex,
    ...EndpointFields,
    /** The local Datum's declared placeholder relay, published while iroh reports none (docs/relays.md). */
    placeholderRelay: v.nullable(v.string()),
    /** Absent: no proxy. */
    proxy: v.optional(ProxySettings),
    ...TokenFields,
  }),
  v.strictObject({ type: v.literal("token"), ...TokenFields }),
  v.strictObject({ type: v.literal("endpoint"), ...EndpointFields }),
  /** Publish the connection details again now and stop waiting (the Connector exists, setup ended, a probe failed). */
  v.strictObject({
    type: v.literal("resync"),
    /** The Connector setup made or found, by name: one without connection details cannot be found by endpoint id. */
    connector: v.optional(v.string()),
  }),
  Shutdown,
]);
export type ToHeartbeat = v.InferOutput<typeof ToHeartbeat>;

const At = v.pipe(v.number(), v.minValue(0));

export const FromHeartbeat = v.variant("type", [
  Ready,
  v.strictObject({ type: v.literal("unauthorized"), seq: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
  v.strictObject({ type: v.literal("resolved"), connector: v.string(), lease: v.nullable(v.string()) }),
  v.strictObject({ type: v.literal("patched"), at: At }),
  v.strictObject({ type: v.literal("renewed"), at: At, leaseDurationS: v.number() }),
  v.strictObject({ type: v.literal("lease_lapsed"), at: At, sinceMs: v.number() }),
  v.strictObject({
    type: v.literal("heartbeat_failed"),
    at: At,
    step: v.string(),
    message: v.string(),
    attempt: v.number(),
    retryInMs: v.number(),
  }),
  Log,
  Fatal,
  RequestFailed,
  Stopped,
]);
export type FromHeartbeat = v.InferOutput<typeof FromHeartbeat>;

// ---- Verifier (workers/verifier.ts) -----------------------------------------------------------

export const ProbeTarget = v.picklist(["origin", "public"]);
export type ProbeTarget = v.InferOutput<typeof ProbeTarget>;

const ProbeSummary = v.strictObject({
  url: v.string(),
  up: v.boolean(),
  status: v.nullable(v.number()),
  error: v.nullable(v.string()),
  elapsedMs: v.number(),
  viaFallback: v.boolean(),
});
export type ProbeSummary = v.InferOutput<typeof ProbeSummary>;

export const ToVerifier = v.variant("type", [
  v.strictObject({
    type: v.literal("verify"),
    id: RequestId,
    /** Best effort: a down origin is a warning, not a failure (docs/wire-facts.md#verify). */
    originUrl: v.nullable(v.string()),
    originBudgetMs: v.pipe(v.number(), v.minValue(0)),
    publicUrl: v.string(),
    publicBudgetMs: v.pipe(v.number(), v.minValue(0)),
    /** For the public URL; the origin is probed directly, as the data plane dials it. Absent: no proxy. */
    proxy: v.optional(ProxySettings),
  }),
  v.strictObject({ type: v.literal("cancel"), id: RequestId }),
  Shutdown,
]);
export type ToVerifier = v.InferOutput<typeof ToVerifier>;

export const FromVerifier = v.variant("type", [
  Ready,
  v.strictObject({
    type: v.literal("attempt"),
    id: RequestId,
    target: ProbeTarget,
    url: v.string(),
    elapsedMs: v.number(),
    status: v.nullable(v.number()),
    error: v.nullable(v.string()),
  }),
  v.strictObject({ type: v.literal("probed"), id: RequestId, target: ProbeTarget, result: ProbeSummary }),
  v.strictObject({ type: v.literal("verified"), id: RequestId, origin: v.nullable(ProbeSummary), public: ProbeSummary }),
  Log,
  Fatal,
  RequestFailed,
  Stopped,
]);
export type FromVerifier = v.InferOutput<typeof FromVerifier>;
