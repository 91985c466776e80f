/**
 * The whole local Datum (DESIGN §6) in one process: the control plane with its controllers, the
 * datumctl test double, and the edge and gateway that carry public traffic to a device over iroh.
 * `datumctl-connect dev cloud` runs this; tests and the demo start that command as a process.
 *
 * Everything binds loopback. The gateway needs iroh's native module; where it cannot load, the
 * control plane still runs and `env()` says so.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { DevCloudConfigPatch } from "./config.ts";
import { installDatumctlDouble, type InstalledDatumctlDouble } from "./datumctl-double/install.ts";
import type { Edge, Route as EdgeRoute } from "./gateway/edge.ts";
import type { Gateway } from "./gateway/gateway.ts";
import type { Route } from "./routes.ts";
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
        // (a URL the CRD requires) names this placeholder.
        DATUM_CONNECT_RELAY_URLS: `${controlPlane.url}${PLACEHOLDER_RELAY_PATH}`,
        DATUMCTL_DOUBLE_STATE: double.statePath,
        DATUMCTL_DOUBLE_LOG: double.logPath,
        DATUM_DEV_CLOUD_ADMIN: `${controlPlane.url}/_dev`,
      };
      if (edge) {
        vars.DATUM_CONNECT_PUBLIC_URL = `http://{hostname}:${edge.port}`;
        vars.DATUM_DEV_CLOUD_EDGE = edge.url;
      }
      return vars;
    };

    return { controlPlane, double, edge, edgeUnavailable, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
