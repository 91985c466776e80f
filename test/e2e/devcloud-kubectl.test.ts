/**
 * A stock kubectl against the local Datum's project control plane: discovery, `get` by qualified
 * name and plural, `-o yaml`/`-o json`. Served over TLS because kubectl sends `--token` only to an
 * `https://` server. Skipped, with the reason printed, where kubectl or openssl is missing
 * (`.ci/run` installs Debian's kubernetes-client).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenFingerprint } from "../../src/devcloud/request-log.ts";
import { type ControlPlane, startControlPlane } from "../../src/devcloud/server.ts";

const kubectl = Bun.which("kubectl");
const openssl = Bun.which("openssl");
const missing = !kubectl ? "kubectl not installed (apt-get install -y kubernetes-client)" : !openssl ? "openssl not installed" : undefined;
if (missing) console.log(`skip: ${missing}; the kubectl compatibility test did not run`);

const TOKEN = "kubectl-test-token";
const NET = "/apis/networking.datumapis.com/v1alpha1/namespaces/default";

describe.skipIf(missing !== undefined)("kubectl against the local Datum", () => {
  let dir = "";
  let cp: ControlPlane;
  let proxyName = "";
  let connectorName = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "devcloud-kubectl-"));
    const made = Bun.spawnSync(
      [
        openssl as string,
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      ],
      { stdout: "pipe", stderr: "pipe", timeout: 20_000 },
    );
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    cp = await startControlPlane({
      port: 0,
      host: "127.0.0.1",
      tls: { cert: await Bun.file(join(dir, "cert.pem")).text(), key: await Bun.file(join(dir, "key.pem")).text() },
    });
    const fetchTls = { tls: { ca: await Bun.file(join(dir, "cert.pem")).text() } };
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const base = cp.projectUrl("p-kube");
    const connector = await fetch(`${base}${NET}/connectors`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        apiVersion: "networking.datumapis.com/v1alpha1",
        kind: "Connector",
        metadata: { generateName: "datum-connect-" },
        spec: { connectorClassName: "datum-connect" },
      }),
      ...fetchTls,
    });
    connectorName = ((await connector.json()) as { metadata: { name: string } }).metadata.name;
    const proxy = await fetch(`${base}/apis/networking.datumapis.com/v1alpha/namespaces/default/httpproxies`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        apiVersion: "networking.datumapis.com/v1alpha",
        kind: "HTTPProxy",
        metadata: { generateName: "tunnel-" },
        spec: { rules: [{ backends: [{ endpoint: "http://127.0.0.1:8080", connector: { name: connectorName } }] }] },
      }),
      ...fetchTls,
    });
    proxyName = ((await proxy.json()) as { metadata: { name: string } }).metadata.name;
    // Let the controllers create the Lease.
    for (let i = 0; i < 100; i++) {
      const lease = await fetch(`${base}/apis/coordination.k8s.io/v1/namespaces/default/leases/${connectorName}`, { headers, ...fetchTls });
      if (lease.status === 200) break;
      await Bun.sleep(20);
    }
  });

  afterAll(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs kubectl asynchronously: the server answering it lives in this very process. */
  async function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = Bun.spawn(
      [
        kubectl as string,
        "--server", cp.projectUrl("p-kube"),
        "--token", TOKEN,
        "--certificate-authority", join(dir, "cert.pem"),
        "--cache-dir", join(dir, "cache"),
        "--request-timeout", "10s",
        ...args,
      ],
      { env: { PATH: process.env.PATH ?? "", HOME: dir }, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 20_000 },
    );
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return { code, stdout, stderr };
  }

  test("get httpproxies.networking.datumapis.com lists the proxy", async () => {
    const out = await run("get", "httpproxies.networking.datumapis.com");
    // Discovery failures show up as "couldn't get current server API group list" lines.
    expect(out.stderr).not.toMatch(/error|couldn't get/i);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^NAME\s+AGE\n/);
    expect(out.stdout).toContain(proxyName);
  });

  test("get connectors and leases by plural", async () => {
    const connectors = await run("get", "connectors");
    expect(connectors.code).toBe(0);
    expect(connectors.stdout).toContain(connectorName);
    const leases = await run("get", "leases");
    expect(leases.code).toBe(0);
    expect(leases.stdout).toContain(connectorName);
    const classes = await run("get", "connectorclasses");
    expect(classes.code).toBe(0);
    expect(classes.stdout).toContain("datum-connect");
  });

  test("-o yaml and -o json render the stored objects", async () => {
    const yaml = await run("get", "httpproxy", proxyName, "-o", "yaml");
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toContain("apiVersion: networking.datumapis.com/v1alpha");
    expect(yaml.stdout).toContain(`name: ${proxyName}`);
    const json = await run("get", "connectors", "-o", "json");
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { items: Array<{ metadata: { name: string }; kind: string }> };
    expect(parsed.items.map((i) => i.metadata.name)).toEqual([connectorName]);
    expect(parsed.items[0]?.kind).toBe("Connector");
  });

  test("kubectl authenticated with its bearer token", async () => {
    expect((await run("get", "connectors")).code).toBe(0);
    const entries = cp.cloud.requests.entries().filter((e) => e.headers["user-agent"]?.startsWith("kubectl/"));
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.headers.authorization === `Bearer ${tokenFingerprint(TOKEN)}`)).toBe(true);
    expect(entries.some((e) => e.status === 401)).toBe(false);
  });

  test("a missing object is kubectl's NotFound", async () => {
    const out = await run("get", "httpproxy", "tunnel-zzzzz");
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('httpproxies.networking.datumapis.com "tunnel-zzzzz" not found');
  });
});
