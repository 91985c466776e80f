/**
 * The whole local Datum (DESIGN §6) in one process: the control plane with its controllers, the
 * datumctl test double, and the edge and gateway that carry public traffic to a device over iroh.
 * `datumctl-connect dev cloud` runs this; tests and the demo start that command as a process.
 *
 * Everything binds loopback. The gateway needs iroh's native module; where it cannot load, the
 * control plane still runs and `env()` says so.
 */
import { PLACEHOLDER_RELAY_ENV } from "../dataplane/relays.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DevCloudConfigPatch } from "./config.ts";
import { installDatumctlDouble, type InstalledDatumctlDouble } from "./datumctl-double/install.ts";
import type { Edge, Route as EdgeRoute } from "./gateway/edge.ts";
import type { Gateway } from "./gateway/gateway.ts";
import type { Route } from "./routes.ts";
import { projectControlPlaneUrl } from "../controlplane/kinds.ts";
import { createHandler } from "./api.ts";
import { startControlPlane, type ControlPlane } from "./server.ts";

export const LOCAL_PROJECT = "local-project";
export const LOCAL_ORG = "local-org";

/** The path the local Datum names as the device's relay: it answers 404, so iroh connects directly. */
export const PLACEHOLDER_RELAY_PATH = "/_dev/relay/";

export interface LocalDatumOptions {
  readonly dir: string;
  readonly port?: number;
  readonly edgePort?: number;
  readonly project?: string;
  readonly config?: DevCloudConfigPatch;
  readonly log?: (line: string) => void;
}

