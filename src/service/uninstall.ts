/**
 * `tunnel uninstall`: stop the service (its clean stop disables the advertisement), optionally
 * delete the tunnel from the control plane (`--purge`), then disable and remove the unit and the
 * tunnel's directory (`tunnel.yaml`, identity, logs). A named tunnel that was never installed as a
 * service (a `listen --detach` one) is removed the same way, minus the manager.
 *
 * `--purge` runs while the tunnel's identity is still on disk (it names this device's Connector);
 * if it fails, nothing is removed, so `uninstall --purge` can simply be run again. A group's purge
 * (docs/groups.md) deletes every tunnel its `services.json` lists that is still on the group's
 * Connector — services removed by a reload included — and leaves any other alone.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { TokenSource } from "../auth/token-source.ts";
import { ControlPlaneClient } from "../controlplane/client.ts";
import { namedTunnel } from "../daemon/inventory.ts";
import { STOP_BUDGET_MS, stopProcess } from "../daemon/stop.ts";
import { CliError, NotAuthenticated, Rejected } from "../errors.ts";
import { readServiceIds } from "../group/service-ids.ts";
import { loadOrCreateIdentity } from "../state/identity.ts";
import { slotFiles, stateRoot, tunnelDir, tunnelFiles, type Scope } from "../state/paths.ts";
import type { TunnelConfig } from "../state/tunnel-config.ts";
import { TunnelService } from "../tunnel/service.ts";
import { recordedHelper } from "./executable.ts";
import type { ServiceManager } from "./manager.ts";

type Env = Record<string, string | undefined>;

export interface UninstallRequest {
  readonly name: string;
  readonly system: boolean;
  readonly purge: boolean;
}

export interface UninstallDeps {
  readonly manager: ServiceManager;
  readonly env?: Env;
  readonly say?: (line: string) => void;
  /** `--system` removes root-owned files; not checked on Windows. */
  readonly isRoot?: () => boolean;
}

export interface UninstallResult {
  readonly name: string;
  readonly scope: Scope;
  /** It was a group (a `group.yaml` in its directory, docs/groups.md). */
  readonly group: boolean;
  /** A service unit was installed and is now removed. */
  readonly service: boolean;
  readonly unitPath: string | null;
  /** The tunnel's directory existed and is now removed. */
  readonly removedDir: string | null;
  /** `--purge`: the tunnel (a group's tunnels) deleted from the control plane, or why nothing was. */
  readonly purged: { readonly id: string; readonly connectorDeleted: boolean } | GroupPurge | { readonly skipped: string } | null;
  /** Manager commands that failed along the way (already stopped, not loaded, …). */
  readonly problems: readonly string[];
}

/** A group's `--purge`: which of its tunnels were deleted, and which were left and why. */
export interface GroupPurge {
  readonly deleted: readonly { readonly service: string; readonly id: string }[];
  readonly kept: readonly { readonly service: string; readonly id: string; readonly reason: string }[];
  readonly connectorDeleted: boolean;
}

/**
 * Which of a group's recorded tunnels to delete (pure): those that exist and are still on this
 * group's Connector; the others are kept, with the reason.
 */
export function groupPurgePlan(
  ids: Readonly<Record<string, string>>,
  tunnels: readonly { readonly id: string; readonly connectorName?: string | undefined }[],
  connector: string | undefined,
): { delete: { service: string; id: string }[]; kept: { service: string; id: string; reason: string }[] } {
  const byId = new Map(tunnels.map((t) => [t.id, t]));
  const plan = { delete: [] as { service: string; id: string }[], kept: [] as { service: string; id: string; reason: string }[] };
  for (const [service, id] of Object.entries(ids).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const t = byId.get(id);
    if (!t) plan.kept.push({ service, id, reason: "not in the control plane any more" });
    else if (connector === undefined || t.connectorName !== connector) {
      plan.kept.push({ service, id, reason: `served by ${t.connectorName ? `Connector ${t.connectorName}` : "no Connector"}, not this group's` });
    } else plan.delete.push({ service, id });
  }
  return plan;
}

