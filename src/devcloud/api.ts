/**
 * The local Datum's HTTP API: project control planes under
 * `/apis/resourcemanager.miloapis.com/v1alpha1/projects/{project}/control-plane`
 * (docs/wire-facts.md#control-plane, docs/architecture.md#local-datum) plus the `/_dev/` admin
 * API. A plain `(Request) => Promise<Response>`, so it runs in
 * `Bun.serve` and in tests alike. Every control-plane request goes through fault injection, then
 * bearer authentication, then the store, and is recorded in the request log.
 */
import { handleAdmin } from "./admin.ts";
import { type ApiPath, namespaceExists, parseApiPath, splitProjectPath } from "./api-paths.ts";
import { checkBearer } from "./auth.ts";
import { DevCloud } from "./cloud.ts";
import type { Controllers } from "./controllers.ts";
import {
  coreResources,
  coreVersions,
  groupDocument,
  groupList,
  knownGroup,
  namespaceObject,
  resourceList,
  versionInfo,
} from "./discovery.ts";
import { quotaMessage } from "./faults.ts";
import {
  FieldSelectorError,
  type FieldRequirement,
  decodeQueryValue,
  matchesFieldSelector,
  parseFieldSelector,
} from "./field-selector.ts";
import { type Json, type JsonObject, isJsonObject } from "./json.ts";
import { generateObjectName } from "./names.ts";
import { metadataOf } from "./objects.ts";
import { redactHeaders } from "./request-log.ts";
import { isSelectableField, type ResourceType } from "./resources.ts";
import { ApiError, Errors, defaultMessageForCode, failureStatus, reasonForCode, successStatus } from "./status.ts";
import { formatTime } from "./time.ts";

export interface RequestInfo {
  /** The peer's IP address (`server.requestIP`), used to keep `/_dev/` loopback-only. */
  readonly remoteAddress?: string;
}

export type Handler = (req: Request, info?: RequestInfo) => Promise<Response>;

export function createHandler(cloud: DevCloud, controllers: Controllers): Handler {
  return async (req, info = {}) => {
    const url = new URL(req.url);
    if (url.pathname === "/_dev" || url.pathname.startsWith("/_dev/")) {
      return handleAdmin(cloud, controllers, req, url, info.remoteAddress);
    }
    const started = performance.now();
    const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    const outcome = await serve(cloud, req, url, body);
    cloud.requests.record({
      time: new Date(cloud.now()).toISOString(),
      method: req.method,
      path: url.pathname,
      rawQuery: url.search.replace(/^\?/, ""),
      query: Object.fromEntries(url.searchParams),
      headers: redactHeaders(req.headers),
      ...(body !== "" ? { body } : {}),
      ...(body !== "" && parsesAsJson(body) ? { json: JSON.parse(body) as Json } : {}),
      ...(outcome.project !== undefined ? { project: outcome.project } : {}),
      status: outcome.response.status,
      durationMs: Math.round(performance.now() - started),
      faults: outcome.faults,
    });
    return outcome.response;
  };
}

interface Outcome {
  readonly response: Response;
  readonly project?: string;
  readonly faults: string[];
}

async function serve(cloud: DevCloud, req: Request, url: URL, body: string): Promise<Outcome> {
  const split = splitProjectPath(url.pathname);
  if (!split || !DevCloud.isProjectId(split.project)) {
    return { response: statusResponse(Errors.pathNotFound()), faults: [] };
  }
  const { project, rest } = split;
  const path = parseApiPath(rest);
  const resource = path.type === "collection" || path.type === "object" ? path.resource : undefined;

  const decision = cloud.faults.decide(
    { method: req.method, path: url.pathname, project, ...(resource ? { resource: resource.plural } : {}) },
    cloud.now(),
  );
  if (decision.latencyMs > 0) await Bun.sleep(decision.latencyMs);
  const rule = decision.answer;
  if (rule) {
    const faults = [...decision.ruleIds];
    if (rule.body !== undefined) {
      const status = rule.status ?? 500;
      return { response: new Response(rule.body, { status, headers: { "content-type": rule.contentType ?? "application/json" } }), project, faults };
    }
    if (rule.quota) {
      const name = objectNameForMessage(path, body, cloud);
      const message = quotaMessage(rule.quota, resource?.plural ?? "", resource?.group ?? "", name);
      return { response: json(failureStatus(403, "Forbidden", message, resource ? { name, group: resource.group, kind: resource.plural } : undefined), 403), project, faults };
    }
    const code = rule.status ?? 500;
    const message = rule.message ?? defaultMessageForCode(code);
    return { response: json(failureStatus(code, rule.reason ?? reasonForCode(code), message), code), project, faults };
  }

  const verdict = checkBearer(req.headers.get("authorization"), cloud.deniedTokens, cloud.now());
  if (!verdict.ok) return { response: statusResponse(Errors.unauthorized()), project, faults: decision.ruleIds.slice() };

  try {
    const response = dispatch(cloud, project, path, req, url, body);
    return { response, project, faults: decision.ruleIds.slice() };
  } catch (err) {
    if (err instanceof ApiError) return { response: statusResponse(err), project, faults: decision.ruleIds.slice() };
    const message = err instanceof Error ? err.message : String(err);
    console.error(`devcloud: ${req.method} ${url.pathname} failed: ${message}`);
    return {
      response: json(failureStatus(500, "InternalError", `Internal error occurred: ${message}`), 500),
      project,
      faults: decision.ruleIds.slice(),
    };
  }
}

