/**
 * The data plane as the main thread sees it (docs/architecture.md#threads, #distribution): one small
 * interface, implemented by the ListenNode worker under a supervisor. Nothing here imports iroh
 * statically, so commands that never touch the data plane (and platforms without the native module) never
 * load it.
 */
import { nativeCacheDir } from "../state/paths.ts";
import { Unreachable } from "../errors.ts";
import { FromListenNode, type AllowListEntry, type DirectAddress, type ToListenNode } from "../../workers/messages.ts";
import type { SupervisorBudgets } from "../supervise/budgets.ts";
import { WorkerSupervisor, type SupervisorLog, type SupervisorStatus } from "../supervise/worker.ts";
import type { CountersSnapshot } from "./counters.ts";

export interface DataPlaneStartOptions {
  /** The 32 raw bytes of the identity's `listen_key`. */
  readonly secretKey: Uint8Array | readonly number[];
  /** The UDP port bound last time (docs/architecture.md#local-state); absent or 0 = any. */
  readonly bindPort?: number;
  /** Relay URLs; empty = relays disabled. */
  readonly relayUrls: readonly string[];
  readonly allowList: readonly AllowListEntry[];
}

export interface DataPlaneEndpoint {
  readonly endpointId: string;
  readonly boundPort: number;
  readonly addresses: readonly DirectAddress[];
  readonly homeRelay: string | null;
}

export type EndpointChange = Pick<DataPlaneEndpoint, "addresses" | "homeRelay">;

export interface DataPlane {
  start(options: DataPlaneStartOptions): Promise<DataPlaneEndpoint>;
  /** Replace the allow-list atomically (also re-applied to a restarted worker). */
  setAllowList(entries: readonly AllowListEntry[]): void;
  stats(): Promise<CountersSnapshot>;
  /** Called when the addresses or home relay change, including after a worker restart. */
  onEndpointChange(callback: (change: EndpointChange) => void): () => void;
  /** The supervisor's view, for `tunnel status`. */
  status(): SupervisorStatus;
  stop(): Promise<void>;
}

export interface ListenNodeOptions {
  readonly log?: SupervisorLog;
  readonly budgets?: Partial<SupervisorBudgets>;
  /** Override the worker entry (tests). */
  readonly workerUrl?: string;
  /** Extra environment for the worker, on top of the supervisor's minimal one (never tokens). */
  readonly env?: Record<string, string>;
}

type Started = Extract<FromListenNode, { type: "started" }>;

