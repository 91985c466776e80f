/**
 * A group from start to teardown (docs/groups.md): ONE `ListenAgent` (one lock, one iroh endpoint,
 * one heartbeat, one Connector) serving one `ServiceRun` per service of the file, side by side.
 *
 *   agent up → one Connector → every service found (services.json, then adoption), else created →
 *   each enabled, set up and verified on its own → `settled` once each is verified or degraded
 *   with its reason → watched until a signal → every advertisement withdrawn → agent down.
 *
 * A reload converges the running set to a new file (plan.ts): removed services are withdrawn
 * (deleted with `prune`), changed ones updated in place, added ones started; the others are not
 * touched at all, so no request to them fails. Reloads run one at a time.
 */
import { CliError, Rejected } from "../errors.ts";
import { log } from "../log.ts";
import { liveIdentitiesBeside } from "../state/live-identities.ts";
import { removeEntry, updateAllowList } from "../state/allowlist.ts";
import { slotFiles } from "../state/paths.ts";
import { passedOverLine } from "../tunnel/adoption.ts";
import type { TunnelService, TunnelSummary } from "../tunnel/service.ts";
import { trimAfterStart } from "../supervise/heap-trim.ts";
import type { WatchdogCheck } from "../service/watchdog.ts";
import { ListenAgent } from "../listen/agent.ts";
import { SetupAborted } from "../listen/await-setup.ts";
import type { ListenEvent, ListenSink, ReloadSummary, Resolution, ServiceOutcome } from "../listen/events.ts";
import type { LiveFigures } from "../listen/run-recorder.ts";
import { ServiceRun } from "../listen/service-run.ts";
import type { ListenDeps } from "../listen/session.ts";
import type { GroupFile, GroupService } from "./config.ts";
import { planReload } from "./plan.ts";
import { readServiceIds, updateServiceIds } from "./service-ids.ts";

export interface GroupDeps extends Omit<ListenDeps, "events"> {
  readonly group: GroupFile;
  /** `services.json` of the group (service-ids.ts). */
  readonly servicesPath: string;
  /** Where everything the group reports goes (events.ts): tagged with the service's name when about one. */
  readonly events: ListenSink;
  /** At start, delete the tunnels of services the file no longer has (recorded in services.json) instead of leaving them disabled. */
  readonly prune?: boolean;
}

export type ReloadResult =
  | { readonly ok: true; readonly summary: ReloadSummary }
  | { readonly ok: false; readonly message: string; readonly hint?: string | undefined };

/** One service as the group runs it. */
interface Member {
  spec: GroupService;
  readonly controller: AbortController;
  run: ServiceRun | undefined;
  /** Setup, then the watch: resolves with the service's end (0 stopped, 64 ended upstream). */
  done: Promise<number>;
  /** Verified or degraded with its reason (or failed to start). */
  settled: Promise<ServiceOutcome>;
}

export class GroupSession {
  readonly #d: GroupDeps;
  readonly #agent: ListenAgent;
  readonly #members = new Map<string, Member>();
  #group: GroupFile;
  #reloads: Promise<unknown> = Promise.resolve();
  /** Setup of the first set is over (reloads wait for it). */
  #started: Promise<void>;
  #markStarted!: () => void;
  /** The first failure that kept a service from starting (the process's exit if every service failed). */
  #firstFailure: unknown;
  readonly #failedToStart = new Set<string>();
  #wake: (() => void) | undefined;

  constructor(deps: GroupDeps) {
    this.#d = deps;
    this.#group = deps.group;
    this.#agent = new ListenAgent({ ...deps, emit: (event) => this.#emit(event) });
    this.#started = new Promise((resolve) => (this.#markStarted = resolve));
  }

