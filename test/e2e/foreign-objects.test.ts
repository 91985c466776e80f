/**
 * Tunnel commands in a project that also holds objects no tunnel agent wrote: HTTPProxies with an
 * `instance` backend, two backends, a plain FQDN backend, redirect-only rules or a name other than
 * `tunnel-*`; Connectors of another device and another connector class; advertisements of other
 * Connectors in other layer4 shapes. Each is one the platform's CRDs accept, seeded through the
 * local Datum's raw API. The real CLI runs as a child process against `dev cloud` (a real process):
 * listings skip the foreign objects (with a debug line), every command keeps working on real
 * tunnels, and a command aimed at a foreign HTTPProxy is refused with 64, leaving it untouched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { Kinds, type KindName, projectControlPlaneUrl, resourcePath } from "../../src/controlplane/kinds.ts";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { PROJECT, projectState, until, viaPublic } from "../helpers/faults.ts";
import { killAllListens, startListen } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let origin: Server<undefined>;

const OTHER_DEVICE_ID = "c3".repeat(32);

/** A raw API call with the test's own bearer (any non-empty bearer is an identity to the local Datum). */
async function raw(method: "POST" | "PATCH", kind: KindName, body: unknown, name?: string, subresource?: "status"): Promise<void> {
  const url = projectControlPlaneUrl(datum.apiUrl, PROJECT) + resourcePath(Kinds[kind], name, subresource);
  const res = await fetch(url, {
    method,
    headers: {
      authorization: "Bearer foreign-objects-seed",
      "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
    },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${kind} ${name ?? ""}: HTTP ${res.status} ${await res.text()}`);
}

const NET_A = "networking.datumapis.com/v1alpha";
const NET_A1 = "networking.datumapis.com/v1alpha1";
const redirectRule = {
  matches: [{ path: { type: "PathPrefix", value: "/" }, headers: [{ name: "x-forwarded-proto", type: "Exact", value: "http" }] }],
  filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
};
const proxy = (name: string, rules: unknown[]) => ({ apiVersion: NET_A, kind: "HTTPProxy", metadata: { name }, spec: { rules } });

/** What someone else put in the project, and why each is not a tunnel. */
const FOREIGN_PROXIES: Record<string, string> = {
  "web-app": "not named tunnel-*",
  "tunnel-pod": "its backend is an instance, not an endpoint",
  "tunnel-two": "it has 2 backends; a tunnel has one",
  "tunnel-fqdn": "its backend does not go through a Connector",
  "tunnel-redirect": "it has no backend",
};

async function seed(): Promise<void> {
  // Another device's Connector, with its connection details, and a vendor's Connector of another class.
  await raw("POST", "Connector", {
    apiVersion: NET_A1,
    kind: "Connector",
    metadata: { name: "datum-connect-other", annotations: { "datum.net/device-name": "other-laptop", "datum.net/device-os": "macos" } },
    spec: { connectorClassName: "datum-connect" },
  });
  await raw(
    "PATCH",
    "Connector",
    {
      status: {
        connectionDetails: {
          type: "PublicKey",
          publicKey: { id: OTHER_DEVICE_ID, discoveryMode: "DNS", homeRelay: "https://relay.example.net./", addresses: [{ address: "192.0.2.10", port: 40000 }] },
        },
      },
    },
    "datum-connect-other",
    "status",
  );
  await raw("POST", "Connector", {
    apiVersion: NET_A1,
    kind: "Connector",
    metadata: { name: "vendor-gateway" },
    spec: { connectorClassName: "vendor-class", capabilities: [{ type: "ConnectTCP" }] },
  });

  // A real tunnel of the other device: listed, never touched by this device's commands.
  await raw("POST", "HTTPProxy", proxy("tunnel-elsewhere", [redirectRule, { backends: [{ endpoint: "http://127.0.0.1:7002", connector: { name: "datum-connect-other" } }] }]));
  // HTTPProxies that are not tunnels.
  await raw("POST", "HTTPProxy", proxy("web-app", [redirectRule, { backends: [{ endpoint: "https://origin.example.com" }] }]));
  await raw("POST", "HTTPProxy", proxy("tunnel-pod", [{ backends: [{ instance: { name: "pod-slice", port: 8080 } }] }]));
  await raw(
    "POST",
    "HTTPProxy",
    proxy("tunnel-two", [
      { matches: [{ path: { type: "PathPrefix", value: "/api" } }], backends: [{ endpoint: "https://api.example.com" }] },
      { backends: [{ endpoint: "http://127.0.0.1:7001", connector: { name: "datum-connect-other" } }] },
    ]),
  );
  await raw("POST", "HTTPProxy", proxy("tunnel-fqdn", [redirectRule, { backends: [{ endpoint: "https://www.example.org" }] }]));
  await raw("POST", "HTTPProxy", proxy("tunnel-redirect", [{ filters: redirectRule.filters }]));

  // Advertisements of other Connectors, in other layer4 shapes (none at all; several services, UDP, a DNS name).
  await raw("POST", "ConnectorAdvertisement", { apiVersion: NET_A1, kind: "ConnectorAdvertisement", metadata: { name: "tunnel-elsewhere" }, spec: { connectorRef: { name: "datum-connect-other" } } });
  await raw("POST", "ConnectorAdvertisement", {
    apiVersion: NET_A1,
    kind: "ConnectorAdvertisement",
    metadata: { name: "vendor-services" },
    spec: {
      connectorRef: { name: "vendor-gateway" },
      layer4: [
        {
          name: "databases",
          services: [
            { address: "db.internal", ports: [{ name: "pg", port: 5432, protocol: "TCP" }, { name: "dns", port: 53, protocol: "UDP" }] },
            { address: "10.0.0.5", ports: [{ name: "redis", port: 6379, protocol: "TCP" }] },
          ],
        },
        { name: "web", services: [{ address: "web.internal", ports: [{ name: "http", port: 80, protocol: "TCP" }] }] },
      ],
    },
  });
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: { ...datum.env, ...env } });
}

async function names(plural: string): Promise<string[]> {
  return ((await projectState(datum))[plural] ?? []).map((o) => o.metadata.name).sort();
}

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("foreign origin") });
  await seed();
});

afterAll(async () => {
  await killAllListens();
  await cli(["tunnel", "stop", "--name", "foreign-bg"]).catch(() => undefined);
  origin?.stop(true);
  await datum?.stop();
});

describe("a project with objects no tunnel agent wrote", () => {
  // Purpose: listings skip what is not a tunnel and say why at debug level; a foreign tunnel of another device is still listed.
  test("list shows only tunnels and says at debug level what it skipped", async () => {
    const r = await cli(["tunnel", "list", "-o", "json"], { CONSOLA_LEVEL: "4" });
    expect(r.code).toBe(0);
    const listed = (JSON.parse(r.stdout) as { id: string; endpoint: string }[]).map((t) => [t.id, t.endpoint]);
    expect(listed).toEqual([["tunnel-elsewhere", "http://127.0.0.1:7002"]]);
    for (const [name, reason] of Object.entries(FOREIGN_PROXIES)) {
      expect(r.stderr).toContain(`skipping HTTPProxy ${name}: not a tunnel (${reason})`);
    }
    expect(r.stderr).not.toContain("error:");
  });

  // Purpose: listen, update, disable, enable and delete work on a real tunnel next to the foreign objects, which stay as they were.
  test("listen --endpoint gets ready; update, disable, enable and delete work; nothing foreign is touched", async () => {
    const before = { proxies: await names("httpproxies"), connectors: await names("connectors"), ads: await names("connectoradvertisements") };
    const p = await startListen(["--endpoint", `127.0.0.1:${origin.port}`, "--label", "mine"], { env: datum.env });
    expect((await viaPublic(p.url)).body).toBe("foreign origin");
    const list = await cli(["tunnel", "list", "-o", "json"]);
    expect(list.code).toBe(0);
    const mine = (JSON.parse(list.stdout) as { id: string; label: string }[]).find((t) => t.label === "mine");
    expect(mine).toBeDefined();
    const id = mine?.id as string;
    expect((await p.stop()).code).toBe(0);

    const update = await cli(["tunnel", "update", "--id", id, "--label", "renamed", "-o", "json"]);
    expect(update.code).toBe(0);
    expect(JSON.parse(update.stdout)).toMatchObject({ id, label: "renamed" });
    expect((await cli(["tunnel", "disable", "--id", id])).code).toBe(0);
    expect((await cli(["tunnel", "enable", "--id", id])).code).toBe(0);
    expect(await names("connectoradvertisements")).toContain(id);

    const del = await cli(["tunnel", "delete", "--id", id]);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`Deleted tunnel ${id}`);
    expect(await names("httpproxies")).toEqual(before.proxies);
    expect(await names("connectoradvertisements")).toEqual(before.ads);
    // This device's Connector went with its last tunnel; the others stay.
    expect(await names("connectors")).toEqual(before.connectors);
  }, 60_000);

  // Purpose: a command aimed at an HTTPProxy that is not a tunnel is a clear 64, never "malformed", and changes nothing.
  test.each([
    ["update tunnel-pod", ["tunnel", "update", "--id", "tunnel-pod", "--label", "x"], "tunnel-pod"],
    ["enable web-app", ["tunnel", "enable", "--id", "web-app"], "web-app"],
    ["disable tunnel-two", ["tunnel", "disable", "--id", "tunnel-two"], "tunnel-two"],
    ["delete tunnel-fqdn", ["tunnel", "delete", "--id", "tunnel-fqdn"], "tunnel-fqdn"],
    ["delete tunnel-redirect", ["tunnel", "delete", "--id", "tunnel-redirect"], "tunnel-redirect"],
  ])("%s (not a tunnel) → 64, nothing changed", async (_title, args, name) => {
    const before = await projectState(datum);
    const r = await cli(args);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`error: HTTPProxy ${name} is not a tunnel: ${FOREIGN_PROXIES[name]}`);
    expect(r.stderr).not.toMatch(/malformed/i);
    const after = await projectState(datum);
    for (const plural of ["httpproxies", "connectoradvertisements", "connectors"]) {
      expect(JSON.stringify(after[plural]?.map((o) => [o.metadata.name, o.spec]))).toBe(JSON.stringify(before[plural]?.map((o) => [o.metadata.name, o.spec])));
    }
  });

  // Purpose: `listen --id` of a foreign HTTPProxy is refused the same way, before anything is created.
  test("listen --id of an instance-backed proxy → 64 'not a tunnel'", async () => {
    const p = await startListen(["--id", "tunnel-pod"], { env: datum.env, waitForReady: false });
    const exit = await p.done;
    expect(exit.code).toBe(64);
    expect(exit.stderr).toContain("HTTPProxy tunnel-pod is not a tunnel: its backend is an instance, not an endpoint");
  }, 30_000);

  // Purpose: a detached named tunnel comes up in this project and `ps`/`status` report it.
  test("listen --detach gets ready; ps and status show it; stop ends it", async () => {
    const up = await cli(["tunnel", "listen", "--detach", "--name", "foreign-bg", "--endpoint", `127.0.0.1:${origin.port}`]);
    expect(up.code).toBe(0);
    const ps = await cli(["tunnel", "ps", "-o", "json"]);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toContain("foreign-bg");
    const status = await cli(["tunnel", "status", "--name", "foreign-bg", "-o", "json"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ name: "foreign-bg", running: true });
    expect((await cli(["tunnel", "stop", "--name", "foreign-bg"])).code).toBe(0);
    await until(async () => !(await names("connectoradvertisements")).some((n) => !["tunnel-elsewhere", "vendor-services"].includes(n)), 10_000, "the detached tunnel withdrawn");
  }, 60_000);
});
