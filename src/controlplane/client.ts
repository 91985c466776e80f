/**
 * A client for one project's control plane (docs/wire-facts.md#control-plane, #writes): typed get/list/create/
 * merge-patch/delete over ofetch, every answer validated with the kind's valibot schema.
 *
 * Each call runs a small retry loop whose decisions are pure (`classifyFailure`, `decideRetry`):
 * one retry with a fresh token after a 401, the quota-check schedule for the quota admission's
 * transient 403s, and a fixed-spacing budget for 5xx/network trouble, after which the call fails with
 * `Unreachable` (69). Sleeping is injected so tests never wait. The bearer token goes into the
 * `Authorization` header and nowhere else: no error, notice or detail ever contains it.
 */
import { createFetch, type $Fetch } from "ofetch";
import * as v from "valibot";
import { ConfigError } from "../errors.ts";
import { proxiedFetch, proxySettingsFrom, redactProxyCredentials, type ProxySettings } from "../net/proxy.ts";
import {
  DEFAULT_TRANSIENT_BUDGET,
  INITIAL_RETRY_STATE,
  QUOTA_CHECK_WINDOW_S,
  decideRetry,
  realSleep,
  type Sleep,
  type TransientBudget,
} from "../retry/budget.ts";
import { apiVersionOf, Kinds, type KindName, projectControlPlaneUrl, resourcePath } from "./kinds.ts";
import { listOf, SchemaOf, Status } from "./schemas.ts";
import {
  type CallContext,
  certainlyUnprocessed,
  classifyFailure,
  type Failure,
  malformedResponse,
  notAuthenticated,
  quotaCheckExhausted,
  quotaWaitNotice,
  unreachable,
  type Verb,
} from "./status-error.ts";
import { userAgent } from "./user-agent.ts";

/** Where bearer tokens come from (implemented by `src/auth/token-source.ts`). */
export interface TokenProvider {
  token(): Promise<string>;
  /** The server rejected `rejected`: get a fresh one (never the same string back, if avoidable). */
  invalidate(rejected: string): Promise<string>;
}

export type KindObject<K extends KindName> = v.InferOutput<(typeof SchemaOf)[K]>;

export interface ControlPlaneClientOptions {
  /** API base, e.g. `https://api.datum.net` (the project path is appended). */
  readonly apiBase: string;
  readonly project: string;
  readonly tokens: TokenProvider;
  /** Per-attempt deadline (default 10 s): a hung connection counts as a transient failure. */
  readonly attemptTimeoutMs?: number;
  readonly budget?: TransientBudget;
  readonly sleep?: Sleep;
  /** Where one-line progress notices go (the quota-check wait); stderr by default. */
  readonly notice?: (line: string) => void;
  /** Where debug lines go (list items skipped as unreadable); nowhere by default. */
  readonly debug?: (line: string) => void;
  /** Cancels the call in flight and any retry wait. */
  readonly signal?: AbortSignal;
  /** The fetch implementation underneath ofetch (tests inject one). */
  readonly fetch?: typeof globalThis.fetch;
  /** The HTTP proxy settings (src/net/proxy.ts); this process's environment by default. */
  readonly proxy?: ProxySettings;
  readonly userAgent?: string;
}

export interface WriteOptions {
  /** Server-side dry run (`?dryRun=All`): validated and admitted (quota, RBAC), never stored. */
  readonly dryRun?: boolean;
}

export interface ReadOptions {
  /**
   * This call's transient budget instead of the client's: a caller that runs its own retry loop
   * (setup polling) passes a small one, so the two budgets do not multiply.
   */
  readonly budget?: TransientBudget;
}

export interface ListOptions {
  /** Equality field selector, e.g. `{ "spec.connectorRef.name": "datum-connect-x" }`. */
  readonly fieldSelector?: Readonly<Record<string, string>>;
}

