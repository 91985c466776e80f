/**
 * `tunnel install`: validate everything, then write the tunnel's `tunnel.yaml` and its service
 * unit, enable and start it, and wait for it to be verified ready.
 *
 * Validation order (issue 5), nothing written until every check passed:
 *   0. flags (exit 2): name, endpoint, health address, project;
 *   1. the session is in `~/.datumctl/config` and can mint a token now (77, or 78 without a helper);
 *   2. `--system` needs a service-account session: the key-file probe of docs/wire-facts.md#session-type,
 *      "unknown" counting as interactive (78, with how to create one);
 *   3. `--system` needs root (77; not checked on Windows, where `sc.exe` itself refuses);
 *   4. a server-side dry run of the HTTPProxy create in the target project (77 permission,
 *      64 quota, 69 unreachable);
 *   5. no service and no named tunnel of that name exists yet (64).
 * A later failure (writing, the manager refusing, the agent failing before ready) removes what
 * was written: the unit (stopped and disabled) and the tunnel's directory. Past the ready window
 * the service stays installed and provisioning (exit 75), as `listen --detach` does.
 *
 * A group (`install -f FILE`, docs/groups.md) is installed the same way: its file was parsed and
 * validated whole before this is called; the dry run runs once per service; `tunnel.yaml` records
 * no endpoint and no label, and `group.yaml` is the file's text, copied verbatim, which is what
 * the unit's `tunnel run --name G` reads (never the working directory).
 */
