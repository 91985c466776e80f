/**
 * What every service backend renders from: one `ServiceSpec`, derived from a named tunnel's
 * `tunnel.yaml` (docs/architecture.md#local-state) plus the few facts about the installing process a unit
 * needs (the state root, and for system units the user and `HOME` datumctl's config lives under).
 *
 * A spec holds no secret by construction: the command line is the recorded executable with
 * `tunnel run --name N [--system]`, and the environment is paths only (the credentials helper, the
 * state root, `HOME`). Tokens are minted by the running agent through the helper (docs/architecture.md#tokens).
 *
 * A group (docs/groups.md) runs exactly like a named tunnel — `tunnel run --name G` reads its
 * `group.yaml` from the state directory, never the working directory — and reloads on SIGHUP, so
 * its spec is `reloadable` (systemd: `ExecReload=`).
 */
import type { Scope } from "../state/paths.ts";
import { tunnelFiles } from "../state/paths.ts";
import type { TunnelConfig } from "../state/tunnel-config.ts";

/** Restart a failed agent after this long (systemd `RestartSec`, launchd `ThrottleInterval`). */
export const RESTART_SEC = 5;
/** The agent's own stop budget is 30 s (`STOP_BUDGET_MS`); a manager waits a little longer before it kills. */
export const TIMEOUT_STOP_SEC = 45;
/** systemd `WatchdogSec`: the agent pings every half of it while its data plane answers. */
export const WATCHDOG_SEC = 30;

/** `datumctl-connect-<scope>-<name>`: the systemd unit (without `.service`), launchd label and SCM service name. */
export function serviceName(scope: Scope, name: string): string {
  return `datumctl-connect-${scope}-${name}`;
}

export interface ServiceSpec {
  readonly name: string;
  readonly scope: Scope;
  /** `serviceName(scope, name)`. */
  readonly unit: string;
  /** One line for the manager's listings. */
  readonly description: string;
  /** The full command line: the recorded executable, then `tunnel run --name N [--system]`. */
  readonly argv: readonly string[];
  /** Paths only, never a secret. Rendered in this (insertion) order. */
  readonly env: Readonly<Record<string, string>>;
  /** System units: the account the agent runs as (whose `HOME` holds `~/.datumctl`). */
  readonly user: string | null;
  /** The tunnel's log directory (launchd's stdout/stderr go there). */
  readonly logDir: string;
  /** The agent converges to its file on SIGHUP (a group), so the manager may offer a reload. */
  readonly reloadable: boolean;
}

export interface SpecContext {
  /** The state root the tunnel lives under (`stateRoot(scope)` of the installing process). */
  readonly stateRoot: string;
  /** The tunnel's directory under that root. */
  readonly tunnelDir: string;
  /** System scope: the user the service runs as. */
  readonly user?: string | undefined;
  /** System scope: that user's home, so datumctl finds `~/.datumctl/config` (docs/wire-facts.md#datumctl-config). */
  readonly home?: string | undefined;
  /** A group's service count (a group's config has no endpoint: its services are in `group.yaml`). */
  readonly services?: number | undefined;
}

/** One line for the manager's listings: the tunnel's endpoint, or the group's size. */
export function serviceDescription(config: TunnelConfig, services: number | undefined): string {
  if (config.endpoint !== null) return `Datum tunnel ${config.name} (${config.endpoint}) via datumctl-connect`;
  const n = services ?? 0;
  return `Datum tunnel group ${config.name} (${n} ${n === 1 ? "service" : "services"}) via datumctl-connect`;
}

/** `tunnel run` arguments after the executable. */
export function runArgs(name: string, scope: Scope): string[] {
  return ["tunnel", "run", "--name", name, ...(scope === "system" ? ["--system"] : [])];
}

export function serviceSpec(config: TunnelConfig, ctx: SpecContext): ServiceSpec {
  if (!config.executable) throw new Error(`tunnel ${config.name} has no recorded executable`);
  const scope = config.scope;
  const env: Record<string, string> = {};
  if (config.helper) env.DATUM_CREDENTIALS_HELPER = config.helper;
  // Pinned, so the unit finds exactly the tunnel.yaml install wrote, whatever XDG_DATA_HOME the
  // service manager's environment has.
  env.DATUM_CONNECT_DIR = ctx.stateRoot;
  if (scope === "system" && ctx.home) env.HOME = ctx.home;
  return {
    name: config.name,
    scope,
    unit: serviceName(scope, config.name),
    description: serviceDescription(config, ctx.services),
    argv: [config.executable, ...runArgs(config.name, scope)],
    env,
    user: scope === "system" ? (ctx.user ?? null) : null,
    logDir: tunnelFiles(ctx.tunnelDir).logs,
    reloadable: config.endpoint === null,
  };
}
