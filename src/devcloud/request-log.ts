/**
 * Every control-plane request the local Datum served, for tests to assert on what the agent sent
 * (method, path, query, headers incl. User-Agent, body). Bearer tokens are never kept: the
 * Authorization header is recorded as `Bearer sha256:<12 hex>`, enough to tell tokens apart.
 */
import { createHash } from "node:crypto";
import type { Json } from "./json.ts";

export interface LoggedRequest {
  readonly seq: number;
  readonly time: string;
  readonly method: string;
  readonly path: string;
  /** The raw query string without `?`. */
  readonly rawQuery: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body?: string;
  /** The body parsed as JSON, when it is JSON. */
  readonly json?: Json;
  readonly project?: string;
  status: number;
  durationMs: number;
  /** Ids of the fault rules that acted on the request. */
  faults: string[];
}

/** Bounded so a long `dev cloud` session cannot grow without limit. */
const MAX_ENTRIES = 5_000;

export function tokenFingerprint(token: string): string {
  return `sha256:${createHash("sha256").update(token).digest("hex").slice(0, 12)}`;
}

export function redactAuthorization(value: string): string {
  const m = /^(\S+)\s+(.+)$/.exec(value.trim());
  if (!m) return `<redacted ${tokenFingerprint(value)}>`;
  return `${m[1]} ${tokenFingerprint(m[2] ?? "")}`;
}

export function redactHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = name.toLowerCase() === "authorization" ? redactAuthorization(value) : value;
  });
  return out;
}

export class RequestLog {
  #entries: LoggedRequest[] = [];
  #seq = 0;

  record(entry: Omit<LoggedRequest, "seq">): LoggedRequest {
    const logged: LoggedRequest = { ...entry, seq: ++this.#seq };
    this.#entries.push(logged);
    if (this.#entries.length > MAX_ENTRIES) this.#entries.splice(0, this.#entries.length - MAX_ENTRIES);
    return logged;
  }

  entries(): LoggedRequest[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  clear(): void {
    this.#entries = [];
  }
}
