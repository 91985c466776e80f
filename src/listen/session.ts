/**
 * One `tunnel listen` from start to teardown (docs/architecture.md#listen-flow): a `ListenAgent`
 * (lock, login, the ListenNode, the heartbeat, the wait for a relay) serving one tunnel, found,
 * created or updated here from the flags, through a `ServiceRun` (enable → setup → verify → ready
 * → watch). A group (docs/groups.md) is the same agent serving many `ServiceRun`s.
 *
 * The main thread owns the token source and the control plane; workers own the data plane, the
 * heartbeat and the probes, and talk to us only in typed messages (workers/messages.ts).
 */
import { Rejected, UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { liveIdentitiesBeside } from "../state/live-identities.ts";
import { passedOverLine } from "../tunnel/adoption.ts";
import { trimAfterStart } from "../supervise/heap-trim.ts";
import { normalizeEndpoint, validateEndpoint } from "../tunnel/endpoint.ts";
import type { DeviceAddress, TunnelService, TunnelSummary } from "../tunnel/service.ts";
import { SetupAborted, TerminalFailure } from "./await-setup.ts";
import type { ListenEvent, ListenSink } from "./events.ts";
import type { LiveFigures } from "./run-recorder.ts";
import type { WatchdogCheck } from "../service/watchdog.ts";
import { ListenAgent, type AgentDeps } from "./agent.ts";
import { ServiceRun } from "./service-run.ts";

export interface ListenRequest {
  readonly endpoint?: string | undefined;
  readonly id?: string | undefined;
  /** An explicit `--label`: the only thing that may change an existing tunnel's label. */
  readonly label?: string | undefined;
  /** The label a tunnel gets if this run creates it (a named tunnel's `tunnel.yaml`); never applied to an existing one. */
  readonly createLabel?: string | undefined;
  /** Accept label changes without asking. */
  readonly yes: boolean;
  /** Ask the user a yes/no question (only on a terminal); undefined = not interactive. */
  readonly confirm?: ((question: string) => Promise<boolean>) | undefined;
}

/** An agent's dependencies (agent.ts), the control plane's tunnel service, and where the events go. */
export interface ListenDeps extends Omit<AgentDeps, "emit"> {
  readonly service: TunnelService;
  /** Where everything this listen reports goes: one event stream (events.ts). */
  readonly events: ListenSink;
}

/** Pure: which tunnel to use, given the flags and what the project has (docs/adoption.md). */
export function checkListenFlags(req: Pick<ListenRequest, "endpoint" | "id">): void {
  if (!req.endpoint && !req.id) {
    throw new UsageError("--endpoint or --id is required", "e.g. tunnel listen --endpoint 127.0.0.1:3000");
  }
  if (req.endpoint !== undefined) validateEndpoint(req.endpoint);
}

export class ListenSession {
  readonly #d: ListenDeps;
  readonly #req: ListenRequest;
  readonly #agent: ListenAgent;
  #run: ServiceRun | undefined;

  constructor(deps: ListenDeps, request: ListenRequest) {
    this.#d = deps;
    this.#req = request;
    this.#agent = new ListenAgent({ ...deps, emit: (event) => this.#emit(event) });
  }

  #emit(event: ListenEvent): void {
    this.#d.events.on(event);
  }

  get tunnel(): TunnelSummary | undefined {
    return this.#run?.tunnel;
  }

  /** The session's live figures for `run.json`, `status` and `/metrics` (see RunRecorder). */
  liveFigures(): Promise<LiveFigures> {
    return this.#agent.liveFigures();
  }

  /** Whether the service watchdog gets its ping: while setting up, or while the ListenNode worker answers (src/service/watchdog.ts). */
  dataPlaneHealth(): Promise<WatchdogCheck> {
    return this.#agent.dataPlaneHealth();
  }

  /** Run until the signal; resolves with the exit code after teardown. */
  async run(): Promise<number> {
    const d = this.#d;
    try {
      await this.#agent.start();
      const { tunnel, kind } = await this.#resolveTunnel(this.#agent.details());
      const run = new ServiceRun({ agent: this.#agent, service: d.service, emit: (e) => this.#emit(e), slotDir: d.slotDir, env: d.env, signal: d.signal, keepServing: false }, tunnel);
      this.#run = run;
      await run.start(kind);
      trimAfterStart(); // the main thread's heap, past setup and verification (heap-trim.ts)
      if (d.signal.aborted) return await this.#tearDown(0);
      const code = await run.watch();
      return await this.#tearDown(code);
    } catch (err) {
      if (err instanceof SetupAborted || (d.signal.aborted && !(err instanceof TerminalFailure))) return await this.#tearDown(0);
      await this.#tearDown(0, true).catch(() => undefined);
      throw err;
    }
  }

  /** Find by endpoint or create; or use `--id` (which must exist and agree with `--endpoint`). */
  async #resolveTunnel(details: DeviceAddress): Promise<{ tunnel: TunnelSummary; kind: "created" | "found" | "updated" }> {
    const { service, project } = this.#d;
    const req = this.#req;
    let existing: TunnelSummary | undefined;
    if (req.id) {
      existing = await service.get(req.id);
      if (!existing) throw new Rejected(`Tunnel '${req.id}' not found in project ${project}`, "run 'tunnel list' to see this project's tunnels", "not_found");
      if (req.endpoint !== undefined && normalizeEndpoint(req.endpoint) !== existing.endpoint) {
        throw new UsageError(
          `--id '${req.id}' references endpoint '${existing.endpoint}' but --endpoint was '${normalizeEndpoint(req.endpoint)}' — they must agree (or omit --endpoint to inherit from the tunnel)`,
        );
      }
    } else if (req.endpoint !== undefined) {
      const decision = await service.findAdoptable(req.endpoint, await liveIdentitiesBeside(this.#d.slotDir, this.#d.env));
      if (decision.kind === "adopt") existing = decision.tunnel;
      else {
        const line = passedOverLine(normalizeEndpoint(req.endpoint), decision.passedOver);
        if (line) this.#emit({ type: "notice", line });
      }
    }
    if (!existing) {
      const endpoint = normalizeEndpoint(req.endpoint as string);
      const tunnel = await service.create({ label: req.label ?? req.createLabel ?? (req.endpoint as string).trim(), endpoint, details });
      return { tunnel, kind: "created" };
    }
    if (req.label === undefined || req.label === existing.label) return { tunnel: existing, kind: "found" };
    const question = `Update tunnel label to '${req.label}'? [y/N] `;
    if (!req.yes) {
      if (!req.confirm) {
        log.warn(`tunnel ${existing.id} keeps its label '${existing.label}'; pass --yes to change it to '${req.label}'`);
        return { tunnel: existing, kind: "found" };
      }
      if (!(await req.confirm(question))) return { tunnel: existing, kind: "found" };
    }
    return { tunnel: await service.update(existing.id, { label: req.label }), kind: "updated" };
  }

  /** Disable the advertisement (unless the tunnel is gone), stop workers, release the slot. */
  async #tearDown(code: number, quiet = false): Promise<number> {
    this.#emit({ type: "closing" });
    if (this.#run) {
      if (!quiet) this.#emit({ type: "disabling" });
      await this.#run.withdraw(quiet);
    }
    await this.#agent.stop();
    return code;
  }
}