  #emit(event: ListenEvent): void {
    this.#d.events.on(event);
  }

  /** The file the group runs now (after the last accepted reload). */
  get group(): GroupFile {
    return this.#group;
  }

  liveFigures(): Promise<LiveFigures> {
    return this.#agent.liveFigures();
  }

  dataPlaneHealth(): Promise<WatchdogCheck> {
    return this.#agent.dataPlaneHealth();
  }

  #announce(): void {
    this.#emit({ type: "group", name: this.#group.name, members: this.#group.services.map((s) => ({ name: s.name, endpoint: s.endpoint, label: s.label })) });
  }

  /** Run until the signal; resolves with the exit code after teardown. */
  async run(): Promise<number> {
    const d = this.#d;
    try {
      this.#announce();
      await this.#agent.start();
      // One Connector before the services are created side by side (each would otherwise make its own).
      await d.service.ensureConnector(d.endpointId, this.#agent.details());
      if (d.prune) await this.#pruneForgotten();
      for (const spec of this.#group.services) this.#launch(spec);
      const outcomes = await Promise.all([...this.#members.values()].map((m) => m.settled));
      this.#markStarted();
      if (d.signal.aborted) return await this.#tearDown(0);
      // Not one service could start (the login cannot create tunnels, say): the group fails as a listen would.
      if (this.#failedToStart.size === this.#members.size && this.#firstFailure !== undefined) throw this.#firstFailure;
      this.#emit({ type: "settled", services: outcomes });
      trimAfterStart(); // the main thread's heap, past setup and verification (heap-trim.ts)
      return await this.#tearDown(await this.#serve());
    } catch (err) {
      this.#markStarted();
      if (err instanceof SetupAborted || d.signal.aborted) return await this.#tearDown(0);
      await this.#tearDown(0, true).catch(() => undefined);
      throw err;
    }
  }

  /** Until the signal (0), or until every service has ended upstream (64). */
  async #serve(): Promise<number> {
    const d = this.#d;
    const aborted = new Promise<void>((resolve) => {
      if (d.signal.aborted) resolve();
      d.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    for (;;) {
      if (d.signal.aborted) return 0;
      const live = [...this.#members.values()];
      // A reload changes the members: look again then.
      const changed = new Promise<void>((resolve) => (this.#wake = resolve));
      const ended = await Promise.race([Promise.all(live.map((m) => m.done)), changed.then(() => undefined), aborted.then(() => undefined)]);
      if (d.signal.aborted) return 0;
      if (ended === undefined) continue;
      if (ended.length > 0 && ended.every((code) => code === 64)) return 64;
      // Some ended because a reload removed them: wait for the reload's new set.
      await Promise.race([changed, aborted]);
    }
  }

  /** Start one service: find or create its tunnel, then set it up and watch it, on its own. */
  #launch(spec: GroupService): Member {
    const controller = new AbortController();
    const onAbort = () => controller.abort(this.#d.signal.reason);
    this.#d.signal.addEventListener("abort", onAbort, { once: true });
    let settle!: (o: ServiceOutcome) => void;
    const settled = new Promise<ServiceOutcome>((resolve) => (settle = resolve));
    const member: Member = { spec, controller, run: undefined, done: Promise.resolve(0), settled };
    const emit = (event: ListenEvent) => this.#emit({ ...event, service: spec.name });
    member.done = (async () => {
      try {
        const { tunnel, kind } = await this.#resolve(spec, emit);
        // Known before anything else can stop it: a tunnel just created is advertised, and the
        // teardown withdraws every run it has.
        const run = new ServiceRun(
          { agent: this.#agent, service: this.#d.service, emit, slotDir: this.#d.slotDir, env: this.#d.env, signal: controller.signal, keepServing: true, name: spec.name },
          tunnel,
        );
        member.run = run;
        void run.settled.then(settle);
        if (controller.signal.aborted) throw new SetupAborted("stopped before setup");
        await run.start(kind);
        if (controller.signal.aborted) return 0;
        return await run.watch();
      } catch (err) {
        if (err instanceof SetupAborted || controller.signal.aborted) {
          settle({ name: spec.name, ready: false, urls: [], reason: "stopped" });
          return 0;
        }
        const message = err instanceof Error ? err.message : String(err);
        this.#firstFailure ??= err;
        this.#failedToStart.add(spec.name);
        emit({ type: "notice", line: `error: ${message}${err instanceof CliError && err.hint ? ` (${err.hint})` : ""}` });
        emit({ type: "ended", kind: "start_failed", id: member.run?.tunnel.id ?? spec.name, message: `failed to start: ${message}` });
        settle({ name: spec.name, ready: false, urls: [], reason: `failed to start: ${message}` });
        return 64;
      } finally {
        this.#d.signal.removeEventListener("abort", onAbort);
      }
    })();
    this.#members.set(spec.name, member);
    return member;
  }

  /**
   * The service's tunnel: the one services.json records (this group's own), else one adoption
   * allows for its endpoint (docs/adoption.md), else a new one. The file is the truth: an endpoint
   * or label that differs is updated.
   */
  async #resolve(spec: GroupService, emit: (event: ListenEvent) => void): Promise<{ tunnel: TunnelSummary; kind: Resolution }> {
    const d = this.#d;
    const service: TunnelService = d.service;
    const ids = await readServiceIds(d.servicesPath);
    let existing: TunnelSummary | undefined;
    const recorded = ids[spec.name];
    if (recorded) existing = await service.get(recorded).catch((err: unknown) => (err instanceof Rejected ? undefined : Promise.reject(err)));
    if (!existing) {
      const decision = await service.findAdoptable(spec.endpoint, await liveIdentitiesBeside(d.slotDir, d.env));
      if (decision.kind === "adopt") existing = decision.tunnel;
      else {
        const line = passedOverLine(spec.endpoint, decision.passedOver);
        if (line) emit({ type: "notice", line });
      }
    }
    let result: { tunnel: TunnelSummary; kind: Resolution };
    if (!existing) {
      result = { tunnel: await service.create({ label: spec.label, endpoint: spec.endpoint, details: this.#agent.details() }), kind: "created" };
    } else if (existing.endpoint !== spec.endpoint || existing.label !== spec.label) {
      const changes = { ...(existing.endpoint !== spec.endpoint ? { endpoint: spec.endpoint } : {}), ...(existing.label !== spec.label ? { label: spec.label } : {}) };
      result = { tunnel: { ...existing, ...(await service.update(existing.id, changes)) }, kind: "updated" };
    } else {
      result = { tunnel: existing, kind: "found" };
    }
    const id = result.tunnel.id;
    // One name per tunnel: a service renamed in the file takes its tunnel (found by its endpoint)
    // with it, and the old name no longer leads there.
    const stale = Object.entries(ids).some(([name, other]) => other === id && name !== spec.name);
    if (ids[spec.name] !== id || stale) {
      await updateServiceIds(d.servicesPath, (all) => {
        for (const [name, other] of Object.entries(all)) if (other === id) delete all[name];
        return { ...all, [spec.name]: id };
      });
    }
    return result;
  }

  /** With --prune at start: tunnels recorded for services the file no longer has are deleted. */
  async #pruneForgotten(): Promise<void> {
    const ids = await readServiceIds(this.#d.servicesPath);
    const wanted = new Set(this.#group.services.map((s) => s.name));
    for (const [name, id] of Object.entries(ids)) {
      if (wanted.has(name)) continue;
      await this.#deleteTunnel(name, id);
    }
  }

  async #deleteTunnel(name: string, id: string): Promise<void> {
    // The group's own Connector stays: this agent serves on it, and other services are still to come.
    await this.#d.service.delete(id, { keepConnector: true }).catch((err: unknown) => {
      if (!(err instanceof Rejected)) throw err;
    });
    await updateAllowList(slotFiles(this.#d.slotDir).allowList, (entries) => removeEntry(entries, id));
    await this.#agent.syncAllowList();
    await updateServiceIds(this.#d.servicesPath, (all) => {
      delete all[name];
      return all;
    });
    this.#emit({ type: "notice", line: `deleted tunnel ${id}`, service: name });
  }

  /**
   * Converge to `next` (one reload at a time, after the first setup). A file that changes what
   * cannot change while running is refused whole, and nothing changes.
   */
  reload(next: GroupFile, options: { prune: boolean; source: string }): Promise<ReloadResult> {
    const run = this.#reloads.catch(() => undefined).then(async () => {
      await this.#started;
      return await this.#reloadNow(next, options);
    });
    this.#reloads = run;
    return run;
  }

  /** A reload refused before it started (the file did not parse): told like any refused reload. */
  refuse(source: string, message: string): void {
    this.#emit({ type: "reload_rejected", source, message });
  }

  async #reloadNow(next: GroupFile, options: { prune: boolean; source: string }): Promise<ReloadResult> {
    const d = this.#d;
    if (d.signal.aborted) return { ok: false, message: "the group is stopping" };
    const running = { name: this.#group.name, project: this.#group.project, session: this.#group.session, health: this.#group.health, services: this.#group.services };
    const plan = planReload(running, next);
    if (!plan.ok) {
      this.#emit({ type: "reload_rejected", source: options.source, message: plan.message });
      return { ok: false, message: plan.message, hint: plan.hint };
    }
    const removed: string[] = [];
    const deleted: string[] = [];
    for (const spec of plan.remove) {
      const member = this.#members.get(spec.name);
      if (!member) continue;
      this.#members.delete(spec.name);
      member.controller.abort(new Error("removed from the file"));
      await member.done;
      const id = member.run?.tunnel.id;
      if (options.prune) {
        member.run?.detach();
        if (id) await this.#deleteTunnel(spec.name, id);
        deleted.push(spec.name);
      } else {
        if (member.run) {
          this.#emit({ type: "disabling", service: spec.name });
          await member.run.withdraw();
        }
        removed.push(spec.name);
      }
    }
    for (const change of plan.change) {
      const member = this.#members.get(change.to.name);
      if (!member) continue;
      member.spec = change.to;
      await member.run?.update({ ...(change.endpoint ? { endpoint: change.to.endpoint } : {}), ...(change.label ? { label: change.to.label } : {}) });
    }
    this.#group = next;
    this.#announce();
    const added = plan.add.map((spec) => this.#launch(spec));
    await Promise.all(added.map((m) => m.settled));
    this.#wake?.();
    const summary: ReloadSummary = {
      source: options.source,
      added: plan.add.map((s) => s.name),
      removed,
      deleted,
      changed: plan.change.map((c) => c.to.name),
      unchanged: plan.keep.map((s) => s.name),
    };
    this.#emit({ type: "reloaded", summary });
    log.withTag("group").debug(`reloaded from ${options.source}`);
    return { ok: true, summary };
  }

  /** Withdraw every advertisement (side by side), stop the agent, release the slot. */
  async #tearDown(code: number, quiet = false): Promise<number> {
    await this.#reloads.catch(() => undefined);
    this.#emit({ type: "closing" });
    const members = [...this.#members.values()];
    for (const m of members) m.controller.abort(this.#d.signal.reason);
    await Promise.all(members.map((m) => m.done));
    const runs = members.flatMap((m) => (m.run ? [m.run] : []));
    if (runs.length > 0 && !quiet) this.#emit({ type: "disabling" });
    await Promise.all(runs.map((r) => r.withdraw(quiet)));
    await this.#agent.stop();
    return code;
  }
}