import { existsSync, statSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import { TokenSource } from "../auth/token-source.ts";
import { datumctlConfigPath, findSession, readDatumctlConfig, type DatumctlConfig, type DatumctlSession } from "../context/datumctl-config.ts";
import { resolveContext } from "../context/resolve.ts";
import { probeSessionType, serviceAccountKeyPath } from "../context/session-type.ts";
import { ControlPlaneClient } from "../controlplane/client.ts";
import { CliError, ConfigError, NotAuthenticated, Rejected, StillProvisioning, UsageError } from "../errors.ts";
import type { GroupFile } from "../group/config.ts";
import { ensurePrivateDir, writeFileAtomic } from "../state/atomic-write.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles, type Scope } from "../state/paths.ts";
import { readRunState, type ServiceRecord } from "../state/run-state.ts";
import { writeTunnelConfig, type TunnelConfig } from "../state/tunnel-config.ts";
import { settingsFromEnv } from "../state/tunnel-settings.ts";
import { validateEndpoint } from "../tunnel/endpoint.ts";
import { CONNECTOR_NAME_PREFIX, httpProxyBody } from "../tunnel/objects.ts";
import { planExecutable, recordedHelper, writeLauncher, type ExecutablePlan } from "./executable.ts";
import type { ServiceManager } from "./manager.ts";
import { serviceSpec, type ServiceSpec } from "./spec.ts";
import { exitCodeOf, SERVICE_READY_WAIT_MS, waitForService } from "./wait.ts";

type Env = Record<string, string | undefined>;

/** A group's file, parsed (src/group/config.ts) and as written. */
export interface InstallGroup {
  readonly file: GroupFile;
  /** The file's text exactly as read: copied verbatim into `group.yaml`. */
  readonly text: string;
  /** Where it was read from (absolute), recorded so `tunnel reload` re-reads it by default. */
  readonly source: string;
}

export interface InstallRequest {
  /** The tunnel's name; for a group, the file's `name`. */
  readonly name: string;
  /** A named tunnel's endpoint; absent for a group. */
  readonly endpoint?: string | undefined;
  readonly label?: string | undefined;
  readonly session: string;
  readonly project?: string | undefined;
  readonly system: boolean;
  readonly health?: string | undefined;
  /** Install a group instead of one tunnel (no `endpoint` nor `label` then). */
  readonly group?: InstallGroup | undefined;
}

export interface InstallDeps {
  readonly manager: ServiceManager;
  readonly env?: Env;
  readonly platform?: NodeJS.Platform;
  readonly isRoot?: () => boolean;
  /** Where progress and warnings go (stderr). */
  readonly say?: (line: string) => void;
  /** How long to wait for the started service to be ready; 30 s by default, 0 to not wait. */
  readonly waitMs?: number;
  readonly plan?: (tunnelDir: string) => ExecutablePlan;
  readonly which?: (name: string) => string | null;
}

export interface InstallResult {
  readonly config: TunnelConfig;
  readonly spec: ServiceSpec;
  readonly unitPath: string | null;
  readonly dir: string;
  /** Verified public URLs (empty when not waited for). */
  readonly urls: readonly string[];
  /** A group's services as its agent recorded them once settled (empty when not waited for). */
  readonly services: readonly ServiceRecord[];
  readonly warnings: readonly string[];
}

/** Placeholder Connector for the dry run: the real one is created by the first `tunnel run`. */
export const DRY_RUN_CONNECTOR = `${CONNECTOR_NAME_PREFIX}install-check`;

const SA_HINT =
  "a system service needs a service-account session: create a service account and download its key in the Datum portal, " +
  "log it in as the user the service runs as ('sudo -H datumctl login --credentials <key.json>'), " +
  "then pass its session name (<client_email>@<api host>, see 'datumctl auth list') to --session";

function defaultIsRoot(platform: NodeJS.Platform): () => boolean {
  return () => platform === "win32" || process.getuid?.() === 0;
}

/** The session by name, or by its email (as `datumctl auth switch` accepts, docs/wire-facts.md#service-account-login). */
export function findInstallSession(config: DatumctlConfig, wanted: string): DatumctlSession | "ambiguous" | undefined {
  const exact = findSession(config, wanted);
  if (exact) return exact;
  const byEmail = (config.sessions ?? []).filter((s) => s["user-email"] === wanted);
  if (byEmail.length > 1) return "ambiguous";
  return byEmail[0];
}

/**
 * Step 1's "not in the config" error, naming the half-done service-account login of
 * docs/wire-facts.md#service-account-login when its key file exists but the session does not.
 */
function missingSession(wanted: string, configPath: string, env: Env, platform: NodeJS.Platform): NotAuthenticated {
  const at = wanted.lastIndexOf("@");
  if (at > 0) {
    const apiHost = wanted.slice(at + 1);
    const authHost = apiHost.startsWith("api.") ? `auth.${apiHost.slice(4)}` : "auth.datum.net";
    const keyPath = serviceAccountKeyPath(`${wanted.slice(0, at)}@${authHost}`, env, platform);
    if (keyPath && existsSync(keyPath)) {
      return new NotAuthenticated(
        `session "${wanted}" is not in ${configPath}, but its service-account key is stored (${keyPath}): the login did not finish`,
        "datumctl saves the session only after choosing a context; log in again with one chosen: 'DATUM_PROJECT=<project> datumctl login --credentials <key.json>'",
      );
    }
  }
  return new NotAuthenticated(
    `no datumctl session named "${wanted}" in ${configPath}`,
    "list sessions with 'datumctl auth list'; log in with 'datumctl login' (or 'datumctl login --credentials <key.json>' for a service account)",
  );
}

export async function installTunnel(req: InstallRequest, deps: InstallDeps): Promise<InstallResult> {
  const env: Env = deps.env ?? process.env;
  const platform = deps.platform ?? process.platform;
  const say = deps.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const manager = deps.manager;
  const scope: Scope = req.system ? "system" : "user";
  const warnings: string[] = [];

  // 0. Flags (a group's file was checked whole by its parser).
  const name = assertSafeName("tunnel name", req.name);
  if (!req.session.trim()) throw new UsageError("--session is required", "pass the datumctl session the service authenticates as (see 'datumctl auth list')");
  const target = installTarget(req);
  if (req.health !== undefined) (await import("../health/address.ts")).parseHealthAddress(req.health);
  if (platform === "win32" && scope === "user") {
    throw new Rejected("Windows services are machine-wide: install with --system (as Administrator)", "or run it in the background for this login with 'tunnel listen --detach'");
  }

  // 1. The session exists and mints a token now.
  const configPath = datumctlConfigPath(env);
  const configResult = readDatumctlConfig(configPath);
  if (!configResult.found) {
    throw new NotAuthenticated(`no datumctl config at ${configPath}`, "log in first: 'datumctl login' (or 'datumctl login --credentials <key.json>' for a service account)");
  }
  const found = findInstallSession(configResult.config, req.session.trim());
  if (found === "ambiguous") throw new UsageError(`more than one datumctl session has the email "${req.session}"`, "pass the full session name (see 'datumctl auth list')");
  if (!found) throw missingSession(req.session.trim(), configPath, env, platform);
  const session = found.name;
  const context = resolveContext({ flags: { project: req.project, session }, env, config: configResult });
  const helper = recordedHelper(env, deps.which);
  if (!helper) {
    throw new ConfigError("no credentials helper: datumctl is not on PATH and DATUM_CREDENTIALS_HELPER is unset", "install datumctl, or run this as 'datumctl connect tunnel install ...'");
  }
  const tokens = new TokenSource({ helper, session, env });
  await tokens.token();

  // 2. A system service authenticates with no one logged in: a service account.
  const probe = probeSessionType(configResult.config, session, env, { platform });
  if (scope === "system" && probe.type !== "service_account") {
    throw new ConfigError(`session "${session}" is not a service-account session (${probe.reason}); a system service cannot use an interactive login`, SA_HINT);
  }

  // 3. Root.
  if (scope === "system" && platform !== "win32" && !(deps.isRoot ?? defaultIsRoot(platform))()) {
    throw new NotAuthenticated("installing a system service needs root", "run it with sudo -H: 'sudo -H datumctl connect tunnel install ... --system'", undefined, "forbidden");
  }

  // 4. The platform would accept the tunnel (each of a group's): permission, quota, reachability.
  const client = new ControlPlaneClient({ apiBase: context.apiBase, project: context.project, tokens, notice: say });
  for (const t of target.tunnels) await client.create("HTTPProxy", httpProxyBody(t.label, t.endpoint, DRY_RUN_CONNECTOR), { dryRun: true });

  // 5. The name is free.
  const root = stateRoot(scope, { env });
  const dir = tunnelDir(root, name);
  const unitPath = manager.unitPath(scope, name);
  const rename = req.group ? "give the group another name in its file" : "pick another --name";
  if (await manager.isInstalled(scope, name)) {
    throw new Rejected(
      `a ${manager.managerName} service for tunnel "${name}" is already installed${unitPath ? ` (${unitPath})` : ""}`,
      `see it with 'tunnel status --name ${name}${req.system ? " --system" : ""}'; remove it with 'tunnel uninstall --name ${name}${req.system ? " --system" : ""}', or ${rename}`,
      "conflict",
    );
  }
  if (existsSync(dir)) {
    throw new Rejected(
      `a named tunnel "${name}" already exists (${dir})`,
      `${rename}, or remove it first: 'tunnel uninstall --name ${name}${req.system ? " --system" : ""}' (stops it and deletes its directory)`,
      "conflict",
    );
  }

  // Every check passed.
  if (scope === "user" && probe.type !== "service_account") {
    warnings.push(
      `session "${session}" is an interactive login: this service stops working when that login expires; for a long-lived service use a service-account session ('datumctl login --credentials <key.json>')`,
    );
  }
  let user: string | undefined;
  let home: string | undefined;
  if (scope === "system") {
    user = currentUserName();
    home = dirname(dirname(configPath));
    const owner = ownerOf(home);
    if (platform !== "win32" && owner !== undefined && owner !== process.getuid?.()) {
      warnings.push(`${home} belongs to another user (uid ${owner}) but the service runs as ${user}: datumctl may rewrite its files there as ${user}; prefer a service-account login of ${user} itself ('sudo -H datumctl login --credentials <key.json>')`);
    }
  }
  if (manager.kind === "systemd" && scope === "user") {
    const me = currentUserName();
    if (!existsSync(`/var/lib/systemd/linger/${me}`)) {
      warnings.push(`user services stop when ${me} logs out: to keep this one running (and start it at boot), run 'loginctl enable-linger ${me}'`);
    }
  }
  for (const w of warnings) say(`warning: ${w}`);

  const plan = (deps.plan ?? ((d: string) => planExecutable({ tunnelDir: d, platform })))(dir);
  const config: TunnelConfig = {
    name,
    label: target.label,
    endpoint: target.endpoint,
    project: context.project,
    session,
    org: context.org ?? null,
    api_host: context.apiBase,
    executable: plan.path,
    helper,
    created_at: new Date().toISOString(),
    scope,
    health: req.health ?? null,
    ...(req.group ? { group_file: req.group.source } : {}),
    // The unit's environment is the manager's, not this shell's: what run needs to find the
    // public URL and the relays goes into the tunnel's own state.
    ...settingsFromEnv(env),
  };
  const spec = serviceSpec(config, { stateRoot: root, tunnelDir: dir, user, home, services: req.group?.file.services.length });
  // Rendered before anything is written: a path the unit format cannot carry fails here.
  try {
    manager.render(spec);
  } catch (err) {
    throw new ConfigError(
      `cannot write a ${manager.managerName} unit for tunnel ${name}: ${err instanceof Error ? err.message : String(err)}`,
      "install datumctl-connect and datumctl under paths without quotes, backslashes or control characters",
    );
  }

  let unitInstalled = false;
  const previous = await readRunState(tunnelFiles(dir).run).catch(() => undefined);
  const since = Date.now();
  try {
    await ensurePrivateDir(dir);
    await writeLauncher(plan);
    await mkdir(tunnelFiles(dir).logs, { recursive: true, mode: 0o700 });
    await writeTunnelConfig(tunnelFiles(dir).config, config);
    if (req.group) await writeFileAtomic(tunnelFiles(dir).group, req.group.text);
    unitInstalled = true;
    await manager.install(spec);
    const waitMs = deps.waitMs ?? SERVICE_READY_WAIT_MS;
    let urls: readonly string[] = [];
    let services: readonly ServiceRecord[] = [];
    if (waitMs > 0) {
      const waited = await waitForService({ runPath: tunnelFiles(dir).run, manager, scope, name, waitMs, since, previous });
      switch (waited.outcome) {
        case "ready":
          urls = waited.state.publicUrls;
          services = waited.state.services ?? [];
          break;
        case "failed":
          throw new CliError(`the service failed before it was ready: ${waited.message}`, exitCodeOf(waited.exit), waited.hint ?? `nothing was installed; fix the cause and run install again (the log was in ${tunnelFiles(dir).logs})`);
        case "provisioning": {
          const host = waited.state?.hostnames[0];
          throw new StillProvisioning(
            `tunnel ${name} is installed and started${host ? ` (${host})` : ""}, but still provisioning after ${Math.round(waitMs / 1000)}s`,
            `it keeps running as ${spec.unit}; check it with 'tunnel status --name ${name}${req.system ? " --system" : ""}'`,
          );
        }
      }
    }
    return { config, spec, unitPath, dir, urls, services, warnings };
  } catch (err) {
    if (err instanceof StillProvisioning) throw err;
    if (unitInstalled) await manager.uninstall(scope, name).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** What `tunnel install` was given on its command line. */
export interface InstallFlags {
  readonly name?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly label?: string | undefined;
  readonly session?: string | undefined;
  readonly project?: string | undefined;
  readonly health?: string | undefined;
  readonly system: boolean;
}

/** `-f FILE` beside `--name`, `--endpoint` or `--label`: a usage error (exit 2), checked before the file is read. */
export function refuseSingleTunnelFlags(flags: Pick<InstallFlags, "name" | "endpoint" | "label">, path: string): void {
  for (const flag of ["name", "endpoint", "label"] as const) {
    if (flags[flag] !== undefined) {
      throw new UsageError(`-f cannot be combined with --${flag}: a group's name, endpoints and labels come from its file (${path})`, `drop --${flag}, or install one tunnel with --name and --endpoint instead of -f`);
    }
  }
}

/**
 * `install -f FILE`'s request: the group's name, endpoints and labels come from the file alone
 * (`--name`, `--endpoint`, `--label` are usage errors beside `-f`); its project, session and health
 * are the file's where it sets them and the flags' where it does not. A flag that disagrees with
 * the file is a usage error rather than silently ignored.
 */
export function groupInstallRequest(group: InstallGroup, flags: InstallFlags, path: string): InstallRequest {
  refuseSingleTunnelFlags(flags, path);
  const pick = (key: "session" | "project" | "health"): string | undefined => {
    const fromFile = group.file[key];
    const fromFlag = flags[key]?.trim() || undefined;
    if (fromFile !== null && fromFlag !== undefined && fromFlag !== fromFile) {
      throw new UsageError(`--${key} "${fromFlag}" disagrees with the ${key} "${fromFile}" in ${path}`, `drop --${key} (the file's ${key} is used), or change ${key}: in the file`);
    }
    return fromFile ?? fromFlag;
  };
  const session = pick("session");
  if (session === undefined) throw new UsageError("--session is required", `pass the datumctl session the service authenticates as (see 'datumctl auth list'), or set session: in ${path}`);
  return { name: group.file.name, session, project: pick("project"), health: pick("health"), system: flags.system, group };
}

/**
 * What is installed: one tunnel (its endpoint, validated as the platform would, and its label), or
 * a group's services (no endpoint or label of its own in `tunnel.yaml`).
 */
function installTarget(req: InstallRequest): { endpoint: string | null; label: string | null; tunnels: { endpoint: string; label: string }[] } {
  if (req.group) {
    if (req.endpoint !== undefined || req.label !== undefined) throw new UsageError("a group's endpoints and labels come from its file", "drop --endpoint and --label");
    if (req.group.file.name !== req.name) throw new UsageError(`the group's file names it "${req.group.file.name}", not "${req.name}"`, "drop --name: a group's name comes from its file");
    return { endpoint: null, label: null, tunnels: req.group.file.services.map((x) => ({ endpoint: x.endpoint, label: x.label })) };
  }
  if (req.endpoint === undefined) throw new UsageError("--endpoint is required", "pass the local service to expose, e.g. --endpoint 127.0.0.1:3000, or a group's file with -f FILE");
  const { endpoint } = validateEndpoint(req.endpoint);
  const label = req.label ?? req.endpoint.trim();
  return { endpoint, label, tunnels: [{ endpoint, label }] };
}

/**
 * This process's account name, for `User=` and the linger check. Bun's `userInfo().username` is
 * only `$USER` ("unknown" without it: cron, systemd-run, nsenter), so the name is looked up by uid
 * (`getent passwd`, which asks NSS like systemd will); `$USER` only where that is not possible.
 */
export function currentUserName(): string {
  const uid = process.getuid?.();
  const getent = uid !== undefined ? Bun.which("getent") : null;
  if (uid !== undefined && getent) {
    const r = Bun.spawnSync([getent, "passwd", String(uid)], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
    const name = r.success ? r.stdout.toString().split(":", 1)[0]?.trim() : undefined;
    if (name) return name;
  }
  return userInfo().username;
}

function ownerOf(path: string): number | undefined {
  try {
    return statSync(path).uid;
  } catch {
    return undefined;
  }
}
