/**
 * RFC 7386 JSON merge patch, the only patch type the agent sends (docs/wire-facts.md#writes):
 * `null` deletes a member, objects merge recursively, anything else (arrays included) replaces.
 * Pure: neither argument is modified.
 */
import { type Json, type JsonObject, deepClone, isJsonObject } from "./json.ts";

export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isJsonObject(patch)) return deepClone(patch);
  const result: JsonObject = isJsonObject(target) ? deepClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = applyMergePatch(result[key], value);
    }
  }
  return result;
}