interface Request {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

/** A call's final HTTP answer that the verb itself interprets (2xx, or a 404/409 it expects). */
interface Answer {
  readonly status: number;
  readonly body: string;
  /** An earlier attempt failed in a way that leaves open whether the server applied it. */
  readonly afterAmbiguousAttempt: boolean;
}

const MERGE_PATCH = "application/merge-patch+json";
const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;

export class ControlPlaneClient {
  readonly project: string;
  /** The project control-plane URL (`…/projects/<p>/control-plane`). */
  readonly baseUrl: string;
  /** Host of the API, named in errors. */
  readonly host: string;

  readonly #tokens: TokenProvider;
  readonly #fetch: $Fetch;
  readonly #attemptTimeoutMs: number;
  readonly #budget: TransientBudget;
  readonly #sleep: Sleep;
  readonly #notice: (line: string) => void;
  readonly #debug: (line: string) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #userAgent: string;
  readonly #proxy: ProxySettings;

  constructor(options: ControlPlaneClientOptions) {
    let url: URL;
    try {
      url = new URL(options.apiBase);
    } catch {
      throw new ConfigError(`Invalid API host '${options.apiBase}'`, "set DATUM_API_HOST to a URL such as https://api.datum.net");
    }
    this.project = options.project;
    this.host = url.host;
    this.baseUrl = projectControlPlaneUrl(options.apiBase, options.project);
    this.#tokens = options.tokens;
    this.#proxy = options.proxy ?? proxySettingsFrom(process.env);
    this.#fetch = createFetch({ fetch: proxiedFetch(this.#proxy, options.fetch ?? globalThis.fetch) });
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.#budget = options.budget ?? DEFAULT_TRANSIENT_BUDGET;
    this.#sleep = options.sleep ?? realSleep;
    this.#notice = options.notice ?? ((line) => process.stderr.write(`${line}\n`));
    this.#debug = options.debug ?? (() => undefined);
    this.#signal = options.signal;
    this.#userAgent = options.userAgent ?? userAgent();
  }

  /** The object, or `undefined` when it does not exist. */
  async get<K extends KindName>(kind: K, name: string, options: ReadOptions = {}): Promise<KindObject<K> | undefined> {
    const ctx = this.#context("get", kind, name);
    const answer = await this.#call(ctx, { method: "GET", path: resourcePath(Kinds[kind], name) }, [404], options.budget);
    if (answer.status === 404) return undefined;
    return this.#parse(ctx, SchemaOf[kind], answer.body) as KindObject<K>;
  }

  async list<K extends KindName>(kind: K, options: ListOptions = {}): Promise<KindObject<K>[]> {
    const ctx = this.#context("list", kind);
    const query: Record<string, string> = {};
    const selector = Object.entries(options.fieldSelector ?? {})
      .map(([field, value]) => `${field}=${value}`)
      .join(",");
    if (selector) query.fieldSelector = selector;
    const answer = await this.#call(ctx, { method: "GET", path: resourcePath(Kinds[kind]), query });
    // Item by item: one object this version cannot read (someone else's) is
    // skipped and said at debug level, never a failure of the whole listing.
    const list = this.#parse(ctx, listOf(v.unknown()), answer.body);
    const items: KindObject<K>[] = [];
    for (const item of list.items) {
      const parsed = v.safeParse(SchemaOf[kind], item);
      if (parsed.success) items.push(parsed.output as KindObject<K>);
      else this.#debug(`skipping ${Kinds[kind].kind} ${itemName(item)} in the listing: unreadable (${v.summarize(parsed.issues).replace(/\n/g, "; ")})`);
    }
    return items;
  }

