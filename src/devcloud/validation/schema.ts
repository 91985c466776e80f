/**
 * A small declarative schema language for the local Datum's server-side validation, and the walk
 * that applies it the way the Kubernetes API server treats a structural CRD schema: unknown fields
 * are pruned (unless a node keeps them), `null`s of fields are dropped, defaults are filled in
 * (recursively, so a defaulted object gets its own fields' defaults), then types, required fields,
 * enums, patterns, formats, bounds, list sizes, list-map/set uniqueness and the hand-written rules
 * are checked. Every problem becomes one `Violation` with the field path and the API server's
 * wording. See docs/platform-rules.md for where the rules come from.
 */
import { type Json, type JsonObject, deepClone, isJsonObject } from "../json.ts";

export type CauseReason =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueTypeInvalid"
  | "FieldValueNotSupported"
  | "FieldValueTooLong"
  | "FieldValueTooMany"
  | "FieldValueDuplicate"
  | "FieldValueForbidden";

/** Where a violation comes from: the schema's structure, a validation rule, or an admission webhook. */
export type ViolationSource = "schema" | "rule" | "webhook";

export interface Violation {
  readonly reason: CauseReason;
  readonly field: string;
  readonly message: string;
  readonly source: ViolationSource;
}

/** A validation rule on a node: `holds(self)` sees the node's value after pruning and defaulting. */
export interface Rule {
  readonly message: string;
  /**
   * Quote the value in `Invalid value: …` (as the API server's own checks of core types do);
   * otherwise the node's type stands there (`Invalid value: "object"`), as for CEL rules.
   */
  readonly showValue?: boolean;
  // Rules read the JSON shape their node's schema guarantees; a rule that throws does not hold.
  readonly holds: (self: any) => boolean;
}

interface Base {
  readonly default?: Json;
  readonly rules?: readonly Rule[];
}

export interface ObjectSchema extends Base {
  readonly type: "object";
  readonly properties: Readonly<Record<string, Schema>>;
  readonly required: readonly string[];
  /** The schema of every value of a map (`additionalProperties`); fields are then never pruned. */
  readonly values?: Schema;
  /** Keeps fields the schema does not name (`x-kubernetes-preserve-unknown-fields`). */
  readonly keepUnknown?: boolean;
}

export interface ArraySchema extends Base {
  readonly type: "array";
  readonly items: Schema;
  readonly minItems?: number;
  readonly maxItems?: number;
  /** `map` lists must not repeat their key fields; `set` lists must not repeat an item. */
  readonly listType?: "map" | "set";
  readonly mapKeys?: readonly string[];
}

export interface StringSchema extends Base {
  readonly type: "string";
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  readonly enum?: readonly string[];
  readonly format?: "date-time";
}

export interface NumberSchema extends Base {
  readonly type: "integer" | "number";
  readonly minimum?: number;
  readonly maximum?: number;
  readonly enum?: readonly number[];
}

export interface BooleanSchema extends Base {
  readonly type: "boolean";
}

/** Any JSON value, kept as written. */
export interface AnySchema extends Base {
  readonly type: "any";
}

export type Schema = ObjectSchema | ArraySchema | StringSchema | NumberSchema | BooleanSchema | AnySchema;

// ---------- builders ----------

type Options<S> = Omit<S, "type" | "properties" | "items" | "required"> & { readonly required?: readonly string[] };

export function object(properties: Record<string, Schema>, options: Options<ObjectSchema> = {}): ObjectSchema {
  return { type: "object", properties, required: options.required ?? [], ...withoutRequired(options) };
}

/** A map from any key to values of one schema (`labels`, `annotations`). */
export function mapOf(values: Schema, options: Omit<Options<ObjectSchema>, "values"> = {}): ObjectSchema {
  return { type: "object", properties: {}, required: [], values, ...withoutRequired(options) };
}