function dispatch(cloud: DevCloud, project: string, path: ApiPath, req: Request, url: URL, body: string): Response {
  const method = req.method;
  const readOnly = method === "GET" || method === "HEAD";
  switch (path.type) {
    case "version":
      return readOnly ? json(versionInfo()) : notAllowed(method);
    case "coreVersions":
      return readOnly ? json(coreVersions(url.host)) : notAllowed(method);
    case "coreResources":
      return readOnly ? json(coreResources()) : notAllowed(method);
    case "namespaces":
      if (!readOnly) return notAllowed(method);
      if (path.name === undefined) {
        return json({ apiVersion: "v1", kind: "NamespaceList", metadata: { resourceVersion: cloud.resourceVersion() }, items: [defaultNamespace()] });
      }
      if (path.name !== "default") throw Errors.notFound("namespaces", "", path.name);
      return json(defaultNamespace());
    case "groups":
      return readOnly ? json(groupList()) : notAllowed(method);
    case "group":
      if (!knownGroup(path.group)) throw Errors.pathNotFound();
      return readOnly ? json(groupDocument(path.group)) : notAllowed(method);
    case "groupVersion": {
      const list = resourceList(path.group, path.version);
      if (!list) throw Errors.pathNotFound();
      return readOnly ? json(list) : notAllowed(method);
    }
    case "collection":
      return collection(cloud, project, path.resource, path.namespace, method, url, req, body);
    case "object":
      return object(cloud, project, path, method, url, req, body);
    case "unknown":
      // kubectl asks for OpenAPI documents and copes with a 404, as with any path we do not serve.
      throw Errors.pathNotFound();
  }
}

function collection(
  cloud: DevCloud,
  project: string,
  rt: ResourceType,
  namespace: string | undefined,
  method: string,
  url: URL,
  req: Request,
  body: string,
): Response {
  const store = cloud.project(project);
  if (method === "GET") {
    if (isTruthy(url.searchParams.get("watch"))) throw Errors.badRequest("watch is not supported by the local Datum");
    const fields = parseSelector(url, "fieldSelector");
    for (const requirement of fields) {
      if (!isSelectableField(rt, requirement.field)) throw Errors.badRequest(`field label not supported: ${requirement.field}`);
    }
    const labels = parseSelector(url, "labelSelector");
    const items = namespaceExists(namespace)
      ? store.list(rt).filter((obj) => matchesFieldSelector(obj, fields) && matchesLabels(obj, labels))
      : [];
    return json({ apiVersion: rt.apiVersion, kind: rt.listKind, metadata: { resourceVersion: cloud.resourceVersion() }, items });
  }
  if (method === "POST") {
    if (namespace === undefined && rt.namespaced) throw Errors.methodNotAllowed(method);
    if (!namespaceExists(namespace)) throw Errors.notFound("namespaces", "", namespace ?? "");
    const created = store.create(rt, parseBody(req, body), { dryRun: dryRunOf(url, undefined) });
    return json(created, 201);
  }
  return notAllowed(method);
}

