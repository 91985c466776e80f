/**
 * Small readers for the metadata every stored object carries. Objects are plain JSON (`JsonObject`)
 * because the store must keep fields no schema models; these helpers give them names.
 */
import { type JsonObject, isJsonObject } from "./json.ts";

export function metadataOf(obj: JsonObject): JsonObject {
  return isJsonObject(obj.metadata) ? obj.metadata : {};
}

export function nameOf(obj: JsonObject): string {
  const name = metadataOf(obj).name;
  return typeof name === "string" ? name : "";
}

export function uidOf(obj: JsonObject): string {
  const uid = metadataOf(obj).uid;
  return typeof uid === "string" ? uid : "";
}

export function generationOf(obj: JsonObject): number {
  const generation = metadataOf(obj).generation;
  return typeof generation === "number" ? generation : 0;
}

export function finalizersOf(obj: JsonObject): string[] {
  const list = metadataOf(obj).finalizers;
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === "string") : [];
}

export function isDeleting(obj: JsonObject): boolean {
  return typeof metadataOf(obj).deletionTimestamp === "string";
}

export interface OwnerRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
}

export function ownerReferencesOf(obj: JsonObject): OwnerRef[] {
  const list = metadataOf(obj).ownerReferences;
  if (!Array.isArray(list)) return [];
  return list.filter(isJsonObject).flatMap((ref) => {
    const { apiVersion, kind, name, uid, controller } = ref;
    if (typeof apiVersion !== "string" || typeof kind !== "string" || typeof name !== "string" || typeof uid !== "string") {
      return [];
    }
    return [{ apiVersion, kind, name, uid, ...(typeof controller === "boolean" ? { controller } : {}) }];
  });
}

/** Everything but `metadata` and `status`: what `metadata.generation` counts changes of. */
export function desiredStateOf(obj: JsonObject): JsonObject {
  const { metadata: _metadata, status: _status, ...rest } = obj;
  return rest;
}
