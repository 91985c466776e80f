/**
 * A local Datum started again on the same `--dir` is the same cloud (README "dev cloud"): same
 * ports, same objects (names, uids, resourceVersions, hostnames), same datumctl sessions, same
 * gateway identity. So a named tunnel made against it — whose `tunnel.yaml` records the API host
 * and the session, both of which name the port — keeps working across a restart, and a detached
 * `listen` that outlives the restart recovers on its own.
 *
 * Two files under `--dir`, both written atomically (temp + fsync + rename):
 * - `cloud.json`: what the cloud *is* — the ports it bound and the gateway's iroh key. Written once,
 *   at the first start; a later start binds exactly these ports or fails saying why.
 * - `store.json`: what it *holds* — the resourceVersion counter and every project's objects,
 *   rewritten (coalesced) after each change and once more on a clean stop.
 *
 * Parsing and the port decision are pure and table-tested; `StoreSaver` and the read/write helpers
 * do the I/O.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import * as v from "valibot";
import { Malformed, UsageError } from "../errors.ts";
import { writeFileAtomic } from "../state/atomic-write.ts";
import { readTextIfExists } from "../state/read-optional.ts";
import type { JsonObject } from "./json.ts";

export const CLOUD_FILE = "cloud.json";
export const STORE_FILE = "store.json";

const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65_535));

export const CloudIdentity = v.strictObject({
  version: v.literal(1),
  createdAt: v.string(),
  ports: v.strictObject({
    /** The control plane (`DATUM_API_HOST`, and the datumctl session's name). */
    api: Port,
    /** The edge (`DATUM_CONNECT_PUBLIC_URL`); null where no edge could run. */
    edge: v.nullable(Port),
    /** kubectl's TLS listener; null where openssl is missing. */
    kubectl: v.nullable(Port),
    /** The iroh relay's HTTP port (absent in clouds made before it, or where no relay ran). */
    relay: v.optional(v.nullable(Port)),
  }),
  /** The gateway endpoint's iroh secret key (hex), so its endpoint id survives a restart too. */
  gatewayKey: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be 64 hex digits")),
});
export type CloudIdentity = v.InferOutput<typeof CloudIdentity>;

/** What an object needs to be put back: the rest is the API server's own output, stored as is. */
const SavedObject = v.looseObject({
  apiVersion: v.string(),
  kind: v.string(),
  metadata: v.looseObject({ name: v.string(), uid: v.string(), resourceVersion: v.pipe(v.string(), v.regex(/^\d+$/)) }),
});

export const SavedStore = v.strictObject({
  version: v.literal(1),
  /** The cloud-wide counter (one etcd revision): never handed out twice, even across restarts. */
  resourceVersion: v.pipe(v.string(), v.regex(/^\d+$/, "must be a number")),
  /** project id → plural → objects, as `DevCloud.snapshot()` lists them. */
  projects: v.record(v.string(), v.record(v.string(), v.array(SavedObject))),
});
export type SavedStore = { version: 1; resourceVersion: string; projects: Record<string, Record<string, JsonObject[]>> };

const DELETE_HINT = (dir: string) => `fix or delete it; deleting the whole --dir (${dir}) starts a new, empty local Datum`;

function parseWith<T>(schema: v.GenericSchema<unknown, T>, text: string, path: string, dir: string): T {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Malformed(`corrupt local Datum state ${path}`, DELETE_HINT(dir), String(err));
  }
  const parsed = v.safeParse(schema, doc);
  if (!parsed.success) throw new Malformed(`corrupt local Datum state ${path}`, DELETE_HINT(dir), v.summarize(parsed.issues));
  return parsed.output;
}

export function parseCloudIdentity(text: string, path: string, dir: string): CloudIdentity {
  return parseWith(CloudIdentity, text, path, dir);
}

export function parseSavedStore(text: string, path: string, dir: string): SavedStore {
  return parseWith(SavedStore, text, path, dir) as SavedStore;
}

export async function readCloudIdentity(dir: string): Promise<CloudIdentity | undefined> {
  const path = join(dir, CLOUD_FILE);
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : parseCloudIdentity(text, path, dir);
}

export async function readSavedStore(dir: string): Promise<SavedStore | undefined> {
  const path = join(dir, STORE_FILE);
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : parseSavedStore(text, path, dir);
}

export async function writeCloudIdentity(dir: string, identity: CloudIdentity): Promise<void> {
  await writeFileAtomic(join(dir, CLOUD_FILE), `${JSON.stringify(identity, null, 2)}\n`);
}

export function newGatewayKey(): string {
  return randomBytes(32).toString("hex");
}

export function gatewayKeyBytes(hex: string): number[] {
  return [...Buffer.from(hex, "hex")];
}

export interface PortFlags {
  readonly api?: number | undefined;
  readonly edge?: number | undefined;
}

/** The ports to bind (0: any free one), given the flags and what this `--dir` bound before. */
export function portPlan(saved: CloudIdentity | undefined, flags: PortFlags, dir: string): { api: number; edge: number; kubectl: number } {
  if (!saved) return { api: flags.api ?? 0, edge: flags.edge ?? 0, kubectl: 0 };
  const clash = (flag: string, given: number | undefined, kept: number | null) => {
    if (given === undefined || given === 0 || given === kept) return;
    throw new UsageError(
      `the local Datum in ${dir} serves on ${flag} ${kept ?? "(none)"}, not ${given}: another port would make it a different cloud`,
      `drop ${flag} to start this one again, or use another --dir for a new local Datum`,
    );
  };
  clash("--port", flags.api, saved.ports.api);
  clash("--edge-port", flags.edge, saved.ports.edge);
  return { api: saved.ports.api, edge: saved.ports.edge ?? 0, kubectl: saved.ports.kubectl ?? 0 };
}

/** True for the error a listen on a taken port fails with (Bun.serve and node:net alike). */
export function isAddressInUse(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === "EADDRINUSE" || (typeof message === "string" && /in use|EADDRINUSE/i.test(message));
}

/**
 * Rewrites `store.json` after changes: a burst of changes (one request, one reconcile) is one
 * write, taken from a snapshot when the write starts; a change during a write is picked up by the
 * next one. `flush()` waits for the file to hold everything up to now.
 */
export class StoreSaver {
  #dirty = false;
  #running: Promise<void> | undefined;
  #lastError: unknown;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => SavedStore,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Something changed: save soon. */
  changed(): void {
    this.#dirty = true;
    if (!this.#running) this.#running = this.#loop();
  }

  async flush(): Promise<void> {
    this.#dirty = true;
    if (!this.#running) this.#running = this.#loop();
    await this.#running;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  async #loop(): Promise<void> {
    try {
      // Let the rest of this tick's changes join the write.
      await new Promise((resolve) => setTimeout(resolve, 0));
      while (this.#dirty) {
        this.#dirty = false;
        try {
          await writeFileAtomic(this.path, `${JSON.stringify(this.snapshot())}\n`);
          this.#lastError = undefined;
        } catch (err) {
          this.#lastError = err;
          this.onError(err);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
