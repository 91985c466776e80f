/**
 * The client against a scripted fetch: every header, path and retry decision is visible without a
 * server, and the injected sleep records the pauses instead of taking them.
 */
import { describe, expect, test } from "bun:test";
import { ControlPlaneClient, type TokenProvider } from "../../../src/controlplane/client.ts";
import { CliError, Exit } from "../../../src/errors.ts";
import { VERSION } from "../../../src/version.ts";

interface Seen {
  method: string;
  url: URL;
  headers: Headers;
  body: string | undefined;
}

type Reply = Response | Error | ((signal: AbortSignal) => Promise<Response>);

const PCP = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p-1/control-plane";
const PROXIES = `${PCP}/apis/networking.datumapis.com/v1alpha/namespaces/default/httpproxies`;

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const statusBody = (code: number, message: string) => ({ kind: "Status", apiVersion: "v1", status: "Failure", message, code });

const proxy = (name = "tunnel-abc") => ({
  apiVersion: "networking.datumapis.com/v1alpha",
  kind: "HTTPProxy",
  metadata: { name, generation: 1 },
  spec: { rules: [{ backends: [{ endpoint: "http://127.0.0.1:3000", connector: { name: "datum-connect-x" } }] }] },
});

const SECRET = "secret-token-value-1";

class Tokens implements TokenProvider {
  invalidated: string[] = [];
  current = SECRET;
  async token() {
    return this.current;
  }
  async invalidate(rejected: string) {
    this.invalidated.push(rejected);
    this.current = `secret-token-value-${this.invalidated.length + 1}`;
    return this.current;
  }
}

function setup(replies: Reply[], options: { attemptTimeoutMs?: number; budget?: { attempts: number; spacingMs: number } } = {}) {
  const seen: Seen[] = [];
  const sleeps: number[] = [];
  const notices: string[] = [];
  const debugs: string[] = [];
  const tokens = new Tokens();
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    seen.push({ method: init?.method ?? "GET", url: new URL(String(input)), headers, body: init?.body as string | undefined });
    const reply = replies.shift();
    if (reply === undefined) throw new Error("no more scripted replies");
    if (reply instanceof Error) throw reply;
    if (typeof reply === "function") return reply(init?.signal as AbortSignal);
    return reply;
  }) as typeof globalThis.fetch;
  const client = new ControlPlaneClient({
    apiBase: "https://api.example.test",
    project: "p-1",
    tokens,
    fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    notice: (line) => notices.push(line),
    debug: (line) => debugs.push(line),
    ...options,
  });
  return { client, seen, sleeps, notices, debugs, tokens };
}

async function failure(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error("expected a CliError");
}

const networkError = (code: string) => Object.assign(new TypeError(`${code}: failed`), { code });

