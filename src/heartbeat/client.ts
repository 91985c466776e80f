/**
 * The heartbeat worker's main-thread face (docs/architecture.md#threads): it starts the worker
 * with the project, the endpoint and a token, hands it every newer token (on each refresh of the
 * token source, and once per rejected token after a 401), starts it again the same way when the
 * supervisor respawns it, and passes the data plane's address changes and resync requests on.
 * The token and its sequence number live here and nowhere else on the main thread.
 */
import type { FromHeartbeat, ToHeartbeat } from "../../workers/messages.ts";
import { FromHeartbeat as FromHeartbeatSchema } from "../../workers/messages.ts";
import type { TokenSource } from "../auth/token-source.ts";
import { userAgent } from "../controlplane/user-agent.ts";
import type { ProxySettings } from "../net/proxy.ts";
import { WorkerSupervisor, type SupervisorLog, type SupervisorStatus } from "../supervise/worker.ts";

/** What the heartbeat reports that the session keeps (401s are handled here). */
export type HeartbeatReport = Exclude<FromHeartbeat, { type: "unauthorized" | "ready" | "log" | "fatal" | "error" | "stopped" }>;

export interface HeartbeatClientOptions {
  readonly apiBase: string;
  readonly project: string;
  readonly endpointId: string;
  /** The data plane's addresses and home relay as they are now (read at every (re)start). */
  readonly endpoint: () => { readonly addresses: readonly { address: string; port: number }[]; readonly homeRelay: string | null };
  /** The local Datum's declared placeholder relay, or null (docs/relays.md). */
  readonly placeholderRelay: string | null;
  readonly proxy: ProxySettings;
  readonly tokens: Pick<TokenSource, "token" | "invalidate" | "subscribe">;
  readonly log: SupervisorLog;
  readonly onReport: (report: HeartbeatReport) => void;
  /** The worker died and was started again (a path-breaking event for the session). */
  readonly onRespawn?: () => void;
}

export class HeartbeatClient {
  readonly #o: HeartbeatClientOptions;
  #worker: WorkerSupervisor<ToHeartbeat, FromHeartbeat> | undefined;
  #token: string | undefined;
  #seq = 0;
  #unsubscribe: (() => void) | undefined;

  constructor(options: HeartbeatClientOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const o = this.#o;
    this.#token = await o.tokens.token();
    const worker = new WorkerSupervisor<ToHeartbeat, FromHeartbeat>({
      name: "heartbeat",
      schema: FromHeartbeatSchema,
      log: o.log,
      onMessage: (msg) => this.#onMessage(msg),
      onRespawn: () => {
        worker.post(this.#startMessage());
        o.onRespawn?.();
      },
    });
    this.#worker = worker;
    await worker.start();
    worker.post(this.#startMessage());
    worker.markRunning();
    // A refreshed token reaches the worker at once, not at some later poll.
    this.#unsubscribe = o.tokens.subscribe((event) => {
      if (event.type === "refreshed") void this.#pushTokenIfChanged();
    });
  }

  /** The data plane's addresses or home relay changed. */
  endpointChanged(addresses: readonly { address: string; port: number }[], homeRelay: string | null): void {
    this.#worker?.post({ type: "endpoint", addresses: [...addresses], homeRelay });
  }

  /** Publish the connection details again now (optionally naming the Connector setup made or found). */
  resync(connector?: string): void {
    this.#worker?.post({ type: "resync", ...(connector ? { connector } : {}) });
  }

  status(): SupervisorStatus | undefined {
    return this.#worker?.status();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#worker?.stop();
  }

  #startMessage(): ToHeartbeat {
    const o = this.#o;
    const ep = o.endpoint();
    return {
      type: "start",
      apiBase: o.apiBase,
      project: o.project,
      userAgent: userAgent(),
      endpointId: o.endpointId,
      addresses: [...ep.addresses],
      homeRelay: ep.homeRelay,
      placeholderRelay: o.placeholderRelay,
      proxy: { ...o.proxy },
      token: this.#token as string,
      seq: this.#seq,
    };
  }

  #onMessage(msg: FromHeartbeat): void {
    if (msg.type === "unauthorized") {
      void this.#refreshFor(msg.seq);
      return;
    }
    if (msg.type === "ready" || msg.type === "log" || msg.type === "fatal" || msg.type === "error" || msg.type === "stopped") return;
    this.#o.onReport(msg);
  }

  /**
   * A 401 for token `seq`: refresh once per rejected token, then hand the new one over. When the
   * refresh fails, the worker still gets an answer (the token it has), so its request fails now and
   * the heartbeat backs off and reports it, rather than waiting a minute for a token that is not
   * coming. The failure itself is logged once by the token source.
   */
  async #refreshFor(seq: number): Promise<void> {
    try {
      if (seq === this.#seq && this.#token) {
        const fresh = await this.#o.tokens.invalidate(this.#token);
        if (fresh !== this.#token) {
          this.#token = fresh;
          this.#seq++;
        }
      }
    } catch {
      // Recorded and logged by the token source; `status` shows it with its remedy.
    }
    this.#worker?.post({ type: "token", token: this.#token as string, seq: this.#seq });
  }

  async #pushTokenIfChanged(): Promise<void> {
    const token = await this.#o.tokens.token().catch(() => undefined);
    if (token && token !== this.#token) {
      this.#token = token;
      this.#seq++;
      this.#worker?.post({ type: "token", token, seq: this.#seq });
    }
  }
}
