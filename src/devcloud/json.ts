/**
 * JSON values as the local Datum stores them: plain data, never class instances, so a deep copy is
 * a structural copy and two objects are equal when their JSON is.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function deepClone<T extends Json>(value: T): T {
  return structuredClone(value);
}

/** Structural equality; object key order does not matter (JSON objects are unordered). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

/**
 * Drops object fields whose value is `null`, recursively (array items stay, their object fields
 * are cleaned too). The API server prunes nulls of non-nullable fields before it validates and
 * stores (none of the platform's CRD fields is nullable), so `{"hostnames": null}` is stored as an
 * absent field, which is what a client reads back.
 */
export function dropNullFields(value: Json): Json {
  if (Array.isArray(value)) return value.map(dropNullFields);
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null) continue;
    out[key] = dropNullFields(item);
  }
  return out;
}

/** The object at `obj[key]`, or a fresh empty one attached there (for building nested fields). */
export function objectAt(obj: JsonObject, key: string): JsonObject {
  const existing = obj[key];
  if (isJsonObject(existing)) return existing;
  const created: JsonObject = {};
  obj[key] = created;
  return created;
}

/** Reads `a.b.c` from a JSON value; undefined when any step is missing or not an object. */
export function valueAtPath(value: Json | undefined, path: readonly string[]): Json | undefined {
  let current: Json | undefined = value;
  for (const segment of path) {
    if (!isJsonObject(current)) return undefined;
    current = current[segment];
  }
  return current;
}

export function stringAt(value: Json | undefined, path: readonly string[]): string | undefined {
  const found = valueAtPath(value, path);
  return typeof found === "string" ? found : undefined;
}