export interface LocalDatum {
  readonly controlPlane: ControlPlane;
  readonly double: InstalledDatumctlDouble;
  readonly edge: Edge | undefined;
  /** Why there is no edge (iroh's native module missing on this platform). */
  readonly edgeUnavailable: string | undefined;
  /** A kubeconfig for a TLS listener on the same state (kubectl sends tokens only over TLS). */
  readonly kubeconfig: string | undefined;
  /** The variables that point `datumctl-connect` at this local Datum. */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

/** `ip:port` / `[ip6]:port` as iroh takes direct addresses. */
function socketAddress(a: { address: string; port: number }): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** The edge's view of a route: where to dial, and whether the platform would serve it at all. */
export function edgeRoute(route: Route): EdgeRoute | undefined {
  if (!route.endpointId) {
    return { endpointId: "", addresses: [], homeRelay: null, targetHost: route.targetHost, targetPort: route.targetPort, online: false };
  }
  return {
    endpointId: route.endpointId,
    addresses: route.addresses.map(socketAddress),
    homeRelay: route.homeRelay ?? null,
    targetHost: route.targetHost,
    targetPort: route.targetPort,
    online: route.online,
  };
}

export async function startLocalDatum(options: LocalDatumOptions): Promise<LocalDatum> {
  const log = options.log ?? (() => undefined);
  const project = options.project ?? LOCAL_PROJECT;
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const connectDir = join(options.dir, "connect");
  mkdirSync(connectDir, { recursive: true, mode: 0o700 });

  const controlPlane = await startControlPlane({
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.config ? { config: options.config } : {}),
  });
  const cleanups: (() => Promise<void>)[] = [() => controlPlane.stop()];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };

  try {
    const apiHost = new URL(controlPlane.url).host;
    const double = installDatumctlDouble(join(options.dir, "datumctl"), {
      session: `dev@local.datum@${apiHost}`,
      server: controlPlane.url,
      org: LOCAL_ORG,
      project,
    });

    let edge: Edge | undefined;
    let edgeUnavailable: string | undefined;
    try {
      // Loaded here, not at the top: the gateway pulls in iroh's native module.
      const { createGateway } = await import("./gateway/gateway.ts");
      const { createEdge } = await import("./gateway/edge.ts");
      const gateway: Gateway = await createGateway({});
      cleanups.push(() => gateway.stop());
      edge = await createEdge({
        gateway,
        host: "127.0.0.1",
        ...(options.edgePort !== undefined ? { port: options.edgePort } : {}),
        resolveRoute: (hostname) => {
          const route = controlPlane.routes().find((r) => r.hostname === hostname);
          return route ? edgeRoute(route) : undefined;
        },
        log: (level, msg) => {
          if (level !== "debug") log(`edge: ${msg}`);
        },
      });
      const started = edge;
      cleanups.push(() => started.stop());
    } catch (err) {
      edgeUnavailable = err instanceof Error ? err.message.split("\n")[0] : String(err);
      log(`warning: no edge or gateway: ${edgeUnavailable}`);
    }

    const kubeconfig = await startKubectlListener(controlPlane, options.dir, project, cleanups, log);

    const env = (): Record<string, string> => {
      const vars: Record<string, string> = {
        DATUM_API_HOST: controlPlane.url,
        DATUM_CREDENTIALS_HELPER: double.helperPath,
        DATUM_SESSION: double.session,
        DATUM_PROJECT: project,
        DATUM_ORG: "",
        DATUM_PLUGIN_API_VERSION: "1",
        DATUM_CONNECT_DIR: connectDir,
        // No relay runs here: iroh connects over loopback directly, and the Connector's homeRelay
        // (a URL the CRD requires) names this placeholder, declared as one so the agent may
        // publish it although iroh never reaches it (docs/relays.md).
        DATUM_CONNECT_RELAY_URLS: `${controlPlane.url}${PLACEHOLDER_RELAY_PATH}`,
        [PLACEHOLDER_RELAY_ENV]: `${controlPlane.url}${PLACEHOLDER_RELAY_PATH}`,
        DATUMCTL_DOUBLE_STATE: double.statePath,
        DATUMCTL_DOUBLE_LOG: double.logPath,
        DATUM_DEV_CLOUD_ADMIN: `${controlPlane.url}/_dev`,
      };
      if (kubeconfig) vars.DATUM_DEV_CLOUD_KUBECONFIG = kubeconfig;
      if (edge) {
        vars.DATUM_CONNECT_PUBLIC_URL = `http://{hostname}:${edge.port}`;
        vars.DATUM_DEV_CLOUD_EDGE = edge.url;
      }
      return vars;
    };

    return { controlPlane, double, edge, edgeUnavailable, kubeconfig, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * kubectl (client-go) drops bearer tokens on plain `http://` servers, so for kubectl the local
 * Datum also serves its API over TLS with a throwaway self-signed certificate (made by `openssl`,
 * when present), and writes a kubeconfig pointing at this project's control plane.
 */
async function startKubectlListener(
  controlPlane: ControlPlane,
  dir: string,
  project: string,
  cleanups: (() => Promise<void>)[],
  log: (line: string) => void,
): Promise<string | undefined> {
  const openssl = Bun.which("openssl");
  if (!openssl) {
    log("note: openssl not found; no TLS listener for kubectl");
    return undefined;
  }
  const tlsDir = join(dir, "kubectl");
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const certPath = join(tlsDir, "cert.pem");
  const keyPath = join(tlsDir, "key.pem");
  const made = Bun.spawnSync(
    [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyPath, "-out", certPath],
    { stdout: "ignore", stderr: "pipe", timeout: 20_000 },
  );
  if (made.exitCode !== 0) {
    log(`note: openssl could not make a certificate; no TLS listener for kubectl: ${made.stderr.toString().trim()}`);
    return undefined;
  }
  const handle = createHandler(controlPlane.cloud, controlPlane.controllers);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: await Bun.file(certPath).text(), key: await Bun.file(keyPath).text() },
    fetch: (req, srv) => {
      const remoteAddress = srv.requestIP(req)?.address;
      return handle(req, remoteAddress !== undefined ? { remoteAddress } : {});
    },
  });
  cleanups.push(async () => {
    await server.stop(true);
  });
  const url = projectControlPlaneUrl(`https://127.0.0.1:${server.port}`, project);
  const kubeconfig = join(tlsDir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    Bun.YAML.stringify(
      {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local-datum", cluster: { server: url, "certificate-authority": certPath } }],
        // Any bearer token is accepted by the local Datum; this one only names who is asking.
        users: [{ name: "local-datum", user: { token: "local-kubectl" } }],
        contexts: [{ name: "local-datum", context: { cluster: "local-datum", user: "local-datum", namespace: "default" } }],
        "current-context": "local-datum",
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  return kubeconfig;
}