async function purgeGroup(config: TunnelConfig, dir: string, env: Env, say: (line: string) => void): Promise<UninstallResult["purged"]> {
  if (!existsSync(slotFiles(dir).listenKey)) return { skipped: "it never ran, so the control plane has no tunnel of it" };
  const ids = await readServiceIds(tunnelFiles(dir).services);
  if (Object.keys(ids).length === 0) return { skipped: "the group recorded no tunnel of its own" };
  const identity = await loadOrCreateIdentity(dir);
  const helper = config.helper ?? recordedHelper(env);
  const tokens = new TokenSource({ helper, session: config.session ?? undefined, env });
  const client = new ControlPlaneClient({ apiBase: config.api_host, project: config.project, tokens, notice: say });
  const service = new TunnelService({ client, endpointId: identity.endpointIdHex, allowListPath: slotFiles(dir).allowList, env });
  const connector = await service.findConnector(identity.endpointIdHex, { patchAnnotations: false });
  const plan = groupPurgePlan(ids, await service.list(), connector?.metadata.name);
  let connectorDeleted = false;
  for (const t of plan.delete) connectorDeleted = (await service.delete(t.id)).connectorDeleted || connectorDeleted;
  return { deleted: plan.delete, kept: plan.kept, connectorDeleted };
}

async function purgeTunnel(config: TunnelConfig, dir: string, tunnelId: string | null, env: Env, say: (line: string) => void): Promise<UninstallResult["purged"]> {
  if (!existsSync(slotFiles(dir).listenKey)) return { skipped: "it never ran, so the control plane has no tunnel of it" };
  const identity = await loadOrCreateIdentity(dir);
  const helper = config.helper ?? recordedHelper(env);
  const tokens = new TokenSource({ helper, session: config.session ?? undefined, env });
  const client = new ControlPlaneClient({ apiBase: config.api_host, project: config.project, tokens, notice: say });
  const service = new TunnelService({ client, endpointId: identity.endpointIdHex, allowListPath: slotFiles(dir).allowList, env });
  let id = tunnelId;
  if (!id) {
    const connector = await service.findConnector(identity.endpointIdHex, { patchAnnotations: false });
    const mine = (await service.list()).find((t) => t.endpoint === config.endpoint && connector !== undefined && t.connectorName === connector.metadata.name);
    id = mine?.id ?? null;
  }
  if (!id) return { skipped: "no tunnel of this device serves its endpoint in the control plane" };
  const outcome = await service.delete(id);
  return { id, connectorDeleted: outcome.connectorDeleted };
}

export async function uninstallTunnel(req: UninstallRequest, deps: UninstallDeps): Promise<UninstallResult> {
  const env: Env = deps.env ?? process.env;
  const say = deps.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const scope: Scope = req.system ? "system" : "user";
  const manager = deps.manager;
  if (req.system && process.platform !== "win32" && !(deps.isRoot ?? (() => process.getuid?.() === 0))()) {
    throw new NotAuthenticated("uninstalling a system service needs root", `run it with sudo -H: 'sudo -H datumctl connect tunnel uninstall --name ${req.name} --system'`, undefined, "forbidden");
  }
  const root = stateRoot(scope, { env });
  const dir = tunnelDir(root, req.name);
  const installed = await manager.isInstalled(scope, req.name);
  const entry = await namedTunnel(root, req.name);
  if (!installed && !entry) {
    throw new Rejected(`no tunnel named "${req.name}"${req.system ? " in system scope" : ""}`, "run 'tunnel ps' to see this machine's tunnels", "not_found");
  }
  const problems: string[] = [];
  const group = existsSync(tunnelFiles(dir).group);

  // Stop first: the agent disables its advertisement on the way out, and must not rewrite the
  // directory while it is being removed.
  if (installed) {
    try {
      await manager.stop(scope, req.name);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (entry?.run) {
    const outcome = await stopProcess(entry.run.pid, entry.run.startTime, STOP_BUDGET_MS);
    if (outcome === "killed") problems.push(`tunnel ${req.name} did not stop within ${STOP_BUDGET_MS / 1000}s and was killed`);
  }

  let purged: UninstallResult["purged"] = null;
  if (req.purge) {
    if (!entry?.config) purged = { skipped: "its tunnel.yaml is gone, so its project and session are unknown" };
    else {
      try {
        purged = group
          ? await purgeGroup(entry.config, dir, env, say)
          : await purgeTunnel(entry.config, dir, entry.run?.tunnelId ?? null, env, say);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        const flag = req.system ? " --system" : "";
        throw new CliError(
          `could not delete tunnel ${req.name} from the control plane: ${err.message}`,
          err.exit,
          `nothing was removed${installed ? " (the service is stopped)" : ""}; run 'tunnel uninstall --name ${req.name}${flag} --purge' again once that is fixed, or drop --purge to keep the tunnel in Datum`,
          err.code,
          err.details,
        );
      }
    }
  }

  const unitPath = manager.unitPath(scope, req.name);
  if (installed) problems.push(...(await manager.uninstall(scope, req.name)));
  let removedDir: string | null = null;
  if (entry || existsSync(dir)) {
    await rm(dir, { recursive: true, force: true });
    removedDir = dir;
  }
  return { name: req.name, scope, group, service: installed, unitPath: installed ? unitPath : null, removedDir, purged, problems };
}