export function array(items: Schema, options: Omit<ArraySchema, "type" | "items"> = {}): ArraySchema {
  return { type: "array", items, ...options };
}

export function string(options: Omit<StringSchema, "type"> = {}): StringSchema {
  return { type: "string", ...options };
}

export function integer(options: Omit<NumberSchema, "type"> = {}): NumberSchema {
  return { type: "integer", ...options };
}

export function boolean(options: Omit<BooleanSchema, "type"> = {}): BooleanSchema {
  return { type: "boolean", ...options };
}

export function anything(): AnySchema {
  return { type: "any" };
}

/** A rule: `message` is what the API answers when `holds` is false. */
export function rule(message: string, holds: Rule["holds"], options: { showValue?: boolean } = {}): Rule {
  return { message, holds, ...options };
}

function withoutRequired<T extends { required?: unknown }>(options: T): Omit<T, "required"> {
  const { required: _required, ...rest } = options;
  return rest;
}

// ---------- the walk ----------

export interface Conformed {
  /** The value after pruning and defaulting (what the API server stores). */
  readonly value: Json;
  readonly violations: Violation[];
  /** Fields dropped because the schema does not know them. */
  readonly pruned: string[];
}

/** Prunes, defaults and validates `value` against `schema`; `path` names the value (`""` for an object root). */
export function conform(schema: Schema, value: Json, path = ""): Conformed {
  const state: Conformed = { value: null, violations: [], pruned: [] };
  return { ...state, value: walk(schema, value, path, state) };
}

function walk(schema: Schema, value: Json, path: string, out: Conformed): Json {
  switch (schema.type) {
    case "any":
      return value;
    case "object":
      return walkObject(schema, value, path, out);
    case "array":
      return walkArray(schema, value, path, out);
    case "string":
      return walkString(schema, value, path, out);
    case "integer":
    case "number":
      return walkNumber(schema, value, path, out);
    case "boolean":
      if (typeof value !== "boolean") typeMismatch(path, value, "boolean", out);
      else runRules(schema, value, path, "boolean", out);
      return value;
  }
}

function walkObject(schema: ObjectSchema, value: Json, path: string, out: Conformed): Json {
  if (!isJsonObject(value)) {
    typeMismatch(path, value, "object", out);
    return value;
  }
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const fieldPath = child(path, key);
    const known = schema.properties[key] ?? schema.values;
    if (known) {
      if (item === null) continue; // no field of ours is nullable: a null means "absent"
      result[key] = walk(known, item, fieldPath, out);
    } else if (schema.keepUnknown) {
      result[key] = item;
    } else {
      out.pruned.push(fieldPath);
    }
  }
  for (const [key, property] of Object.entries(schema.properties)) {
    if (result[key] === undefined && property.default !== undefined) {
      result[key] = walk(property, deepClone(property.default), child(path, key), out);
    }
  }
  for (const key of schema.required) {
    if (result[key] === undefined) violation(out, "FieldValueRequired", child(path, key), "Required value");
  }
  runRules(schema, result, path, "object", out);
  return result;
}

function walkArray(schema: ArraySchema, value: Json, path: string, out: Conformed): Json {
  if (!Array.isArray(value)) {
    typeMismatch(path, value, "array", out);
    return value;
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    violation(out, "FieldValueTooMany", path, `Too many: ${value.length}: must have at most ${schema.maxItems} items`);
  }
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    invalid(out, path, value, `${inBody(path)} should have at least ${schema.minItems} items`);
  }
  const items = value.map((item, i) => walk(schema.items, item, `${path}[${i}]`, out));
  if (schema.listType) checkUnique(schema, items, path, out);
  runRules(schema, items, path, "array", out);
  return items;
}

