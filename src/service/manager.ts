/**
 * The service manager behind one small interface (`ServiceManager`): systemd on Linux, launchd on
 * macOS, the Windows service control manager. Each backend is pure — it renders its unit file and
 * builds the exact argument vectors of the manager's CLI (`systemctl`, `launchctl`, `sc.exe`) —
 * and `CommandServiceManager` runs those vectors through a `CommandRunner`. Tests check the
 * rendered files and the vectors as data, and drive the manager with a recording runner: nothing
 * here needs a running service manager to be tested.
 */
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { CliError, Exit, NotAuthenticated, Unreachable } from "../errors.ts";
import type { Scope } from "../state/paths.ts";
import { writeFileAtomic } from "../state/atomic-write.ts";
import type { ServiceSpec } from "./spec.ts";

export type Argv = readonly string[];

export interface CommandResult {
  /** Exit code; 127 when the program was not found. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  run(argv: Argv): Promise<CommandResult>;
}

export type ManagerKind = "systemd" | "launchd" | "scm";

/** What the manager says about one service. `reachable: false` means every field is a guess ("unknown"). */
export interface ManagerState {
  readonly reachable: boolean;
  /** The manager knows the service (loaded / registered). */
  readonly loaded: boolean | null;
  /** Starts at boot / login. */
  readonly enabled: boolean | null;
  /** systemd ActiveState, launchd `state`, SCM STATE: `active`, `inactive`, `failed`, `activating`, `running`, … or `unknown`. */
  readonly active: string;
  readonly sub: string | null;
  /** systemd `Result` (`success`, `exit-code`, `watchdog`, `signal`, …). */
  readonly result: string | null;
  /** The main process's last exit status, as the manager saw it. */
  readonly exitStatus: number | null;
  readonly pid: number | null;
  readonly restarts: number | null;
  /** Why the state is unknown, or extra words from the manager. */
  readonly detail: string | null;
}

export function unknownState(detail: string): ManagerState {
  return { reachable: false, loaded: null, enabled: null, active: "unknown", sub: null, result: null, exitStatus: null, pid: null, restarts: null, detail };
}

/** A backend: pure renderers and argument-vector builders for one manager. */
export interface Backend {
  readonly kind: ManagerKind;
  /** How users know it: `systemd`, `launchd`, `the Windows service control manager`. */
  readonly managerName: string;
  /** Where the unit file is written; `null` where the manager keeps the definition itself (SCM). */
  unitPath(scope: Scope, name: string): string | null;
  /** The unit file's text; `null` where there is none (SCM). */
  render(spec: ServiceSpec): string | null;
  /** After the unit file is written: register, enable, start (without waiting for ready). */
  installPlan(spec: ServiceSpec): Argv[];
  startPlan(scope: Scope, name: string): Argv[];
  stopPlan(scope: Scope, name: string): Argv[];
  /** Before the unit file is deleted: stop and unregister. Failures are tolerated (already stopped, not loaded). */
  removePlan(scope: Scope, name: string): Argv[];
  /** After the unit file is deleted. Failures are tolerated. */
  afterRemovePlan(scope: Scope, name: string): Argv[];
  queryPlan(scope: Scope, name: string): Argv[];
  /** `results` answer `queryPlan(scope, name)` in order. */
  parseQuery(results: readonly CommandResult[], scope: Scope, name: string): ManagerState;
  /** SCM: whether the service exists, from the query (there is no unit file to look at). */
  registered?(results: readonly CommandResult[]): boolean;
}

export interface ServiceManager {
  readonly kind: ManagerKind;
  readonly managerName: string;
  unitPath(scope: Scope, name: string): string | null;
  render(spec: ServiceSpec): string | null;
  isInstalled(scope: Scope, name: string): Promise<boolean>;
  /** Write the unit and register, enable and start it; undoes what it did when a step fails. */
  install(spec: ServiceSpec): Promise<void>;
  start(scope: Scope, name: string): Promise<void>;
  stop(scope: Scope, name: string): Promise<void>;
  /** Stop, unregister, delete the unit. Best effort for the manager calls; the unit file always goes. */
  uninstall(scope: Scope, name: string): Promise<string[]>;
  query(scope: Scope, name: string): Promise<ManagerState>;
}

/** Messages of a manager that is not running at all (containers, CI, this build machine). */
const NOT_RUNNING = [
  /System has not been booted with systemd/i,
  /Failed to connect to bus/i,
  /Failed to (?:connect|get D-Bus connection)/i,
  /Could not connect to (?:the )?(?:system|user) (?:bus|manager)/i,
  /No medium found/i,
  /\$DBUS_SESSION_BUS_ADDRESS and \$XDG_RUNTIME_DIR not defined/i,
];
const DENIED = [/Access denied/i, /Interactive authentication required/i, /Operation not permitted/i, /OpenSCManager FAILED 5/i];

export function managerUnavailable(result: CommandResult): boolean {
  return result.code === 127 || NOT_RUNNING.some((re) => re.test(result.stderr) || re.test(result.stdout));
}

/** The `CliError` for a failed manager command. */
export function managerFailure(managerName: string, argv: Argv, result: CommandResult): CliError {
  const text = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(0, 3).join(" ");
  const command = argv.join(" ");
  if (result.code === 127) {
    return new Unreachable(`${argv[0]} not found: ${managerName} is not available here`, `run '${command}' on a machine where ${managerName} manages services`, undefined, "unreachable");
  }
  if (managerUnavailable(result)) {
    return new Unreachable(`${managerName} is not running here: '${command}' failed: ${text}`, `this machine has no running ${managerName}; use 'tunnel listen --detach' instead of a service`);
  }
  if (DENIED.some((re) => re.test(text))) {
    return new NotAuthenticated(`'${command}' was denied: ${text}`, "system services need root (sudo -H) or Administrator", undefined, "forbidden");
  }
  return new CliError(`'${command}' failed (exit ${result.code}): ${text || "no output"}`, Exit.runtime);
}

/** Runs argument vectors for real: the program is looked up on PATH; not found is exit 127. */
export function processRunner(timeoutMs = 60_000): CommandRunner {
  return {
    async run(argv) {
      const [program, ...rest] = argv;
      const path = program ? Bun.which(program) : null;
      if (!path) return { code: 127, stdout: "", stderr: `${program ?? "(none)"}: command not found` };
      const child = Bun.spawn([path, ...rest], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      return { code, stdout, stderr };
    },
  };
}

export class CommandServiceManager implements ServiceManager {
  readonly kind: ManagerKind;
  readonly managerName: string;
  readonly #backend: Backend;
  readonly #runner: CommandRunner;

  constructor(backend: Backend, runner: CommandRunner = processRunner()) {
    this.#backend = backend;
    this.#runner = runner;
    this.kind = backend.kind;
    this.managerName = backend.managerName;
  }

  unitPath(scope: Scope, name: string): string | null {
    return this.#backend.unitPath(scope, name);
  }

  render(spec: ServiceSpec): string | null {
    return this.#backend.render(spec);
  }

  async isInstalled(scope: Scope, name: string): Promise<boolean> {
    const path = this.#backend.unitPath(scope, name);
    if (path !== null) return existsSync(path);
    const results = await this.#all(this.#backend.queryPlan(scope, name));
    return this.#backend.registered?.(results) ?? false;
  }

  async install(spec: ServiceSpec): Promise<void> {
    const path = this.#backend.unitPath(spec.scope, spec.name);
    const text = this.#backend.render(spec);
    if (path !== null && text !== null) {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      // Unit files are configuration, not secrets: readable like the manager's other units.
      await writeFileAtomic(path, text, 0o644, { privateDir: false });
    }
    try {
      await this.#each(this.#backend.installPlan(spec));
    } catch (err) {
      await this.uninstall(spec.scope, spec.name).catch(() => undefined);
      throw err;
    }
  }

  async start(scope: Scope, name: string): Promise<void> {
    await this.#each(this.#backend.startPlan(scope, name));
  }

  async stop(scope: Scope, name: string): Promise<void> {
    await this.#each(this.#backend.stopPlan(scope, name));
  }

  async uninstall(scope: Scope, name: string): Promise<string[]> {
    const problems: string[] = [];
    const tolerate = async (plan: Argv[]) => {
      for (const argv of plan) {
        const result = await this.#runner.run(argv);
        if (result.code !== 0) problems.push(managerFailure(this.managerName, argv, result).message);
      }
    };
    await tolerate(this.#backend.removePlan(scope, name));
    const path = this.#backend.unitPath(scope, name);
    if (path !== null) await rm(path, { force: true });
    await tolerate(this.#backend.afterRemovePlan(scope, name));
    return problems;
  }

  async query(scope: Scope, name: string): Promise<ManagerState> {
    const results = await this.#all(this.#backend.queryPlan(scope, name));
    const unavailable = results.find(managerUnavailable);
    if (unavailable) return unknownState(`${this.managerName} is not reachable: ${(unavailable.stderr.trim() || unavailable.stdout.trim()).split("\n")[0]}`);
    return this.#backend.parseQuery(results, scope, name);
  }

  async #all(plan: readonly Argv[]): Promise<CommandResult[]> {
    const results: CommandResult[] = [];
    for (const argv of plan) results.push(await this.#runner.run(argv));
    return results;
  }

  async #each(plan: readonly Argv[]): Promise<void> {
    for (const argv of plan) {
      const result = await this.#runner.run(argv);
      if (result.code !== 0) throw managerFailure(this.managerName, argv, result);
    }
  }
}
