/**
 * The whole local Datum (docs/architecture.md#local-datum) in one process: the control plane with its
 * controllers, the datumctl test double, and the edge and gateway that carry public traffic to a device
 * over iroh. `datumctl-connect dev cloud` runs this; tests and the demo start that command as a process.
 *
 * Everything binds loopback. The gateway needs iroh's native module; where it cannot load, the
 * control plane still runs and `env()` says so. Started again on the same `dir`, it is the same
 * cloud: same ports, objects, sessions and gateway identity (`persistence.ts`).
 */
import { PLACEHOLDER_RELAY_ENV } from "../dataplane/relays.ts";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Malformed, Rejected } from "../errors.ts";
import type { DevCloudConfigPatch } from "./config.ts";
import { installDatumctlDouble, type InstalledDatumctlDouble } from "./datumctl-double/install.ts";
import type { Edge, Route as EdgeRoute } from "./gateway/edge.ts";
import type { Gateway } from "./gateway/gateway.ts";
import type { Route } from "./routes.ts";
import { projectControlPlaneUrl } from "../controlplane/kinds.ts";
import { createHandler } from "./api.ts";
import {
  CLOUD_FILE,
  gatewayKeyBytes,
  isAddressInUse,
  newGatewayKey,
  portPlan,
  readCloudIdentity,
  readSavedStore,
  STORE_FILE,
  StoreSaver,
  writeCloudIdentity,
} from "./persistence.ts";
import { freeLoopbackPort, startRelayServer, type RelayBinary, type RelayServer } from "./relay-server.ts";
import { startControlPlane, type ControlPlane } from "./server.ts";

export const LOCAL_PROJECT = "local-project";
export const LOCAL_ORG = "local-org";

/**
 * The path the local Datum names as the device's relay where it runs no real one (no iroh-relay
 * binary: relay-server.ts): it answers 404, so iroh connects directly.
 */
export const PLACEHOLDER_RELAY_PATH = "/_dev/relay/";

/** How long one shutdown step may take before stop() goes on without it. */
const STOP_STEP_MS = 5_000;

export interface LocalDatumOptions {
  readonly dir: string;
  readonly port?: number;
  readonly edgePort?: number;
  readonly project?: string;
  readonly config?: DevCloudConfigPatch;
  readonly log?: (line: string) => void;
  /** Where the gateway's iroh endpoint binds (default loopback); see `dev cloud --gateway-bind`. */
  readonly gatewayBind?: string;
  /** The iroh-relay binary to run on loopback, or why there is none (then the placeholder stands in). */
  readonly relay?: RelayBinary;
}

export interface LocalDatum {
  readonly controlPlane: ControlPlane;
  readonly double: InstalledDatumctlDouble;
  readonly edge: Edge | undefined;
  /** Why there is no edge (iroh's native module missing on this platform). */
  readonly edgeUnavailable: string | undefined;
  /** A kubeconfig for a TLS listener on the same state (kubectl sends tokens only over TLS). */
  readonly kubeconfig: string | undefined;
  /** The real iroh relay on loopback, or undefined (then `relayUnavailable` says why). */
  readonly relay: RelayServer | undefined;
  readonly relayUnavailable: string | undefined;
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
  const dir = options.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const connectDir = join(dir, "connect");

  // The same --dir is the same cloud: its ports, objects, sessions and gateway key (persistence.ts).
  const saved = await readCloudIdentity(dir);
  const savedStore = saved ? await readSavedStore(dir) : undefined;
  if (!saved && (existsSync(connectDir) || existsSync(join(dir, "datumctl")))) {
    log(
      `note: ${dir} holds an earlier local Datum that kept no ${CLOUD_FILE}; this is a new local Datum on new ports. ` +
        `Named tunnels made against the old one name its session and API host: remove them (${join(connectDir, "tunnels")}) or use a fresh --dir`,
    );
  } else if (saved && !savedStore) {
    log(`note: ${join(dir, STORE_FILE)} is missing: the local Datum in ${dir} starts on its old ports with no objects; tunnels are made again on their next listen`);
  }
  const ports = portPlan(saved, { api: options.port, edge: options.edgePort }, dir);
  mkdirSync(connectDir, { recursive: true, mode: 0o700 });
  const bind = async <T>(what: string, port: number, start: () => Promise<T>): Promise<T> => {
    try {
      return await start();
    } catch (err) {
      if (port !== 0 && isAddressInUse(err)) {
        throw new Rejected(
          `port ${port} (the local Datum's ${what}${saved ? `, kept in ${join(dir, CLOUD_FILE)}` : ""}) is in use by another process`,
          saved
            ? `is this local Datum already running? Stop whatever holds the port and start it again, or use another --dir for a new local Datum`
            : "pick another port, or leave the flag out for a free one",
          "conflict",
        );
      }
      throw err;
    }
  };