function object(
  cloud: DevCloud,
  project: string,
  path: Extract<ApiPath, { type: "object" }>,
  method: string,
  url: URL,
  req: Request,
  body: string,
): Response {
  const { resource: rt, name, subresource } = path;
  const store = cloud.project(project);
  if (!namespaceExists(path.namespace)) throw Errors.notFound(rt.plural, rt.group, name);
  switch (method) {
    case "GET":
      return json(store.get(rt, name));
    case "PATCH": {
      const mediaType = (req.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      if (mediaType !== "application/merge-patch+json") throw Errors.unsupportedPatch();
      const patched = store.patch(rt, name, parseJson(body), {
        dryRun: dryRunOf(url, undefined),
        ...(subresource ? { subresource } : {}),
      });
      return json(patched);
    }
    case "DELETE": {
      if (subresource) return notAllowed(method);
      const options = body.trim() === "" ? undefined : parseJson(body);
      const result = store.delete(rt, name, { dryRun: dryRunOf(url, options) });
      if (!result.removed) return json(result.object);
      return json(successStatus({ name, group: rt.group, kind: rt.plural, uid: String(metadataOf(result.object).uid ?? "") }));
    }
    default:
      return notAllowed(method);
  }
}

function parseSelector(url: URL, param: "fieldSelector" | "labelSelector"): FieldRequirement[] {
  // URLSearchParams already decoded `%3D`, `%2C` and `+`; decode the raw text ourselves to keep
  // one definition of that decoding (decodeQueryValue) for the table tests and the server.
  const raw = rawQueryParam(url.search, param);
  if (raw === undefined) return [];
  try {
    return parseFieldSelector(decodeQueryValue(raw));
  } catch (err) {
    if (err instanceof FieldSelectorError) throw Errors.badRequest(err.message);
    throw err;
  }
}

function rawQueryParam(search: string, name: string): string | undefined {
  for (const pair of search.replace(/^\?/, "").split("&")) {
    const eq = pair.indexOf("=");
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key === name) return eq === -1 ? "" : pair.slice(eq + 1);
  }
  return undefined;
}

/** Equality label selectors (`app=x`, `app!=y`); keys hold dots and slashes, so no path split. */
function matchesLabels(obj: JsonObject, requirements: readonly FieldRequirement[]): boolean {
  if (requirements.length === 0) return true;
  const labels = metadataOf(obj).labels;
  return requirements.every((req) => {
    const value = isJsonObject(labels) && typeof labels[req.field] === "string" ? (labels[req.field] as string) : "";
    return req.operator === "=" ? value === req.value : value !== req.value;
  });
}

function dryRunOf(url: URL, options: Json | undefined): boolean {
  const values = url.searchParams.getAll("dryRun");
  if (isJsonObject(options) && Array.isArray(options.dryRun)) {
    for (const item of options.dryRun) if (typeof item === "string") values.push(item);
  }
  for (const value of values) {
    if (value !== "All") throw Errors.badRequest(`dryRun: Unsupported value: "${value}": supported values: "All"`);
  }
  return values.length > 0;
}

function parseBody(req: Request, body: string): Json {
  const mediaType = (req.headers.get("content-type") ?? "application/json").split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType === "application/yaml") {
    try {
      return Bun.YAML.parse(body) as Json;
    } catch (err) {
      throw Errors.badRequest(`error converting YAML to JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (mediaType !== "application/json" && mediaType !== "*/*" && mediaType !== "") {
    throw new ApiError(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  }
  return parseJson(body);
}

function parseJson(body: string): Json {
  try {
    return JSON.parse(body) as Json;
  } catch (err) {
    throw Errors.badRequest(`couldn't get version/kind; json parse error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parsesAsJson(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

/** The object name a quota message would name: the URL's, the body's, or one from generateName. */
function objectNameForMessage(path: ApiPath, body: string, cloud: DevCloud): string {
  if (path.type === "object") return path.name;
  const parsed = parsesAsJson(body) ? (JSON.parse(body) as Json) : undefined;
  const meta = isJsonObject(parsed) && isJsonObject(parsed.metadata) ? parsed.metadata : {};
  if (typeof meta.name === "string" && meta.name !== "") return meta.name;
  if (typeof meta.generateName === "string" && meta.generateName !== "") return generateObjectName(meta.generateName, cloud.random);
  return "";
}

function defaultNamespace(): JsonObject {
  return namespaceObject("default", formatTime(0));
}

function isTruthy(value: string | null): boolean {
  return value === "true" || value === "1";
}

function notAllowed(method: string): Response {
  return statusResponse(Errors.methodNotAllowed(method));
}

function statusResponse(err: ApiError): Response {
  return json(err.toStatus(), err.code);
}

function json(body: JsonObject, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}