function checkUnique(schema: ArraySchema, items: Json[], path: string, out: Conformed): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    let identity: Json = item;
    if (schema.listType === "map" && isJsonObject(item)) {
      identity = Object.fromEntries((schema.mapKeys ?? []).filter((k) => item[k] !== undefined).map((k) => [k, item[k] as Json]));
    }
    const key = JSON.stringify(identity);
    if (seen.has(key)) violation(out, "FieldValueDuplicate", `${path}[${i}]`, `Duplicate value: ${key}`);
    seen.add(key);
  });
}

function walkString(schema: StringSchema, value: Json, path: string, out: Conformed): Json {
  if (typeof value !== "string") {
    typeMismatch(path, value, "string", out);
    return value;
  }
  const length = [...value].length;
  if (schema.maxLength !== undefined && length > schema.maxLength) {
    violation(out, "FieldValueTooLong", path, `Too long: may not be more than ${schema.maxLength} bytes`);
  }
  if (schema.minLength !== undefined && length < schema.minLength) {
    invalid(out, path, value, `${inBody(path)} should be at least ${schema.minLength} chars long`);
  }
  if (schema.pattern && !schema.pattern.test(value)) {
    invalid(out, path, value, `${inBody(path)} should match '${schema.pattern.source}'`);
  }
  if (schema.format === "date-time" && !isDateTime(value)) {
    invalid(out, path, value, `${inBody(path)} must be of type date-time: ${JSON.stringify(value)}`);
  }
  if (schema.enum && !schema.enum.includes(value)) notSupported(out, path, value, schema.enum);
  runRules(schema, value, path, "string", out);
  return value;
}

function walkNumber(schema: NumberSchema, value: Json, path: string, out: Conformed): Json {
  if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value))) {
    typeMismatch(path, value, schema.type, out);
    return value;
  }
  if (schema.minimum !== undefined && value < schema.minimum) {
    invalid(out, path, value, `${inBody(path)} should be greater than or equal to ${schema.minimum}`);
  }
  if (schema.maximum !== undefined && value > schema.maximum) {
    invalid(out, path, value, `${inBody(path)} should be less than or equal to ${schema.maximum}`);
  }
  if (schema.enum && !schema.enum.includes(value)) notSupported(out, path, value, schema.enum);
  runRules(schema, value, path, schema.type, out);
  return value;
}

function runRules(schema: Schema, value: Json, path: string, typeName: string, out: Conformed): void {
  for (const { message, holds, showValue } of schema.rules ?? []) {
    let ok: boolean;
    try {
      ok = holds(value);
    } catch {
      ok = false;
    }
    const what = showValue ? shown(value) : `"${typeName}"`;
    if (!ok) out.violations.push({ reason: "FieldValueInvalid", field: path, message: `Invalid value: ${what}: ${message}`, source: "rule" });
  }
}

// ---------- wording ----------

/** RFC 3339 date-time, as the API server's `date-time` format accepts it. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function isDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 60;
}

export function child(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function inBody(path: string): string {
  return `${path} in body`;
}

function jsonTypeOf(value: Json): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return "object";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function typeMismatch(path: string, value: Json, expected: string, out: Conformed): void {
  const found = jsonTypeOf(value);
  out.violations.push({
    reason: "FieldValueTypeInvalid",
    field: path,
    message: `Invalid value: "${found}": ${inBody(path)} must be of type ${expected}: "${found}"`,
    source: "schema",
  });
}

function violation(out: Conformed, reason: CauseReason, field: string, message: string): void {
  out.violations.push({ reason, field, message, source: "schema" });
}

function invalid(out: Conformed, field: string, value: Json, detail: string): void {
  violation(out, "FieldValueInvalid", field, `Invalid value: ${shown(value)}: ${detail}`);
}

function notSupported(out: Conformed, field: string, value: string | number, supported: readonly (string | number)[]): void {
  violation(out, "FieldValueNotSupported", field, `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => `"${s}"`).join(", ")}`);
}

/** A value as the API server prints it in `Invalid value: …`: strings quoted, numbers bare, else the type. */
export function shown(value: Json): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `"${jsonTypeOf(value)}"`;
}
