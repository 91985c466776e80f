/**
 * What every tunnel command needs before it can talk to the platform: the resolved project,
 * session and API host; a token source over datumctl's credentials helper; the control-plane
 * client; this device's identity for the project; and the tunnel service tying them together.
 */
import { helperTimeoutMs } from "../auth/credentials-helper.ts";
import { TokenSource, type TokenEvent } from "../auth/token-source.ts";
import { readDatumctlConfig } from "../context/datumctl-config.ts";
import { resolveContext, type ResolvedContext } from "../context/resolve.ts";
import { ControlPlaneClient } from "../controlplane/client.ts";
import { log, say } from "../log.ts";
import { loadIdentity, loadOrCreateIdentity, type Identity } from "../state/identity.ts";
import { projectDir, slotFiles, stateRoot } from "../state/paths.ts";
import { TunnelService } from "./service.ts";

export interface ProjectSession {
  readonly context: ResolvedContext;
  readonly tokens: TokenSource;
  readonly client: ControlPlaneClient;
  readonly service: TunnelService;
  readonly identity: Identity;
  /** The identity slot: `projects/<project>/`, or `tunnels/<name>/` for a named tunnel. */
  readonly slotDir: string;
}

/** What a listen or a group takes from an open project (src/listen/agent.ts, session.ts). */
export function sessionDepsOf(project: ProjectSession) {
  return {
    project: project.context.project,
    apiBase: project.context.apiBase,
    session: project.context.session,
    service: project.service,
    tokens: project.tokens,
    secretKey: project.identity.secretKey,
    endpointId: project.identity.endpointIdHex,
  } as const;
}

export interface OpenOptions {
  readonly project?: string | undefined;
  readonly session?: string | undefined;
  /** A named tunnel's persisted API base (its `tunnel.yaml`), instead of resolving one. */
  readonly apiBase?: string | undefined;
  /** A named tunnel's identity slot (`tunnels/<name>/`), instead of the project's. */
  readonly slotDir?: string | undefined;
  readonly signal?: AbortSignal;
  readonly onTokenEvent?: (event: TokenEvent) => void;
  /**
   * A command that only reads (`list`): use the slot's identity if there is one, and create no
   * directory or key when there is not (then `identity` is undefined).
   */
  readonly readOnly?: boolean;
}

export interface ReadOnlyProjectSession extends Omit<ProjectSession, "identity"> {
  readonly identity: Identity | undefined;
}

function logTokenEvent(event: TokenEvent): void {
  const auth = log.withTag("auth");
  switch (event.type) {
    case "refresh_failed": {
      // One line per backoff step: which attempt, when the next one is, and what to do about it.
      const next = Math.max(1, Math.round(event.retryInMs / 1000));
      const hint = event.error.hint ? ` (hint: ${event.error.hint})` : "";
      auth.warn(`token refresh failed (attempt ${event.attempt}, retrying in ${next}s): ${event.error.message}${hint}`);
      break;
    }
    default:
      auth.debug(`token ${event.type}`);
  }
}

export async function openProject(options: OpenOptions & { readOnly: true }): Promise<ReadOnlyProjectSession>;
export async function openProject(options?: OpenOptions & { readOnly?: false }): Promise<ProjectSession>;
export async function openProject(options: OpenOptions = {}): Promise<ProjectSession | ReadOnlyProjectSession> {
  const resolved = resolveContext({
    flags: { project: options.project, session: options.session },
    env: process.env,
    config: readDatumctlConfig(),
  });
  const context: ResolvedContext = options.apiBase
    ? { ...resolved, apiBase: options.apiBase, origins: { ...resolved.origins, apiBase: { source: "flag", detail: "tunnel.yaml" } } }
    : resolved;
  const tokens = new TokenSource({
    helper: context.helper,
    session: context.session,
    timeoutMs: helperTimeoutMs(process.env),
    onEvent: options.onTokenEvent ?? logTokenEvent,
  });
  const client = new ControlPlaneClient({
    apiBase: context.apiBase,
    project: context.project,
    tokens,
    notice: say,
    debug: (line) => log.withTag("controlplane").debug(line),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const slotDir = options.slotDir ?? projectDir(stateRoot("user"), context.project);
  const identity = options.readOnly ? await loadIdentity(slotDir) : await loadOrCreateIdentity(slotDir);
  const service = new TunnelService({
    client,
    // Without an identity this machine has no Connector: reads that look for ours find none.
    endpointId: identity?.endpointIdHex ?? "",
    allowListPath: slotFiles(slotDir).allowList,
  });
  return { context, tokens, client, service, identity, slotDir };
}
