/**
 * Every time budget of worker supervision, in one place (docs/architecture.md#supervision).
 *
 * Shutdown budgets nest, innermost first, and each must exceed the one inside it or the outer
 * layer cuts the inner one short and the iroh endpoint leaks its sockets (iroh-js constraint 4,
 * docs/architecture.md#iroh-js-constraints):
 *
 *   WORKER_SETTLE_MS          in the worker: pending streams get this long after `ep.close()`
 *   < WORKER_CLOSE_MS         in the worker: `ep.close()` + settle + posting `stopped`; also the
 *                             bound on the fatal-error cleanup before a crashing worker exits
 *   < WORKER_STOP_BUDGET_MS   in main: from `shutdown` sent to `terminate()` as a last resort
 *
 * On the first SIGINT/SIGTERM the listen tears down one step after the other
 * (docs/architecture.md#shutdown): the control-plane goodbye first (the advertisement is deleted),
 * then the heartbeat worker is stopped, then the ListenNode, each within WORKER_STOP_BUDGET_MS.
 * PROCESS_DRAIN_BUDGET_MS is not used by any code: no process-wide drain deadline is enforced
 * (a second signal exits at once, and `tunnel stop` allows 30 s before SIGKILL).
 *
 * Restart budgets: a worker that dies is respawned after a jittered, exponentially growing delay
 * (RESTART_BASE_MS doubling up to RESTART_CAP_MS) that goes back to the base once a worker has
 * stayed up for HEALTHY_GRACE_MS (cloudflared's grace period). BOOTSTRAP_DEATH_LIMIT deaths in a
 * row before `ready` mean the worker cannot start at all (a missing native module, a wrong path):
 * respawning cannot help, so the supervisor stops and reports it. READY_TIMEOUT_MS bounds the
 * handshake; the first iroh bind in a process takes 12–25 ms, module loading a few hundred.
 */

export const WORKER_SETTLE_MS = 500;
/**
 * `ep.close()` gets WORKER_CLOSE_MS - WORKER_SETTLE_MS = 2 s. Measured: with a relay configured
 * and any interface besides loopback (every real machine; a test host's veth pair), close takes
 * iroh's own 1 s timeout when the relay is unreachable. A budget of exactly 1 s lost that race at
 * random, and a worker that exits with `close` still in flight aborts the whole process (a Rust
 * panic in a destructor): exit 134 after "Tunnel disabled.".
 */
export const WORKER_CLOSE_MS = 2_500;
export const WORKER_STOP_BUDGET_MS = 4_000;
export const PROCESS_DRAIN_BUDGET_MS = 10_000;

/** After `terminate()`, how long to wait for the `close` event before giving up on it. */
export const TERMINATE_WAIT_MS = 1_000;

export const READY_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 10_000;

export const RESTART_BASE_MS = 500;
export const RESTART_CAP_MS = 30_000;
export const HEALTHY_GRACE_MS = 60_000;
export const BOOTSTRAP_DEATH_LIMIT = 3;

/**
 * How long a peer may take, from the moment the ListenNode accepts a stream, to deliver the whole
 * request header section (≤ 8192 bytes). A slow dribble or a stalled partial head is cut off after
 * this (the stream is reset and counted under `(header timeout)`), so it cannot hold a stream, a
 * task and its buffer forever. Tests shorten it by passing `HEADER_TIMEOUT_ENV` in the worker's
 * env (`ListenNodeOptions.env`); main never forwards its own DATUM_* variables to a worker.
 */
export const HEADER_READ_TIMEOUT_MS = 10_000;
export const HEADER_TIMEOUT_ENV = "DATUM_CONNECT_HEADER_TIMEOUT_MS";

/**
 * How often the ListenNode worker polls its address and home relay (watchers abort, defect 1). A
 * machine that moves is published within this (BENCHMARKS.md "When the network changes": 2 s gave
 * serving again after ≤ 3.0 s, 1 s ≤ 2 s; each poll is `addr()` and the interface table).
 */
export const ENDPOINT_POLL_MS = 1_000;
/**
 * Until iroh first reports a home relay (at most `FIRST_RELAY_WAIT_MS`), it is polled this often:
 * the listen waits for that relay before publishing (docs/relays.md), and a 2 s poll made every
 * start with a relay up to 2 s slower.
 */
export const FIRST_RELAY_POLL_MS = 100;
export const FIRST_RELAY_WAIT_MS = 10_000;

export interface SupervisorBudgets {
  readyTimeoutMs: number;
  requestTimeoutMs: number;
  stopBudgetMs: number;
  terminateWaitMs: number;
  restartBaseMs: number;
  restartCapMs: number;
  healthyGraceMs: number;
  bootstrapDeathLimit: number;
}

export const DEFAULT_BUDGETS: SupervisorBudgets = {
  readyTimeoutMs: READY_TIMEOUT_MS,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  stopBudgetMs: WORKER_STOP_BUDGET_MS,
  terminateWaitMs: TERMINATE_WAIT_MS,
  restartBaseMs: RESTART_BASE_MS,
  restartCapMs: RESTART_CAP_MS,
  healthyGraceMs: HEALTHY_GRACE_MS,
  bootstrapDeathLimit: BOOTSTRAP_DEATH_LIMIT,
};