/** The ListenNode worker behind the `DataPlane` interface. */
export function createListenNodeDataPlane(options: ListenNodeOptions = {}): DataPlane {
  const listeners = new Set<(change: EndpointChange) => void>();
  let startOptions: DataPlaneStartOptions | undefined;
  let allowList: readonly AllowListEntry[] = [];
  let current: DataPlaneEndpoint | undefined;

  const notify = (change: EndpointChange): void => {
    for (const listener of listeners) listener(change);
  };

  const sameAddress = (a: EndpointChange, b: EndpointChange): boolean =>
    a.homeRelay === b.homeRelay && JSON.stringify(a.addresses) === JSON.stringify(b.addresses);

  const startMessage = (id: number, opts: DataPlaneStartOptions, bindPort: number | undefined): ToListenNode => ({
    type: "start",
    id,
    secretKey: Array.from(opts.secretKey),
    ...(bindPort ? { bindPort } : {}),
    relayUrls: [...opts.relayUrls],
    allowList: allowList.map((e) => ({ ...e })),
  });

  const supervisor: WorkerSupervisor<ToListenNode, FromListenNode> = new WorkerSupervisor<ToListenNode, FromListenNode>({
    name: "listen-node",
    schema: FromListenNode,
    ...(options.workerUrl ? { url: options.workerUrl } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.budgets ? { budgets: options.budgets } : {}),
    // Only the data plane loads iroh's native module: a compiled executable finds it cached at this
    // path (src/dataplane/native-module.ts), the same file in every thread.
    env: { DATUM_CONNECT_NATIVE_DIR: nativeCacheDir(), ...options.env },
    onMessage: (msg) => {
      if (msg.type !== "endpoint" || !current) return;
      const change = { addresses: msg.addresses, homeRelay: msg.homeRelay };
      if (sameAddress(change, current)) return;
      current = { ...current, ...change };
      notify(change);
    },
    // A restarted worker binds again on the port it had, with the current allow-list.
    onRespawn: async () => {
      if (!startOptions) return;
      let started: Started;
      try {
        started = await supervisor.request((id) => startMessage(id, startOptions!, current?.boundPort), "started");
      } catch (err) {
        supervisor.fail(`restart could not start the endpoint: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      supervisor.markRunning();
      const next = toEndpoint(started);
      const changed = !current || !sameAddress(next, current);
      current = next;
      if (changed) notify({ addresses: next.addresses, homeRelay: next.homeRelay });
    },
  });

  return {
    async start(opts) {
      if (startOptions) throw new Error("the data plane is already started");
      if (opts.secretKey.length !== 32) throw new Error("the secret key must be 32 bytes");
      startOptions = opts;
      allowList = opts.allowList;
      try {
        await supervisor.start();
        const started = await supervisor.request((id) => startMessage(id, opts, opts.bindPort), "started");
        supervisor.markRunning();
        current = toEndpoint(started);
        return current;
      } catch (err) {
        // Not started: a respawn must not bind on our behalf, and the caller may try again.
        startOptions = undefined;
        throw err;
      }
    },
    setAllowList(entries) {
      allowList = entries;
      supervisor.post({ type: "allowlist", entries: entries.map((e) => ({ ...e })) });
    },
    async stats() {
      const reply = await supervisor.request((id) => ({ type: "stats", id }), "stats");
      return { counters: reply.counters, connectionsAccepted: reply.connectionsAccepted, connectionsCompleted: reply.connectionsCompleted, paths: reply.paths };
    },
    onEndpointChange(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    status: () => supervisor.status(),
    stop: () => supervisor.stop(),
  };
}

function toEndpoint(started: Started): DataPlaneEndpoint {
  return { endpointId: started.endpointId, boundPort: started.boundPort, addresses: started.addresses, homeRelay: started.homeRelay };
}

/** Platforms with a published `@number0/iroh` native module (docs/architecture.md#distribution). */
export const DATA_PLANE_PLATFORMS: ReadonlySet<string> = new Set(["linux-x64", "darwin-arm64"]);

export interface LoadDataPlaneOptions extends ListenNodeOptions {
  readonly platform?: string;
  readonly arch?: string;
  /** How the native module is probed (tests replace it). */
  readonly loadNative?: () => Promise<unknown>;
}

/**
 * The data plane for this platform, or `Unreachable` (exit 69) naming what is missing
 * (docs/architecture.md#distribution). The native module is probed here, on the main thread, so a missing
 * or broken one fails with a message instead of as a worker that dies before `ready`. Platforms outside
 * the published set are probed too: a native module that appears for them later simply works.
 */
export async function loadDataPlane(options: LoadDataPlaneOptions = {}): Promise<DataPlane> {
  const platform = `${options.platform ?? process.platform}-${options.arch ?? process.arch}`;
  try {
    await (options.loadNative ?? (() => import("@number0/iroh")))();
  } catch (err) {
    const details = err instanceof Error ? (err.message.split("\n", 1)[0] ?? err.message) : String(err);
    if (DATA_PLANE_PLATFORMS.has(platform)) {
      throw new Unreachable(
        `the tunnel data plane could not load on ${platform}: the @number0/iroh native module failed to load`,
        "reinstall datumctl-connect; on Linux the glibc build needs glibc 2.34 or newer",
        details,
        "unsupported_platform",
      );
    }
    throw new Unreachable(
      `the tunnel data plane is not available on ${platform}: @number0/iroh publishes no native module for it`,
      "tunnels can still be listed and managed from here; listening needs linux-x64 or darwin-arm64",
      details,
      "unsupported_platform",
    );
  }
  return createListenNodeDataPlane(options);
}
