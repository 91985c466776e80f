/**
 * One project's objects, with the API server semantics the agent relies on (docs/architecture.md#local-datum,
 * docs/architecture.md#local-datum): generateName, system metadata, `metadata.generation` vs `/status`,
 * merge patch, resourceVersion preconditions, finalizers, owner garbage collection, and the platform's
 * own validation of every write (`validation/`, docs/platform-rules.md). Pure in-memory logic; time,
 * randomness and ids come from `StoreEnv`, and every committed change is announced synchronously through
 * `emit` (controllers react asynchronously).
 */
import { NAMESPACE } from "../controlplane/kinds.ts";
import { type Json, type JsonObject, deepClone, deepEqual, dropNullFields, isJsonObject } from "./json.ts";
import { applyMergePatch } from "./merge-patch.ts";
import { generateObjectName, objectNameProblem, type Random } from "./names.ts";
import {
  desiredStateOf,
  finalizersOf,
  generationOf,
  isDeleting,
  metadataOf,
  nameOf,
  ownerReferencesOf,
  uidOf,
} from "./objects.ts";
import { Resources, type ResourceType } from "./resources.ts";
import { ApiError, Errors, type StatusCause } from "./status.ts";
import { admit } from "./validation/admission.ts";
import { formatTime } from "./time.ts";

export type StoreEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  readonly type: StoreEventType;
  readonly project: string;
  readonly resource: ResourceType;
  readonly object: JsonObject;
  readonly previous?: JsonObject;
}

export interface StoreEnv {
  now(): number;
  readonly random: Random;
  uid(): string;
  /** One counter for the whole local Datum, like one etcd revision. */
  nextResourceVersion(): string;
  /** J.2: some API servers bump `metadata.generation` on every spec PATCH, even a no-op. */
  bumpGenerationOnNoopPatch(): boolean;
  emit(event: StoreEvent): void;
}

export interface WriteOptions {
  readonly dryRun?: boolean;
}

export interface DeleteResult {
  /** True when the object is gone; false when finalizers hold it (it now has a deletionTimestamp). */
  readonly removed: boolean;
  readonly object: JsonObject;
}

/** Metadata only the server sets: copied from the stored object over whatever a write sends. */
const SYSTEM_METADATA = [
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
] as const;

/** Canonical order of metadata keys in responses (the API server's struct order). */
const METADATA_ORDER = [
  "name",
  "generateName",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
] as const;

const GENERATE_NAME_ATTEMPTS = 8;

export class ProjectStore {
  readonly #objects = new Map<string, JsonObject>();

  constructor(
    readonly project: string,
    private readonly env: StoreEnv,
  ) {}

  find(rt: ResourceType, name: string): JsonObject | undefined {
    const found = this.#objects.get(key(rt, name));
    return found ? deepClone(found) : undefined;
  }

  get(rt: ResourceType, name: string): JsonObject {
    const found = this.find(rt, name);
    if (!found) throw Errors.notFound(rt.plural, rt.group, name);
    return found;
  }