  let saver: StoreSaver | undefined;
  const controlPlane = await bind("API", ports.api, () =>
    startControlPlane({
      port: ports.api,
      ...(options.config ? { config: options.config } : {}),
      prepare: (cloud) => {
        if (savedStore) {
          try {
            cloud.restore(savedStore);
          } catch (err) {
            throw new Malformed(`corrupt local Datum state ${join(dir, STORE_FILE)}`, `fix or delete it (deleting it empties the cloud; deleting ${dir} starts a new one)`, String(err));
          }
        }
        const save = new StoreSaver(join(dir, STORE_FILE), () => {
          const { resourceVersion, projects } = cloud.snapshot();
          return { version: 1, resourceVersion, projects };
        }, (err) =>
          log(`warning: could not save the local Datum's state to ${join(dir, STORE_FILE)}: ${err instanceof Error ? err.message : String(err)}`),
        );
        cloud.subscribe(() => save.changed());
        saver = save;
      },
    }),
  );
  // Run in reverse: the control plane (and its controllers) stop before the last save.
  const cleanups: (() => Promise<void>)[] = [async () => saver?.flush(), () => controlPlane.stop()];
  // Each step is bounded: a stop that waits on something stuck (a peer that never closes) must
  // still end, so a service manager or a test that stops the local Datum is never left waiting.
  const stop = async () => {
    for (const [i, cleanup] of cleanups.reverse().entries()) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bounded = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), STOP_STEP_MS)));
      const outcome = await Promise.race([cleanup().catch(() => undefined), bounded]);
      clearTimeout(timer);
      if (outcome === "late") log(`stopping: step ${i + 1} of ${cleanups.length} did not finish within ${STOP_STEP_MS / 1000}s; going on`);
    }
  };

  try {
    const apiHost = new URL(controlPlane.url).host;
    let double: InstalledDatumctlDouble;
    try {
      double = installDatumctlDouble(join(dir, "datumctl"), {
        session: `dev@local.datum@${apiHost}`,
        server: controlPlane.url,
        org: LOCAL_ORG,
        project,
        keepState: saved !== undefined,
      });
    } catch (err) {
      throw new Malformed(`corrupt datumctl double state in ${join(dir, "datumctl")}`, `fix or delete ${join(dir, "datumctl")} (a new one is written on the next start)`, String(err));
    }

    // The real iroh relay, when there is a binary: devices and the gateway meet through it.
    let relay: RelayServer | undefined;
    let relayUnavailable: string | undefined = options.relay === undefined ? "no relay binary given" : options.relay.kind === "none" ? options.relay.reason : undefined;
    if (options.relay?.kind === "binary") {
      try {
        const port = saved?.ports.relay ?? (await freeLoopbackPort());
        const started = await startRelayServer({ binary: options.relay.path, port, dir: join(dir, "relay"), log });
        relay = started;
        cleanups.push(() => started.stop());
        controlPlane.cloud.relay = started;
      } catch (err) {
        relayUnavailable = err instanceof Error ? err.message.split("\n")[0] : String(err);
      }
    }
    if (!relay) log(`relay: none runs here (${relayUnavailable}); devices publish the placeholder ${controlPlane.url}${PLACEHOLDER_RELAY_PATH}`);

    const gatewayKey = saved?.gatewayKey ?? newGatewayKey();
    let edge: Edge | undefined;
    let edgeUnavailable: string | undefined;
    let modules: { createGateway: typeof import("./gateway/gateway.ts").createGateway; createEdge: typeof import("./gateway/edge.ts").createEdge } | undefined;
    let gateway: Gateway | undefined;
    try {
      // Loaded here, not at the top: the gateway pulls in iroh's native module.
      const { createGateway } = await import("./gateway/gateway.ts");
      const { createEdge } = await import("./gateway/edge.ts");
      modules = { createGateway, createEdge };
      const gatewayOptions = (key: string) => ({
        secretKey: gatewayKeyBytes(key),
        ...(options.gatewayBind ? { bind: options.gatewayBind } : {}),
        ...(relay ? { relayUrls: [relay.url] } : {}),
      });
      let current = await createGateway(gatewayOptions(gatewayKey));
      // The edge dials through whichever gateway runs now: `/_dev/gateway` replaces it with one
      // under a new key (a platform gateway restarted elsewhere), saved so a restart keeps it.
      gateway = {
        get endpointId() {
          return current.endpointId;
        },
        dialConnect: (...a) => current.dialConnect(...a),
        dialAbsolute: (...a) => current.dialAbsolute(...a),
        openStream: (...a) => current.openStream(...a),
        stop: () => current.stop(),
      };
      controlPlane.cloud.gateway = {
        endpointId: () => current.endpointId,
        restart: async () => {
          await current.stop();
          const key = newGatewayKey();
          current = await createGateway(gatewayOptions(key));
          const identity = await readCloudIdentity(dir);
          if (identity) await writeCloudIdentity(dir, { ...identity, gatewayKey: key });
          log(`gateway restarted with a new identity ${current.endpointId}`);
        },
      };
      const started = gateway;
      cleanups.push(() => started.stop());
    } catch (err) {
      edgeUnavailable = err instanceof Error ? err.message.split("\n")[0] : String(err);
      log(`warning: no edge or gateway: ${edgeUnavailable}`);
    }
    if (modules && gateway) {
      const { createEdge } = modules;
      const dialer = gateway;
      edge = await bind("edge", ports.edge, () =>
        createEdge({
          gateway: dialer,
          host: "127.0.0.1",
          port: ports.edge,
          resolveRoute: (hostname) => {
            const route = controlPlane.routes().find((r) => r.hostname === hostname);
            return route ? edgeRoute(route) : undefined;
          },
          log: (level, msg) => {
            if (level !== "debug") log(`edge: ${msg}`);
          },
        }),
      );
      const started = edge;
      cleanups.push(() => started.stop());
    }

    const kubectl = await bind("kubectl TLS listener", ports.kubectl, () => startKubectlListener(controlPlane, dir, project, ports.kubectl, cleanups, log));
    const kubeconfig = kubectl?.kubeconfig;

    if (!saved) {
      await writeCloudIdentity(dir, {
        version: 1,
        createdAt: new Date().toISOString(),
        ports: { api: controlPlane.port, edge: edge?.port ?? null, kubectl: kubectl?.port ?? null, relay: relay?.port ?? null },
        gatewayKey,
      });
    } else if (relay && saved.ports.relay !== relay.port) {
      // A cloud that ran no relay before keeps this one's port from now on.
      await writeCloudIdentity(dir, { ...saved, ports: { ...saved.ports, relay: relay.port } });
    }
    if (saved && savedStore) {
      log(`local Datum restarted from ${dir}: the same ports, objects and sessions`);
    }
    // The first save: a new cloud's seeded objects, or the restored ones as they are.
    await saver?.flush();

    const env = (): Record<string, string> => {
      const vars: Record<string, string> = {
        DATUM_API_HOST: controlPlane.url,
        DATUM_CREDENTIALS_HELPER: double.helperPath,
        DATUM_SESSION: double.session,
        DATUM_PROJECT: project,
        DATUM_ORG: "",
        DATUM_PLUGIN_API_VERSION: "1",
        DATUM_CONNECT_DIR: connectDir,
        ...(relay
          ? // The real relay: iroh reaches it and reports it as the home relay, which is what
            // the Connector publishes (docs/relays.md).
            { DATUM_CONNECT_RELAY_URLS: relay.url, DATUM_DEV_CLOUD_RELAY: relay.url }
          : {
              // No relay runs here: iroh connects over loopback directly, and the Connector's
              // homeRelay (a URL the CRD requires) names this placeholder, declared as one so the
              // agent may publish it although iroh never reaches it (docs/relays.md).
              DATUM_CONNECT_RELAY_URLS: `${controlPlane.url}${PLACEHOLDER_RELAY_PATH}`,
              [PLACEHOLDER_RELAY_ENV]: `${controlPlane.url}${PLACEHOLDER_RELAY_PATH}`,
            }),
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

    return { controlPlane, double, edge, edgeUnavailable, kubeconfig, relay, relayUnavailable, env, stop };
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
  port: number,
  cleanups: (() => Promise<void>)[],
  log: (line: string) => void,
): Promise<{ kubeconfig: string; port: number } | undefined> {
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
    port,
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
  return { kubeconfig, port: server.port ?? port };
}