  /** POST a new object (`apiVersion`/`kind` are filled in when absent). */
  async create<K extends KindName>(kind: K, body: Record<string, unknown>, options: WriteOptions = {}): Promise<KindObject<K>> {
    const info = Kinds[kind];
    const full = { apiVersion: apiVersionOf(info), kind: info.kind, ...body };
    const name = metadataName(body);
    const ctx = this.#context("create", kind, name);
    const answer = await this.#call(
      ctx,
      { method: "POST", path: resourcePath(info), query: dryRunQuery(options), body: full },
      name === undefined ? [] : [409],
    );
    if (answer.status === 409) {
      // Our earlier attempt was applied after all (its answer got lost): the object is ours.
      const existing = answer.afterAmbiguousAttempt && name !== undefined ? await this.get(kind, name) : undefined;
      if (existing) return existing;
      const conflict = classifyFailure({ type: "http", status: 409, body: answer.body }, ctx);
      throw conflict.type === "final" ? conflict.error : malformedResponse(ctx, "unexpected 409");
    }
    return this.#parse(ctx, SchemaOf[kind], answer.body) as KindObject<K>;
  }

  /** JSON merge patch (RFC 7386) of the object: `null` removes a field, arrays replace whole. */
  async patch<K extends KindName>(kind: K, name: string, patch: Record<string, unknown>, options: WriteOptions = {}): Promise<KindObject<K>> {
    const ctx = this.#context("patch", kind, name);
    const answer = await this.#call(ctx, {
      method: "PATCH",
      path: resourcePath(Kinds[kind], name),
      query: dryRunQuery(options),
      body: patch,
    });
    return this.#parse(ctx, SchemaOf[kind], answer.body) as KindObject<K>;
  }

  /** JSON merge patch of the `/status` subresource (does not bump `metadata.generation`). */
  async patchStatus<K extends KindName>(kind: K, name: string, patch: Record<string, unknown>): Promise<KindObject<K>> {
    const ctx = this.#context("patchStatus", kind, name);
    const answer = await this.#call(ctx, { method: "PATCH", path: resourcePath(Kinds[kind], name, "status"), body: patch });
    return this.#parse(ctx, SchemaOf[kind], answer.body) as KindObject<K>;
  }

  /** `true` when the object was deleted (or marked for deletion), `false` when it did not exist. */
  async delete(kind: KindName, name: string, options: WriteOptions = {}): Promise<boolean> {
    const ctx = this.#context("delete", kind, name);
    const answer = await this.#call(
      ctx,
      { method: "DELETE", path: resourcePath(Kinds[kind], name), query: dryRunQuery(options) },
      [404],
    );
    // A 404 right after an attempt whose answer got lost means that attempt did the deleting.
    if (answer.status === 404) return answer.afterAmbiguousAttempt;
    // Kubernetes answers a delete with the object (finalizers pending) or a success Status.
    if (!v.is(Status, safeJson(answer.body))) this.#parse(ctx, SchemaOf[kind], answer.body);
    return true;
  }

  #context(verb: Verb, kind: KindName, name?: string): CallContext {
    const info = Kinds[kind];
    return { verb, kind: info.kind, plural: info.plural, name, project: this.project, host: this.host };
  }

  #parse<S extends v.GenericSchema>(ctx: CallContext, schema: S, body: string): v.InferOutput<S> {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (err) {
      throw malformedResponse(ctx, `not JSON: ${(err as Error).message}`);
    }
    const parsed = v.safeParse(schema, json);
    if (!parsed.success) throw malformedResponse(ctx, v.summarize(parsed.issues));
    return parsed.output;
  }

  /**
   * Send `req` until it succeeds, the verb-specific `expected` statuses come back, or a failure is
   * final. Returns the last answer; throws a `CliError` otherwise.
   */
  async #call(ctx: CallContext, req: Request, expected: readonly number[] = [], budget: TransientBudget = this.#budget): Promise<Answer> {
    let state = INITIAL_RETRY_STATE;
    // Asked before every attempt, so a token the source renewed during a long wait is picked up;
    // right after a 401 the fresh token from `invalidate` is used as handed over.
    let refreshed: string | undefined;
    let ambiguous = false;
    for (;;) {
      const token = refreshed ?? (await this.#tokens.token());
      refreshed = undefined;
      const outcome = await this.#attempt(req, token);
      if (outcome.type === "http" && ((outcome.status >= 200 && outcome.status < 300) || expected.includes(outcome.status))) {
        return { status: outcome.status, body: outcome.body, afterAmbiguousAttempt: ambiguous };
      }
      const verdict = classifyFailure(outcome, ctx);
      if (verdict.type === "final") throw verdict.error;

      const decision = decideRetry(state, verdict.type, budget);
      state = decision.state;
      if (decision.action === "give-up") {
        if (verdict.type === "unauthorized") throw notAuthenticated(ctx, verdict.detail);
        if (verdict.type === "quota-check") throw quotaCheckExhausted(ctx, state.quotaWaits, verdict.message, verdict.detail);
        throw unreachable(ctx, state.transientFailures, verdict.detail);
      }
      if (decision.action === "refresh") {
        refreshed = await this.#tokens.invalidate(token);
        continue;
      }
      if (decision.firstQuotaWait && verdict.type === "quota-check") {
        this.#notice(quotaWaitNotice(ctx, verdict.answer, QUOTA_CHECK_WINDOW_S));
      }
      if (verdict.type === "transient" && !certainlyUnprocessed(outcome)) ambiguous = true;
      await this.#sleep(decision.delayMs, this.#signal);
    }
  }

  async #attempt(req: Request, token: string): Promise<Failure> {
    const headers: Record<string, string> = {
      Accept: "application/json",
      Authorization: `Bearer ${token}`,
      "User-Agent": this.#userAgent,
    };
    if (req.body !== undefined) headers["Content-Type"] = req.method === "PATCH" ? MERGE_PATCH : "application/json";
    const signals = [AbortSignal.timeout(this.#attemptTimeoutMs)];
    if (this.#signal) signals.push(this.#signal);
    try {
      const response = await this.#fetch.raw<string, "text">(this.baseUrl + req.path + queryString(req.query), {
        method: req.method,
        headers,
        // A string body is sent as is: ofetch would otherwise pick its own content type.
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        responseType: "text",
        ignoreResponseError: true,
        retry: false,
        signal: AbortSignal.any(signals),
      });
      return { type: "http", status: response.status, body: typeof response._data === "string" ? response._data : "" };
    } catch (err) {
      if (this.#signal?.aborted) throw this.#signal.reason;
      return networkFailure(err, this.#attemptTimeoutMs, this.#proxy);
    }
  }
}

/** ofetch wraps the fetch error as `cause`; a body read that times out throws the raw error. */
function networkFailure(err: unknown, timeoutMs: number, proxy: ProxySettings): Failure {
  const inner = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (inner instanceof Error && (inner.name === "TimeoutError" || inner.name === "AbortError")) {
    return { type: "timeout", afterMs: timeoutMs };
  }
  const code = inner instanceof Error ? (inner as Error & { code?: unknown }).code : undefined;
  // A proxy's credentials never reach an error or a log line.
  const message = redactProxyCredentials(inner instanceof Error ? inner.message : String(inner), proxy);
  return typeof code === "string" ? { type: "network", code, message } : { type: "network", message };
}

/** `tunnel-abc`, or `<unnamed>` for an item without a readable name. */
function itemName(item: unknown): string {
  const metadata = typeof item === "object" && item !== null ? (item as { metadata?: unknown }).metadata : undefined;
  const name = typeof metadata === "object" && metadata !== null ? (metadata as { name?: unknown }).name : undefined;
  return typeof name === "string" && name !== "" ? name : "<unnamed>";
}

function metadataName(body: Record<string, unknown>): string | undefined {
  const metadata = body.metadata;
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const name = (metadata as { name?: unknown }).name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

function dryRunQuery(options: WriteOptions): Record<string, string> | undefined {
  return options.dryRun ? { dryRun: "All" } : undefined;
}

/** `?fieldSelector=a.b%3Dc`: encoded by hand, exactly as the Kubernetes clients do (ufo would leave `=` bare). */
function queryString(query: Readonly<Record<string, string>> | undefined): string {
  const pairs = Object.entries(query ?? {}).map(([k, val]) => `${encodeURIComponent(k)}=${encodeURIComponent(val)}`);
  return pairs.length ? `?${pairs.join("&")}` : "";
}

function safeJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
