/**
 * Condition bookkeeping with `apimeta.SetStatusCondition` semantics, as the operator uses it:
 * `lastTransitionTime` moves only when `status` flips; reason, message and observedGeneration are
 * refreshed on every write.
 */
import { type Json, type JsonObject, isJsonObject } from "./json.ts";

export type ConditionStatusValue = "True" | "False" | "Unknown";

export interface DesiredCondition {
  readonly type: string;
  readonly status: ConditionStatusValue;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
}

export function conditionsOf(status: Json | undefined): JsonObject[] {
  if (!isJsonObject(status)) return [];
  const list = status.conditions;
  return Array.isArray(list) ? list.filter(isJsonObject) : [];
}

export function findCondition(status: Json | undefined, type: string): JsonObject | undefined {
  return conditionsOf(status).find((c) => c.type === type);
}

export function isConditionTrue(status: Json | undefined, type: string): boolean {
  return findCondition(status, type)?.status === "True";
}

/** Returns a new conditions list with `desired` set; `nowText` is used only on a status flip. */
export function setCondition(conditions: readonly JsonObject[], desired: DesiredCondition, nowText: string): JsonObject[] {
  let found = false;
  const out = conditions.map((existing) => {
    if (existing.type !== desired.type) return existing;
    found = true;
    const kept = typeof existing.lastTransitionTime === "string" && existing.status === desired.status;
    return conditionJson(desired, kept ? (existing.lastTransitionTime as string) : nowText, existing);
  });
  if (!found) out.push(conditionJson(desired, nowText, {}));
  return out;
}

/** metav1.Condition's field order, then any fields a newer server added that we do not model. */
function conditionJson(desired: DesiredCondition, lastTransitionTime: string, existing: JsonObject): JsonObject {
  return {
    type: desired.type,
    status: desired.status,
    observedGeneration: desired.observedGeneration,
    lastTransitionTime,
    reason: desired.reason,
    message: desired.message,
    ...Object.fromEntries(Object.entries(existing).filter(([key]) => !CONDITION_FIELDS.has(key))),
  };
}

const CONDITION_FIELDS = new Set(["type", "status", "observedGeneration", "lastTransitionTime", "reason", "message"]);

export function removeCondition(conditions: readonly JsonObject[], type: string): JsonObject[] {
  return conditions.filter((c) => c.type !== type);
}
