/**
 * Everything a listen reports, as one union of events (docs/architecture.md#listen-events). The
 * session emits them; the sinks subscribe: the run recorder (`run.json`, from which `ps`, `status`,
 * `/readyz` and `/metrics` read), the terminal view, the plain lines, the JSON events and the
 * service manager's notifications. Adding an event is one case here and one in each sink that
 * cares, and the compiler finds every `switch` that forgot it.
 */
import type { ProbeSummary, ProbeTarget } from "../../workers/messages.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import type { TunnelSummary } from "../tunnel/service.ts";
import type { Readiness } from "./readiness.ts";

export type Resolution = "created" | "found" | "updated";
/** How a tunnel stopped being served on its own; `start_failed`: a group's service that could not start (its message says why). */
export type RuntimeEnd = "terminal_failure" | "deleted_upstream" | "start_failed";

/** One runtime-watch poll of the tunnel's objects: what it read, or why it failed. */
export type WatchPoll =
  | { readonly ok: true; readonly progress: TunnelProgress }
  | { readonly ok: false; readonly message: string };

/** The public URL re-verified after `after` (an event that can break the path): up, or why not. */
export interface PathCheck {
  readonly ok: boolean;
  readonly after: string;
  readonly reason: string | null;
}

/** One service of a group as the group reports it (docs/groups.md). */
export interface GroupMember {
  readonly name: string;
  readonly endpoint: string;
  readonly label: string;
}

/** Where a service of a group stands once setup has settled: verified, or why not. */
export interface ServiceOutcome {
  readonly name: string;
  readonly ready: boolean;
  readonly urls: readonly string[];
  readonly reason: string;
}

/** What a reload changed, by service name (docs/groups.md#reload). */
export interface ReloadSummary {
  readonly source: string;
  readonly added: readonly string[];
  /** Removed from the file: disabled, kept in Datum. */
  readonly removed: readonly string[];
  /** Removed from the file with --prune: deleted from Datum. */
  readonly deleted: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
}

type EventBody =
  | { readonly type: "endpoint_id"; readonly endpointId: string }
  | { readonly type: "tunnel"; readonly kind: Resolution; readonly tunnel: TunnelSummary }
  | { readonly type: "setting_up" }
  | { readonly type: "progress"; readonly progress: TunnelProgress; readonly elapsedMs: number }
  | { readonly type: "poll_failed"; readonly message: string; readonly consecutive: number }
  | { readonly type: "verifying" }
  | {
      readonly type: "probe_attempt";
      readonly target: ProbeTarget;
      readonly url: string;
      readonly elapsedMs: number;
      readonly status: number | null;
      readonly error: string | null;
    }
  | { readonly type: "probed"; readonly target: ProbeTarget; readonly result: ProbeSummary }
  | {
      readonly type: "ready";
      readonly tunnel: TunnelSummary;
      readonly urls: readonly string[];
      readonly endpointId: string;
      readonly elapsedMs: number;
    }
  /** A runtime warning or note (login lost, heartbeat trouble, a tunnel passed over). */
  | { readonly type: "notice"; readonly line: string }
  | { readonly type: "ended"; readonly kind: RuntimeEnd; readonly id: string; readonly message: string }
  /** After ready: readiness was lost (`degraded`) or came back, as the run recorder decided it. */
  | { readonly type: "readiness_changed"; readonly id: string; readonly readiness: Readiness }
  | { readonly type: "disabling" }
  | { readonly type: "disabled"; readonly id: string }
  /** The tunnel could not be disabled on the way out; `exit` is the failure's class (69, 77, ...). */
  | { readonly type: "disable_failed"; readonly id: string; readonly message: string; readonly exit?: number | undefined }
  /** A runtime-watch poll (recorded in `run.json`; nothing to show). */
  | { readonly type: "watched"; readonly poll: WatchPoll }
  /** The public URL re-verified after a path-breaking event (recorded; shown through readiness). */
  | { readonly type: "path_checked"; readonly check: PathCheck }
  /** The session is tearing down: views stop drawing. */
  | { readonly type: "closing" }
  // ---- a group's own events (never tagged with a service) ----
  /** The group's services as they are now: at start and after every reload. */
  | { readonly type: "group"; readonly name: string; readonly members: readonly GroupMember[] }
  /** Every service has been verified or has a reason why not: the group's first "ready". */
  | { readonly type: "settled"; readonly services: readonly ServiceOutcome[] }
  /** A reload converged the group to its file. */
  | { readonly type: "reloaded"; readonly summary: ReloadSummary }
  /** A reload was refused whole (bad file): nothing changed, everything keeps serving. */
  | { readonly type: "reload_rejected"; readonly source: string; readonly message: string };

/**
 * Everything a listen reports. In a group (docs/groups.md) an event about one service carries
 * its name in `service`; a single tunnel's events and the group's own carry none.
 */
export type ListenEvent = EventBody & { readonly service?: string | undefined };

export type ListenEventType = ListenEvent["type"];

/** Something that hears listen events. */
export interface ListenSink {
  on(event: ListenEvent): void;
}

/**
 * The one path from the session to its sinks. The run recorder hears each event first and says
 * when it has recorded it; the other sinks hear it after that, in order. So everything after
 * `ready` waits for `run.json` to say ready: the ready line, READY=1 to a service manager and the
 * file a `--detach` parent or `ps` reads never disagree.
 */
export class ListenEventBus implements ListenSink {
  readonly #record: (event: ListenEvent) => Promise<void> | undefined;
  readonly #sinks: readonly ListenSink[];
  #chain: Promise<void> = Promise.resolve();

  constructor(record: (event: ListenEvent) => Promise<void> | undefined, sinks: readonly ListenSink[]) {
    this.#record = record;
    this.#sinks = sinks;
  }

  on(event: ListenEvent): void {
    const recorded = this.#record(event);
    this.#chain = this.#chain
      .then(() => recorded)
      .then(() => {
        for (const sink of this.#sinks) {
          try {
            sink.on(event);
          } catch {
            // A sink that throws (a closed terminal) must not keep the others from hearing.
          }
        }
      })
      .catch(() => undefined);
  }

  /** Every event emitted so far has reached every sink. */
  drained(): Promise<void> {
    return this.#chain;
  }
}