  /** All objects of a kind, sorted by name (the API server lists in key order). */
  list(rt: ResourceType): JsonObject[] {
    const prefix = `${rt.plural}/`;
    return [...this.#objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => deepClone(obj));
  }

  /** Every object, by plural (for `/_dev/state`). */
  snapshot(): Record<string, JsonObject[]> {
    const out: Record<string, JsonObject[]> = {};
    for (const rt of Resources) {
      const items = this.list(rt);
      if (items.length > 0) out[rt.plural] = items;
    }
    return out;
  }

  /** Put back objects `snapshot()` listed (a local Datum restarted on its `--dir`): stored as they were, no events. */
  restore(rt: ResourceType, objects: readonly JsonObject[]): void {
    for (const obj of objects) this.#objects.set(key(rt, nameOf(obj)), deepClone(obj));
  }

  create(rt: ResourceType, body: Json, opts: WriteOptions = {}): JsonObject {
    if (!isJsonObject(body)) throw Errors.badRequest("the body of the request was not a JSON object");
    checkTypeMeta(rt, body);
    const obj = dropNullFields(deepClone(body)) as JsonObject;
    const meta = isJsonObject(obj.metadata) ? obj.metadata : {};

    let name = typeof meta.name === "string" ? meta.name : "";
    if (name === "") {
      const prefix = typeof meta.generateName === "string" ? meta.generateName : "";
      if (prefix === "") {
        throw invalid(rt, "", "metadata.name: Required value: name or generateName is required", [
          { reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name" },
        ]);
      }
      // The server retries name generation on a collision rather than failing the create.
      for (let attempt = 0; attempt < GENERATE_NAME_ATTEMPTS; attempt++) {
        name = generateObjectName(prefix, this.env.random);
        if (!this.#objects.has(key(rt, name))) break;
      }
    }
    const problem = objectNameProblem(name);
    if (problem) {
      throw invalid(rt, name, `metadata.name: Invalid value: "${name}": ${problem}`, [
        { reason: "FieldValueInvalid", message: `Invalid value: "${name}": ${problem}`, field: "metadata.name" },
      ]);
    }
    if (this.#objects.has(key(rt, name))) throw Errors.alreadyExists(rt.plural, rt.group, name);

    for (const field of SYSTEM_METADATA) delete meta[field];
    delete meta.managedFields;
    delete meta.selfLink;
    meta.name = name;
    if (rt.namespaced) meta.namespace = NAMESPACE;
    meta.uid = this.env.uid();
    if (rt.tracksGeneration) meta.generation = 1;
    meta.creationTimestamp = formatTime(this.env.now());
    obj.metadata = meta;
    obj.apiVersion = rt.apiVersion;
    obj.kind = rt.kind;
    // With a status subresource the main endpoint cannot set status; the CRD default fills it in.
    if (rt.statusSubresource) delete obj.status;

    const stored = validate(rt, canonical(obj), { webhooks: true });
    if (opts.dryRun) return stored;
    return this.#commit(rt, stored, undefined);
  }

  patch(rt: ResourceType, name: string, patch: Json, opts: WriteOptions & { subresource?: "status" } = {}): JsonObject {
    if (!isJsonObject(patch)) {
      throw Errors.badRequest("json: cannot unmarshal a non-object merge patch into Go value of type map[string]interface {}");
    }
    const old = this.get(rt, name);
    const precondition = isJsonObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    if (typeof precondition === "string" && precondition !== metadataOf(old).resourceVersion) {
      throw Errors.conflict(rt.plural, rt.group, name);
    }
    const patchedName = isJsonObject(patch.metadata) ? patch.metadata.name : undefined;
    if (typeof patchedName === "string" && patchedName !== name) {
      throw Errors.badRequest(`the name of the object (${patchedName}) does not match the name on the URL (${name})`);
    }

    const merged = dropNullFields(applyMergePatch(old, patch)) as JsonObject;
    let next: JsonObject;
    if (opts.subresource === "status") {
      // `/status` writes change status only; spec and metadata stay as stored.
      next = { ...old };
      if (merged.status === undefined) delete next.status;
      else next.status = merged.status;
    } else {
      next = restoreSystemFields(rt, merged, old);
      if (rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      rejectNewFinalizersWhileDeleting(rt, old, next);
    }
    next = validate(rt, canonical(next), { webhooks: opts.subresource !== "status" });

    const specChanged = !deepEqual(desiredStateOf(old), desiredStateOf(next));
    const forceBump = opts.subresource !== "status" && this.env.bumpGenerationOnNoopPatch();
    if (rt.tracksGeneration && opts.subresource !== "status" && (specChanged || forceBump)) {
      metadataOf(next).generation = generationOf(old) + 1;
    }
    if (deepEqual(next, old)) return old; // a true no-op changes nothing, not even resourceVersion
    if (opts.dryRun) return next;
    return this.#commit(rt, next, old);
  }

  delete(rt: ResourceType, name: string, opts: WriteOptions = {}): DeleteResult {
    const old = this.get(rt, name);
    if (isDeleting(old)) return { removed: false, object: old };
    if (finalizersOf(old).length > 0) {
      const next = deepClone(old);
      const meta = metadataOf(next);
      meta.deletionTimestamp = formatTime(this.env.now());
      meta.deletionGracePeriodSeconds = 0;
      // Marking an object as deleting bumps its generation (apiserver `markAsDeleting`).
      if (rt.tracksGeneration) meta.generation = generationOf(old) + 1;
      const marked = canonical(next);
      if (opts.dryRun) return { removed: false, object: marked };
      return { removed: false, object: this.#commit(rt, marked, old) };
    }
    if (!opts.dryRun) this.#remove(rt, old);
    return { removed: true, object: old };
  }

  /**
   * A controller's write: `mutate` edits a copy (status, finalizers, annotations, spec) and the
   * result is validated and committed like any write. Undefined when the object is gone.
   */
  update(rt: ResourceType, name: string, mutate: (draft: JsonObject) => void): JsonObject | undefined {
    const old = this.find(rt, name);
    if (!old) return undefined;
    const draft = deepClone(old);
    mutate(draft);
    // The platform's controllers write past its admission webhooks, not past its schemas.
    const next = validate(rt, canonical(restoreSystemFields(rt, dropNullFields(draft) as JsonObject, old)), { webhooks: false });
    if (rt.tracksGeneration && !deepEqual(desiredStateOf(old), desiredStateOf(next))) {
      metadataOf(next).generation = generationOf(old) + 1;
    }
    if (deepEqual(next, old)) return old;
    return this.#commit(rt, next, old);
  }

  #commit(rt: ResourceType, next: JsonObject, old: JsonObject | undefined): JsonObject {
    metadataOf(next).resourceVersion = this.env.nextResourceVersion();
    const stored = canonical(next);
    this.#objects.set(key(rt, nameOf(stored)), stored);
    this.env.emit({ type: old ? "MODIFIED" : "ADDED", project: this.project, resource: rt, object: deepClone(stored), ...(old ? { previous: old } : {}) });
    // The last finalizer removed from a deleting object lets it go (apiserver behaviour).
    if (isDeleting(stored) && finalizersOf(stored).length === 0) {
      this.#remove(rt, stored);
    }
    return deepClone(stored);
  }

  #remove(rt: ResourceType, obj: JsonObject): void {
    if (!this.#objects.delete(key(rt, nameOf(obj)))) return;
    this.env.emit({ type: "DELETED", project: this.project, resource: rt, object: deepClone(obj) });
    this.#collectGarbage(uidOf(obj));
  }

  /**
   * Owner garbage collection (background propagation): a dependent whose owners are all gone is
   * deleted (its own finalizers still apply); one that still has a live owner only loses the
   * dangling reference.
   */
  #collectGarbage(ownerUid: string): void {
    if (ownerUid === "") return;
    const liveUids = new Set([...this.#objects.values()].map(uidOf));
    for (const rt of Resources) {
      for (const dependent of this.list(rt)) {
        const refs = ownerReferencesOf(dependent);
        if (!refs.some((ref) => ref.uid === ownerUid)) continue;
        if (refs.some((ref) => liveUids.has(ref.uid))) {
          this.update(rt, nameOf(dependent), (draft) => {
            const meta = metadataOf(draft);
            const kept = refs.filter((ref) => ref.uid !== ownerUid);
            meta.ownerReferences = kept.map((ref) => ({ ...ref }));
          });
        } else if (this.#objects.has(key(rt, nameOf(dependent)))) {
          this.delete(rt, nameOf(dependent));
        }
      }
    }
  }
}

function key(rt: ResourceType, name: string): string {
  return `${rt.plural}/${name}`;
}

function checkTypeMeta(rt: ResourceType, body: JsonObject): void {
  if (typeof body.kind !== "string" || body.kind === "") {
    throw Errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
  }
  if (body.apiVersion !== rt.apiVersion) {
    throw Errors.badRequest(
      `the API version in the data (${String(body.apiVersion ?? "")}) does not match the expected API version (${rt.apiVersion})`,
    );
  }
  if (body.kind !== rt.kind) {
    throw Errors.badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${rt.kind})`);
  }
  const namespace = isJsonObject(body.metadata) ? body.metadata.namespace : undefined;
  if (rt.namespaced && typeof namespace === "string" && namespace !== "" && namespace !== NAMESPACE) {
    throw Errors.badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
}

function restoreSystemFields(rt: ResourceType, next: JsonObject, old: JsonObject): JsonObject {
  const out: JsonObject = { ...next, apiVersion: rt.apiVersion, kind: rt.kind };
  const meta: JsonObject = isJsonObject(next.metadata) ? { ...next.metadata } : {};
  const oldMeta = metadataOf(old);
  for (const field of SYSTEM_METADATA) {
    const value = oldMeta[field];
    if (value === undefined) delete meta[field];
    else meta[field] = value;
  }
  out.metadata = meta;
  return out;
}

function rejectNewFinalizersWhileDeleting(rt: ResourceType, old: JsonObject, next: JsonObject): void {
  if (!isDeleting(old)) return;
  const before = new Set(finalizersOf(old));
  const added = finalizersOf(next).filter((f) => !before.has(f));
  if (added.length === 0) return;
  const text = `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => `"${f}"`).join(", ")}}`;
  throw invalid(rt, nameOf(old), `metadata.finalizers: ${text}`, [{ reason: "FieldValueForbidden", message: text, field: "metadata.finalizers" }]);
}

/** apiVersion, kind, metadata (in the server's key order), then the rest as written. */
function canonical(obj: JsonObject): JsonObject {
  const meta = metadataOf(obj);
  const orderedMeta: JsonObject = {};
  for (const field of METADATA_ORDER) if (meta[field] !== undefined) orderedMeta[field] = meta[field];
  for (const [field, value] of Object.entries(meta)) if (orderedMeta[field] === undefined) orderedMeta[field] = value;
  const out: JsonObject = {};
  if (obj.apiVersion !== undefined) out.apiVersion = obj.apiVersion;
  if (obj.kind !== undefined) out.kind = obj.kind;
  out.metadata = orderedMeta;
  for (const [field, value] of Object.entries(obj)) if (out[field] === undefined) out[field] = value;
  return out;
}

/** The stored form of a write (unknown fields pruned, defaults filled in), or a 422 thrown. */
function validate(rt: ResourceType, obj: JsonObject, options: { webhooks: boolean }): JsonObject {
  return canonical(admit(rt, obj, nameOf(obj), options));
}

function invalid(rt: ResourceType, name: string, summary: string, causes: StatusCause[]): ApiError {
  return Errors.invalid(rt.kind, rt.group, name, summary, causes);
}
