/**
 * `/_dev/` — the test-facing admin API of the local Datum: request log, fault rules, denied
 * tokens, configuration, a state dump and the routing table. Not behind the bearer check, so it is
 * guarded otherwise: loopback peers only, a loopback `Host` (no DNS rebinding from a web page),
 * and JSON bodies (a cross-site form post cannot send one without a CORS preflight we never allow).
 */
import * as v from "valibot";
import type { DevCloud } from "./cloud.ts";
import { DevCloudConfigPatch } from "./config.ts";
import type { Controllers } from "./controllers.ts";
import { FaultRuleInput } from "./faults.ts";

const TokenBody = v.strictObject({ token: v.pipe(v.string(), v.minLength(1)) });
const RelayAction = v.strictObject({ action: v.picklist(["stop", "start", "restart"]) });
const GatewayAction = v.strictObject({ action: v.literal("restart") });
const FaultBody = v.union([FaultRuleInput, v.pipe(v.array(FaultRuleInput), v.minLength(1))]);

export async function handleAdmin(
  cloud: DevCloud,
  controllers: Controllers,
  req: Request,
  url: URL,
  remoteAddress: string | undefined,
): Promise<Response> {
  if (remoteAddress !== undefined && !isLoopbackAddress(remoteAddress)) return error(403, "the admin API answers loopback peers only");
  if (!isLoopbackHost(url.host)) return error(403, "the admin API answers requests addressed to a loopback host only");
  const route = url.pathname.replace(/\/+$/, "");
  const method = req.method;
  if (method === "POST" && !(req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json")) {
    return error(415, "admin requests carry application/json bodies");
  }

  if (route === "/_dev/requests") {
    if (method === "GET") {
      const since = Number(url.searchParams.get("since") ?? "0");
      return ok({ items: cloud.requests.entries().filter((e) => e.seq > since) });
    }
    if (method === "DELETE") {
      cloud.requests.clear();
      return new Response(null, { status: 204 });
    }
  }

  if (route === "/_dev/faults") {
    if (method === "GET") return ok({ items: cloud.faults.list(cloud.now()) });
    if (method === "POST") {
      const parsed = v.safeParse(FaultBody, await readJson(req));
      if (!parsed.success) return error(400, v.summarize(parsed.issues));
      const inputs = Array.isArray(parsed.output) ? parsed.output : [parsed.output];
      return ok({ items: inputs.map((input) => cloud.faults.add(input, cloud.now())) }, 201);
    }
    if (method === "DELETE") {
      cloud.faults.clear();
      return new Response(null, { status: 204 });
    }
  }
  if (route.startsWith("/_dev/faults/") && method === "DELETE") {
    const id = decodeURIComponent(route.slice("/_dev/faults/".length));
    return cloud.faults.remove(id) ? new Response(null, { status: 204 }) : error(404, `no fault rule ${id}`);
  }

  if (route === "/_dev/deny-token") {
    if (method === "POST") {
      const parsed = v.safeParse(TokenBody, await readJson(req));
      if (!parsed.success) return error(400, v.summarize(parsed.issues));
      cloud.deniedTokens.add(parsed.output.token);
      return new Response(null, { status: 204 });
    }
    if (method === "DELETE") {
      const text = await req.text();
      if (text.trim() === "") {
        cloud.deniedTokens.clear();
      } else {
        const parsed = v.safeParse(TokenBody, parseOrUndefined(text));
        if (!parsed.success) return error(400, v.summarize(parsed.issues));
        cloud.deniedTokens.delete(parsed.output.token);
      }
      return new Response(null, { status: 204 });
    }
  }

  if (route === "/_dev/config") {
    if (method === "GET") return ok(cloud.config);
    if (method === "POST") {
      const parsed = v.safeParse(DevCloudConfigPatch, await readJson(req));
      if (!parsed.success) return error(400, v.summarize(parsed.issues));
      try {
        return ok(cloud.configure(parsed.output));
      } catch (err) {
        return error(400, err instanceof v.ValiError ? v.summarize(err.issues) : String(err));
      }
    }
  }

  if (route === "/_dev/relay-server") {
    const relay = cloud.relay;
    if (!relay) return error(404, "this local Datum runs no relay (see dev cloud's first lines for why)");
    const state = () => ({ url: relay.url, running: relay.running(), pid: relay.pid() ?? null });
    if (method === "GET") return ok(state());
    if (method === "POST") {
      const parsed = v.safeParse(RelayAction, await readJson(req));
      if (!parsed.success) return error(400, v.summarize(parsed.issues));
      try {
        if (parsed.output.action === "stop" || parsed.output.action === "restart") await relay.stop();
        if (parsed.output.action === "start" || parsed.output.action === "restart") await relay.start();
      } catch (err) {
        return error(500, err instanceof Error ? err.message : String(err));
      }
      return ok(state());
    }
  }

  if (route === "/_dev/gateway") {
    const gateway = cloud.gateway;
    if (!gateway) return error(404, "this local Datum runs no gateway (see dev cloud's first lines for why)");
    if (method === "GET") return ok({ endpointId: gateway.endpointId() });
    if (method === "POST") {
      const parsed = v.safeParse(GatewayAction, await readJson(req));
      if (!parsed.success) return error(400, v.summarize(parsed.issues));
      try {
        await gateway.restart();
      } catch (err) {
        return error(500, err instanceof Error ? err.message : String(err));
      }
      return ok({ endpointId: gateway.endpointId() });
    }
  }

  if (route === "/_dev/state" && method === "GET") return ok(cloud.snapshot());
  if (route === "/_dev/routes" && method === "GET") return ok({ items: controllers.routes() });

  return error(404, `no admin route ${method} ${url.pathname}`);
}

export function isLoopbackAddress(address: string): boolean {
  return address === "::1" || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(address);
}

function isLoopbackHost(host: string): boolean {
  const hostname = host.replace(/:\d+$/, "");
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

async function readJson(req: Request): Promise<unknown> {
  return parseOrUndefined(await req.text());
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function ok(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function error(status: number, message: string): Response {
  return ok({ error: message }, status);
}
