/**
 * Starts the control-plane half of the local Datum on loopback: the API server (project control
 * planes + `/_dev/` admin) in `Bun.serve`, with the operator's controllers running beside it.
 */
import { projectControlPlaneUrl } from "../controlplane/kinds.ts";
import { createHandler } from "./api.ts";
import { DevCloud } from "./cloud.ts";
import type { DevCloudConfigPatch } from "./config.ts";
import { type Controllers, startControllers } from "./controllers.ts";
import type { Route } from "./routes.ts";

export interface ControlPlaneOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Loopback only: the emulation has no authentication worth the name. */
  readonly host?: "127.0.0.1";
  readonly config?: DevCloudConfigPatch;
  /**
   * Serve HTTPS with this PEM certificate and key. Plain HTTP is enough for the agent, but kubectl
   * sends `--token` only over TLS (client-go drops credentials on an `http://` server).
   */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Runs on the new cloud before its controllers start (a restart puts its saved objects back here). */
  readonly prepare?: (cloud: DevCloud) => void;
}

export interface ControlPlane {
  /** `http://127.0.0.1:PORT` (`https://` with `tls`): the API host to give the agent (`DATUM_API_HOST`). */
  readonly url: string;
  readonly port: number;
  /** The project control-plane base URL, `<url>/apis/resourcemanager.miloapis.com/v1alpha1/projects/<p>/control-plane`. */
  projectUrl(project: string): string;
  /** The routing table for the edge and gateway. */
  routes(): Route[];
  /** In-process access to state, configuration and faults (the same as `/_dev/` over HTTP). */
  readonly cloud: DevCloud;
  readonly controllers: Controllers;
  stop(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const host = opts.host ?? "127.0.0.1";
  const cloud = new DevCloud(opts.config ? { config: opts.config } : {});
  opts.prepare?.(cloud);
  const controllers = startControllers(cloud);
  const handle = createHandler(cloud, controllers);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: host,
      port: opts.port ?? 0,
      // Latency faults hold a response for up to two minutes; do not cut such a connection first.
      idleTimeout: 200,
      ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
      fetch: (req, srv) => {
        const remoteAddress = srv.requestIP(req)?.address;
        return handle(req, remoteAddress !== undefined ? { remoteAddress } : {});
      },
    });
  } catch (err) {
    controllers.stop();
    throw err;
  }
  const port = server.port ?? 0;
  const url = `${opts.tls ? "https" : "http"}://${host}:${port}`;
  return {
    url,
    port,
    projectUrl: (project) => projectControlPlaneUrl(url, project),
    routes: () => controllers.routes(),
    cloud,
    controllers,
    stop: async () => {
      controllers.stop();
      await server.stop(true);
    },
  };
}
