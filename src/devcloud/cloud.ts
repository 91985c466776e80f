/**
 * The local Datum's state: one store per project (each project control plane is its own virtual
 * cluster), the shared resourceVersion counter, configuration, fault rules, denied tokens and the
 * request log. No I/O; the HTTP layer (`api.ts`, `admin.ts`) and the controllers act on it.
 */
import { randomUUID } from "node:crypto";
import { type DevCloudConfig, type DevCloudConfigPatch, defaultConfig, mergeConfig } from "./config.ts";
import { FaultInjector } from "./faults.ts";
import type { JsonObject } from "./json.ts";
import type { Random } from "./names.ts";
import { RequestLog } from "./request-log.ts";
import { metadataOf } from "./objects.ts";
import { Resources, resourceOf } from "./resources.ts";
import { ProjectStore, type StoreEvent } from "./store.ts";

export interface DevCloudOptions {
  readonly config?: DevCloudConfigPatch;
  readonly now?: () => number;
  readonly random?: Random;
  readonly uid?: () => string;
}

/** Project ids are object names on the platform; anything else is not a project path. */
const PROJECT_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The ConnectorClass every project has (docs/wire-facts.md#connector, docs/architecture.md#local-datum). */
export const DEFAULT_CONNECTOR_CLASS = "datum-connect";
export const DATUM_CONNECT_CONTROLLER = "networking.datumapis.com/datum-connect";

/** What the admin API may do with the local Datum's relay (relay-server.ts). */
export interface DevRelayHandle {
  readonly url: string;
  running(): boolean;
  pid(): number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What the admin API may do with the local Datum's gateway (`/_dev/gateway`). */
export interface DevGatewayHandle {
  /** The gateway's iroh endpoint id now. */
  endpointId(): string;
  /** Stop the gateway (every pooled connection with it) and start a new one with a new iroh key, saved as the cloud's. */
  restart(): Promise<void>;
}

export class DevCloud {
  readonly faults = new FaultInjector();
  readonly requests = new RequestLog();
  readonly deniedTokens = new Set<string>();
  /** The local Datum's iroh relay, when one runs (`/_dev/relay-server` stops and starts it). */
  relay: DevRelayHandle | undefined;
  /** The local Datum's gateway, when one runs (`/_dev/gateway` restarts it with a new identity). */
  gateway: DevGatewayHandle | undefined;
  readonly now: () => number;
  readonly random: Random;
  readonly #uid: () => string;
  #config: DevCloudConfig;
  #resourceVersion = 0;
  readonly #stores = new Map<string, ProjectStore>();
  readonly #listeners = new Set<(event: StoreEvent) => void>();
  readonly #configListeners = new Set<(config: DevCloudConfig) => void>();

  constructor(opts: DevCloudOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.#uid = opts.uid ?? randomUUID;
    this.#config = mergeConfig(defaultConfig(), opts.config ?? {});
  }

  get config(): DevCloudConfig {
    return this.#config;
  }

  configure(patch: DevCloudConfigPatch): DevCloudConfig {
    this.#config = mergeConfig(this.#config, patch);
    for (const listener of this.#configListeners) listener(this.#config);
    return this.#config;
  }

  static isProjectId(id: string): boolean {
    return PROJECT_ID.test(id);
  }

  /** The store of a project, created (and seeded) on first use: every project id exists. */
  project(id: string): ProjectStore {
    const existing = this.#stores.get(id);
    if (existing) return existing;
    const store = this.#newStore(id);
    store.create(resourceOf("ConnectorClass"), {
      apiVersion: "networking.datumapis.com/v1alpha1",
      kind: "ConnectorClass",
      metadata: { name: DEFAULT_CONNECTOR_CLASS },
      spec: { controllerName: DATUM_CONNECT_CONTROLLER },
    });
    return store;
  }

  /**
   * Put back a saved state (`persistence.ts`): the resourceVersion counter and every project's
   * objects, before any controller looks. No events; the controllers' first resync sees them all.
   */
  restore(saved: { resourceVersion: string; projects: Record<string, Record<string, JsonObject[]>> }): void {
    let highest = Number(saved.resourceVersion);
    for (const [id, byPlural] of Object.entries(saved.projects)) {
      if (!DevCloud.isProjectId(id)) throw new Error(`saved state names an invalid project id "${id}"`);
      const store = this.#stores.get(id) ?? this.#newStore(id);
      for (const [plural, objects] of Object.entries(byPlural)) {
        const rt = Resources.find((r) => r.plural === plural);
        if (!rt) throw new Error(`saved state holds unknown resource "${plural}"`);
        store.restore(rt, objects);
        for (const obj of objects) highest = Math.max(highest, Number(metadataOf(obj).resourceVersion));
      }
    }
    this.#resourceVersion = Math.max(this.#resourceVersion, highest);
  }

  #newStore(id: string): ProjectStore {
    const store = new ProjectStore(id, {
      now: this.now,
      random: this.random,
      uid: this.#uid,
      nextResourceVersion: () => String(++this.#resourceVersion),
      bumpGenerationOnNoopPatch: () => this.#config.bumpGenerationOnNoopPatch,
      emit: (event) => {
        for (const listener of this.#listeners) listener(event);
      },
    });
    this.#stores.set(id, store);
    return store;
  }

  /** The store of a project that has been used, without creating one. */
  existingProject(id: string): ProjectStore | undefined {
    return this.#stores.get(id);
  }

  projects(): string[] {
    return [...this.#stores.keys()].sort();
  }

  resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onConfigChange(listener: (config: DevCloudConfig) => void): () => void {
    this.#configListeners.add(listener);
    return () => this.#configListeners.delete(listener);
  }

  snapshot(): { config: DevCloudConfig; resourceVersion: string; projects: Record<string, Record<string, JsonObject[]>> } {
    const projects: Record<string, Record<string, JsonObject[]>> = {};
    for (const id of this.projects()) projects[id] = this.#stores.get(id)?.snapshot() ?? {};
    return { config: this.#config, resourceVersion: this.resourceVersion(), projects };
  }
}
