/**
 * What every tunnel command needs before it can talk to the platform: the resolved project,
 * session and API host; a token source over datumctl's credentials helper; the control-plane
 * client; this device's identity for the project; and the tunnel service tying them together.
 */
import { TokenSource, type TokenEvent } from "../../auth/token-source.ts";
import { readDatumctlConfig } from "../../context/datumctl-config.ts";
import { resolveContext, type ResolvedContext } from "../../context/resolve.ts";
import { ControlPlaneClient } from "../../controlplane/client.ts";
import { log, say } from "../../log.ts";
import { loadOrCreateIdentity, type Identity } from "../../state/identity.ts";
import { projectDir, slotFiles, stateRoot } from "../../state/paths.ts";
import { TunnelService } from "../../tunnel/service.ts";

export interface ProjectSession {
  readonly context: ResolvedContext;
  readonly tokens: TokenSource;
  readonly client: ControlPlaneClient;
  readonly service: TunnelService;
  readonly identity: Identity;
  /** `projects/<project>/`: the unnamed identity slot. */
  readonly slotDir: string;
}

export interface OpenOptions {
  readonly project?: string | undefined;
  readonly session?: string | undefined;
  readonly signal?: AbortSignal;
  readonly onTokenEvent?: (event: TokenEvent) => void;
}

function logTokenEvent(event: TokenEvent): void {
  const auth = log.withTag("auth");
  switch (event.type) {
    case "refresh_failed":
      auth.warn(`token refresh failed: ${event.error.message}`);
      break;
    default:
      auth.debug(`token ${event.type}`);
  }
}

export async function openProject(options: OpenOptions = {}): Promise<ProjectSession> {
  const context = resolveContext({
    flags: { project: options.project, session: options.session },
    env: process.env,
    config: readDatumctlConfig(),
  });
  const tokens = new TokenSource({
    helper: context.helper,
    session: context.session,
    onEvent: options.onTokenEvent ?? logTokenEvent,
  });
  const client = new ControlPlaneClient({
    apiBase: context.apiBase,
    project: context.project,
    tokens,
    notice: say,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const slotDir = projectDir(stateRoot("user"), context.project);
  const identity = await loadOrCreateIdentity(slotDir);
  const service = new TunnelService({
    client,
    endpointId: identity.endpointIdHex,
    allowListPath: slotFiles(slotDir).allowList,
  });
  return { context, tokens, client, service, identity, slotDir };
}