describe("requests", () => {
  test("get sends bearer token, user agent and accept; parses the object", async () => {
    const { client, seen } = setup([json(200, proxy())]);
    const got = await client.get("HTTPProxy", "tunnel-abc");
    expect(got?.metadata.name).toBe("tunnel-abc");
    const req = seen[0]!;
    expect(req.method).toBe("GET");
    expect(req.url.pathname).toBe(`${PROXIES}/tunnel-abc`);
    expect(req.headers.get("authorization")).toBe(`Bearer ${SECRET}`);
    expect(req.headers.get("user-agent")).toMatch(
      new RegExp(`^datum-connect/${VERSION} datumctl-plugin/${VERSION} \\((linux|macos|windows); (x86_64|aarch64)\\)$`),
    );
    expect(req.headers.get("accept")).toBe("application/json");
  });

  test("get of a missing object is undefined", async () => {
    const { client } = setup([json(404, statusBody(404, "not found"))]);
    expect(await client.get("HTTPProxy", "tunnel-gone")).toBeUndefined();
  });

  test("list encodes the field selector like the Kubernetes clients", async () => {
    const { client, seen } = setup([json(200, { kind: "List", items: [] })]);
    await client.list("Connector", { fieldSelector: { "status.connectionDetails.publicKey.id": "ab12" } });
    expect(seen[0]!.url.search).toBe("?fieldSelector=status.connectionDetails.publicKey.id%3Dab12");
    expect(seen[0]!.url.pathname).toEndWith("/apis/networking.datumapis.com/v1alpha1/namespaces/default/connectors");
  });

  test("list reads item by item: what it cannot read is skipped with a debug line, not a failed listing", async () => {
    const instanceBacked = proxy("web-app");
    instanceBacked.spec.rules = [{ backends: [{ instance: { name: "pod-slice", port: 8080 } }] }] as never;
    const unreadable = { metadata: { name: "broken" }, spec: { rules: "not a list" } };
    const { client, debugs } = setup([json(200, { kind: "List", items: [proxy("tunnel-a"), instanceBacked, unreadable, { spec: {} }] })]);
    const items = await client.list("HTTPProxy");
    expect(items.map((p) => p.metadata.name)).toEqual(["tunnel-a", "web-app"]);
    expect(debugs).toHaveLength(2);
    expect(debugs[0]).toStartWith("skipping HTTPProxy broken in the listing: unreadable (");
    expect(debugs[1]).toStartWith("skipping HTTPProxy <unnamed> in the listing: unreadable (");
  });

  test("a list answer that is not a list at all is still malformed", async () => {
    const { client } = setup([json(200, { kind: "List", items: "nope" })]);
    expect((await failure(client.list("HTTPProxy"))).exit).toBe(Exit.malformed);
  });

  test("cluster-scoped kinds have no namespace", async () => {
    const { client, seen } = setup([json(200, { items: [] })]);
    await client.list("ConnectorClass");
    expect(seen[0]!.url.pathname).toBe(`${PCP}/apis/networking.datumapis.com/v1alpha1/connectorclasses`);
  });

  test("create posts JSON with apiVersion/kind filled in; dryRun=All on request", async () => {
    const { client, seen } = setup([json(201, proxy())]);
    await client.create("HTTPProxy", { metadata: { generateName: "tunnel-" }, spec: { rules: [] } }, { dryRun: true });
    const req = seen[0]!;
    expect(req.method).toBe("POST");
    expect(req.url.search).toBe("?dryRun=All");
    expect(req.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(req.body!)).toEqual({
      apiVersion: "networking.datumapis.com/v1alpha",
      kind: "HTTPProxy",
      metadata: { generateName: "tunnel-" },
      spec: { rules: [] },
    });
  });

  test("patch and patchStatus are merge patches", async () => {
    const connector = {
      metadata: { name: "datum-connect-x" },
      spec: { connectorClassName: "datum-connect" },
    };
    const { client, seen } = setup([json(200, proxy()), json(200, connector)]);
    await client.patch("HTTPProxy", "tunnel-abc", { metadata: { annotations: { a: "b" } } });
    await client.patchStatus("Connector", "datum-connect-x", { status: {} });
    expect(seen.map((s) => [s.method, s.headers.get("content-type"), s.url.pathname.split("/").slice(-2).join("/")])).toEqual([
      ["PATCH", "application/merge-patch+json", "httpproxies/tunnel-abc"],
      ["PATCH", "application/merge-patch+json", "datum-connect-x/status"],
    ]);
  });

  test("delete: true when deleted (object or Status back), false when absent", async () => {
    const { client } = setup([
      json(200, { kind: "Status", apiVersion: "v1", status: "Success" }),
      json(200, { ...proxy(), metadata: { name: "tunnel-abc", deletionTimestamp: "2026-01-01T00:00:00Z" } }),
      json(404, statusBody(404, "gone")),
    ]);
    expect(await client.delete("HTTPProxy", "tunnel-abc")).toBe(true);
    expect(await client.delete("HTTPProxy", "tunnel-abc")).toBe(true);
    expect(await client.delete("HTTPProxy", "tunnel-abc")).toBe(false);
  });
});

