/**
 * `fieldSelector` as the API server reads it (`k8s.io/apimachinery/pkg/fields`): comma-separated
 * terms `key=value`, `key==value` or `key!=value` on dotted JSON paths, with `\,` `\=` `\\` escapes in
 * values. The agent uses `status.connectionDetails.publicKey.id=<id>` and
 * `spec.connectorRef.name=<name>` (docs/wire-facts.md#kinds). A missing field reads as the empty
 * string, as in the API server's field sets.
 */
import { type Json, isJsonObject, valueAtPath } from "./json.ts";

export type FieldOperator = "=" | "!=";

export interface FieldRequirement {
  readonly field: string;
  readonly path: readonly string[];
  readonly operator: FieldOperator;
  readonly value: string;
}

export class FieldSelectorError extends Error {
  override readonly name = "FieldSelectorError";
}

/** Decodes one `application/x-www-form-urlencoded` query value (`+` is a space, `%3D` is `=`). */
export function decodeQueryValue(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    throw new FieldSelectorError(`invalid percent-encoding in query value '${raw}'`);
  }
}

/** Parses an already-decoded selector; an empty selector matches everything. */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  const requirements: FieldRequirement[] = [];
  for (const term of splitUnescaped(selector, ",")) {
    if (term === "") continue;
    requirements.push(parseTerm(term, selector));
  }
  return requirements;
}

export function matchesFieldSelector(object: Json, requirements: readonly FieldRequirement[]): boolean {
  return requirements.every((req) => {
    const actual = fieldValue(object, req.path);
    return req.operator === "=" ? actual === req.value : actual !== req.value;
  });
}

/** The string form of a field, as the API server's field set holds it. */
export function fieldValue(object: Json, path: readonly string[]): string {
  const value = valueAtPath(object, path);
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  // Lists and maps are never selectable; render them so they can only match on purpose.
  return isJsonObject(value) || Array.isArray(value) ? JSON.stringify(value) : "";
}

function parseTerm(term: string, selector: string): FieldRequirement {
  for (let i = 0; i < term.length; i++) {
    const ch = term[i];
    if (ch === "\\") {
      i++;
      continue;
    }
    let operator: FieldOperator | undefined;
    let width = 0;
    if (term.startsWith("!=", i)) [operator, width] = ["!=", 2];
    else if (term.startsWith("==", i)) [operator, width] = ["=", 2];
    else if (ch === "=") [operator, width] = ["=", 1];
    if (operator === undefined) continue;
    const field = term.slice(0, i);
    if (field === "") break;
    return {
      field,
      path: field.split("."),
      operator,
      value: unescapeValue(term.slice(i + width), selector),
    };
  }
  throw new FieldSelectorError(`invalid selector: '${selector}'; can't understand '${term}'`);
}

function splitUnescaped(input: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] ?? "";
    if (ch === "\\" && i + 1 < input.length) {
      current += ch + (input[i + 1] ?? "");
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function unescapeValue(value: string, selector: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? "";
    if (ch !== "\\") {
      // An unescaped `=` or `,` inside a value is ambiguous; the API server refuses it too.
      if (ch === "=" || ch === ",") {
        throw new FieldSelectorError(`invalid selector: '${selector}'; unescaped '${ch}' in value '${value}'`);
      }
      out += ch;
      continue;
    }
    const next = value[i + 1];
    if (next !== "\\" && next !== "," && next !== "=") {
      throw new FieldSelectorError(`invalid selector: '${selector}'; invalid escape sequence in value '${value}'`);
    }
    out += next;
    i++;
  }
  return out;
}