describe("retries", () => {
  test("401 once → exactly one invalidate with the rejected token, then success", async () => {
    const { client, seen, tokens } = setup([json(401, statusBody(401, "Unauthorized")), json(200, proxy())]);
    await client.get("HTTPProxy", "tunnel-abc");
    expect(tokens.invalidated).toEqual([SECRET]);
    expect(seen.map((s) => s.headers.get("authorization"))).toEqual([`Bearer ${SECRET}`, "Bearer secret-token-value-2"]);
  });

  test("401 twice → NotAuthenticated (77), hint to log in, token nowhere in the error", async () => {
    const { client, tokens } = setup([json(401, statusBody(401, "Unauthorized")), json(401, statusBody(401, "Unauthorized"))]);
    const err = await failure(client.create("HTTPProxy", { metadata: { generateName: "tunnel-" }, spec: { rules: [] } }));
    expect(err.exit).toBe(Exit.noAuth);
    expect(err.hint).toBe("run 'datumctl login'");
    expect(tokens.invalidated).toHaveLength(1);
    expect(JSON.stringify([err.message, err.hint, err.details])).not.toContain("secret-token");
  });

  test("503 burst is ridden over with 750 ms spacing", async () => {
    const busy = () => json(503, statusBody(503, "busy"));
    const { client, sleeps } = setup([busy(), busy(), busy(), json(200, proxy())]);
    expect((await client.get("HTTPProxy", "tunnel-abc"))?.metadata.name).toBe("tunnel-abc");
    expect(sleeps).toEqual([750, 750, 750]);
  });

  test("outage past the budget → Unreachable (69) naming the host", async () => {
    const { client, seen } = setup(
      Array.from({ length: 10 }, () => networkError("ECONNREFUSED")),
      { budget: { attempts: 4, spacingMs: 10 } },
    );
    const err = await failure(client.list("HTTPProxy"));
    expect(err.exit).toBe(Exit.unreachable);
    expect(err.message).toContain("api.example.test");
    expect(err.message).toContain("failed 4 times");
    expect(err.details).toContain("ECONNREFUSED");
    expect(seen).toHaveLength(4);
  });

  test("a hung attempt times out and counts as transient", async () => {
    const hang = (signal: AbortSignal) =>
      new Promise<Response>((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    const { client, sleeps } = setup([hang, json(200, proxy())], { attemptTimeoutMs: 20 });
    expect(await client.get("HTTPProxy", "tunnel-abc")).toBeDefined();
    expect(sleeps).toEqual([750]);
  });

  test("quota-check timeout: waits 1, 2 s, notice printed once, then succeeds", async () => {
    const slow = () => json(403, statusBody(403, "Your request took too long to be checked against your quota. Please try again in a moment"));
    const { client, sleeps, notices } = setup([slow(), slow(), json(201, proxy())]);
    await client.create("HTTPProxy", { metadata: { generateName: "tunnel-" }, spec: { rules: [] } });
    expect(sleeps).toEqual([1000, 2000]);
    expect(notices).toEqual(["  … quota check timed out for HTTPProxy create; retrying for up to 15s"]);
  });

  test("quota-check timeout that never clears → Unreachable after 1+2+4+8 s and a final attempt", async () => {
    const slow = () => json(403, statusBody(403, "took too long to be checked against your quota"));
    const { client, sleeps, seen } = setup([slow(), slow(), slow(), slow(), slow()]);
    const err = await failure(client.create("Connector", { metadata: { generateName: "datum-connect-" }, spec: {} }));
    expect(err.exit).toBe(Exit.unreachable);
    expect(err.message).toBe("The quota check for Connector create did not succeed after 5 attempts: took too long to be checked against your quota");
    expect(sleeps).toEqual([1000, 2000, 4000, 8000]);
    expect(seen).toHaveLength(5);
  });

  test.each([
    ["Something went wrong while checking your quota for this request. Please try again — if this keeps happening, contact support.", "quota check failed"],
    ["We're still cleaning up from a previous attempt to create this resource. Please try again in a few seconds.", "quota cleanup still pending"],
  ])("retryable quota answer %#: the same 1, 2, 4, 8 s schedule, its own notice, then 69 with the platform's text", async (text, notice) => {
    const busy = () => json(403, statusBody(403, `httpproxies.networking.datumapis.com "tunnel-x" is forbidden: ${text}`));
    const { client, sleeps, seen, notices } = setup([busy(), busy(), busy(), busy(), busy()]);
    const err = await failure(client.create("HTTPProxy", { metadata: { generateName: "tunnel-" }, spec: { rules: [] } }));
    expect(err.exit).toBe(Exit.unreachable);
    expect(err.message).toContain(text);
    expect(sleeps).toEqual([1000, 2000, 4000, 8000]);
    expect(seen).toHaveLength(5);
    expect(notices).toEqual([`  … ${notice} for HTTPProxy create; retrying for up to 15s`]);
  });

  test("a generateName create is not repeated after an ambiguous 500", async () => {
    const { client, seen } = setup([json(500, statusBody(500, "etcd timeout")), json(201, proxy())]);
    const err = await failure(client.create("HTTPProxy", { metadata: { generateName: "tunnel-" }, spec: { rules: [] } }));
    expect(err.exit).toBe(Exit.unreachable);
    expect(seen).toHaveLength(1);
  });

  test("a named create whose first answer was lost: the 409 on retry means it is ours", async () => {
    const ad = { metadata: { name: "tunnel-abc" }, spec: { connectorRef: { name: "datum-connect-x" } } };
    const { client, seen } = setup([
      networkError("ECONNRESET"),
      json(409, statusBody(409, "already exists")),
      json(200, ad),
    ]);
    const created = await client.create("ConnectorAdvertisement", ad);
    expect(created.metadata.name).toBe("tunnel-abc");
    expect(seen.map((s) => s.method)).toEqual(["POST", "POST", "GET"]);
  });

  test("a plain 409 on create is a conflict (64)", async () => {
    const { client } = setup([json(409, statusBody(409, "already exists"))]);
    const err = await failure(client.create("ConnectorAdvertisement", { metadata: { name: "tunnel-abc" }, spec: {} }));
    expect(err.exit).toBe(Exit.rejected);
    expect(err.code).toBe("conflict");
  });

  test("a delete whose first answer was lost still reports the deletion", async () => {
    const { client } = setup([json(504, statusBody(504, "timeout")), json(404, statusBody(404, "gone"))]);
    expect(await client.delete("HTTPProxy", "tunnel-abc")).toBe(true);
  });

  test("cancellation aborts the retry wait", async () => {
    const controller = new AbortController();
    const tokens = new Tokens();
    const client = new ControlPlaneClient({
      apiBase: "https://api.example.test",
      project: "p-1",
      tokens,
      signal: controller.signal,
      fetch: (async () => json(503, statusBody(503, "busy"))) as unknown as typeof globalThis.fetch,
    });
    const pending = client.get("HTTPProxy", "tunnel-abc");
    controller.abort(new Error("stopped"));
    await expect(pending).rejects.toThrow("stopped");
  });
});

describe("malformed answers", () => {
  test("non-JSON 200 → Malformed (65)", async () => {
    const { client } = setup([new Response("<html>oops</html>", { status: 200 })]);
    const err = await failure(client.get("HTTPProxy", "tunnel-abc"));
    expect(err.exit).toBe(Exit.malformed);
    expect(err.details).toStartWith("not JSON");
  });

  test("schema mismatch → Malformed with the valibot summary", async () => {
    const { client } = setup([json(200, { metadata: { name: "tunnel-abc" }, spec: { rules: "nope" } })]);
    const err = await failure(client.get("HTTPProxy", "tunnel-abc"));
    expect(err.exit).toBe(Exit.malformed);
    expect(err.message).toBe("Malformed HTTPProxy data from the control plane at api.example.test (reading HTTPProxy tunnel-abc)");
    expect(err.details).toContain("spec.rules");
  });

  test("a list without items → Malformed", async () => {
    const { client } = setup([json(200, { kind: "List" })]);
    expect((await failure(client.list("Connector"))).exit).toBe(Exit.malformed);
  });

  test("an invalid API host is a configuration error", () => {
    expect(() => new ControlPlaneClient({ apiBase: "not a url", project: "p", tokens: new Tokens() })).toThrow(
      "Invalid API host 'not a url'",
    );
  });
});
