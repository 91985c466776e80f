/**
 * A tunnel running in this process until a signal: what `tunnel listen` (in a terminal or as the
 * detached daemon) and `tunnel run` (under a service manager) both do. It opens the project,
 * records `run.json`, optionally serves the health endpoint and tells a service manager about
 * readiness, runs the `ListenSession`, and turns the outcome into an exit code.
 */
import { log } from "../log.ts";
import { attachFileLogging, attachStdoutLogging } from "../logs/json-lines.ts";
import { acquireSlotLock, type SlotLock } from "../state/lock.ts";
import { projectDir, slotFiles, stateRoot, tunnelDir, tunnelFiles, type Scope } from "../state/paths.ts";
import { writeTunnelConfig, type TunnelConfig } from "../state/tunnel-config.ts";
import { envWithSettings } from "../state/tunnel-settings.ts";
import type { WatchdogCheck } from "../service/watchdog.ts";
import { openProject, sessionDepsOf } from "../tunnel/open-project.ts";
import { outliveTerminal, writeStdout } from "../stdout.ts";
import { ListenEventBus, type ListenEvent, type ListenSink } from "./events.ts";
import { PlainReporter, reporterFor } from "./reporter.ts";
import { RunRecorder } from "./run-recorder.ts";
import { onStopSignals, runToEnd, serveHealth } from "./process-run.ts";
import { ListenSession } from "./session.ts";

/** What a service manager wants to hear (systemd `sd_notify`; launchd and SCM need nothing). */
export interface ServiceNotifier {
  /** Verified ready (READY=1). */
  ready(urls: readonly string[]): void;
  /** A one-line state for the manager's status view (STATUS=…). */
  status(text: string): void;
  /** The tunnel is shutting down (STOPPING=1). */
  stopping(): void;
  /** Ping the watchdog while `check()` says so (src/service/watchdog.ts); again: replace the check. */
  startWatchdog(check: () => Promise<WatchdogCheck>): void;
  close(): void;
}

export interface ForegroundOptions {
  readonly name: string | undefined;
  readonly config: TunnelConfig | undefined;
  /** Write `config` as the tunnel's `tunnel.yaml` once the project is open (first start). */
  readonly configCreated: boolean;
  readonly scope: Scope;
  readonly endpoint?: string | undefined;
  readonly id?: string | undefined;
  readonly label?: string | undefined;
  readonly yes: boolean;
  readonly project?: string | undefined;
  readonly session?: string | undefined;
  readonly health: string | null;
  readonly output: "table" | "json";
  /** Log JSON lines to the tunnel's rotated log instead of talking to a terminal (daemon, service). */
  readonly fileLogs: boolean;
  /** Log the same JSON lines to stdout instead (a container: `tunnel listen --log-format json`). */
  readonly stdoutLogs?: boolean | undefined;
  readonly notifier?: ServiceNotifier | undefined;
  readonly confirm?: ((question: string) => Promise<boolean>) | undefined;
}

/** The service manager as a sink of the listen's events: READY=1, STOPPING=1 and the STATUS= line. */
export function notifierSink(notifier: ServiceNotifier): ListenSink {
  let urls: readonly string[] = [];
  return {
    on(event: ListenEvent): void {
      // A group's service's own steps are not the process's state; the group's are (docs/groups.md).
      if (event.service !== undefined) return;
      switch (event.type) {
        case "settled":
          urls = event.services.flatMap((s) => s.urls.slice(0, 1));
          notifier.ready(urls);
          return notifier.status(event.services.every((s) => s.ready) ? `ready: ${event.services.length} services` : `degraded: ${event.services.filter((s) => !s.ready).map((s) => `${s.name}: ${s.reason}`).join("; ")}`);
        case "reloaded":
          return notifier.status(`reloaded: ${event.summary.added.length} added, ${event.summary.removed.length + event.summary.deleted.length} removed, ${event.summary.changed.length} changed`);
        case "reload_rejected":
          // `systemctl reload` has no exit code to say so: the unit's status line does.
          return notifier.status(`reload refused: ${event.message}`);
        case "setting_up":
          return notifier.status("setting up the tunnel");
        case "verifying":
          return notifier.status("verifying the public URL");
        case "ready":
          urls = event.urls;
          notifier.ready(urls);
          return notifier.status(`ready: ${urls.join(" ")}`);
        case "readiness_changed":
          // STATUS= follows readiness; the watchdog does not (it tracks this process's own health).
          return notifier.status(event.readiness.ready ? `ready: ${urls.join(" ")}` : `degraded: ${event.readiness.reason}`);
        case "disabling":
          notifier.stopping();
          return notifier.status("disabling the tunnel");
        default:
          return;
      }
    },
  };
}

/** A daemon's log is read later, by someone who stops it with a command, not with Ctrl+C. */
function daemonStopHint(name: string | undefined, scope: Scope): string {
  return name === undefined ? "Stop it with SIGTERM." : `Stop it with: tunnel stop --name ${name}${scope === "system" ? " --system" : ""}`;
}

export async function runForeground(o: ForegroundOptions): Promise<void> {
  const root = stateRoot(o.scope);
  // Attached before any tagged logger exists: consola copies reporters into children when made.
  const fileLogging = o.fileLogs && o.name !== undefined ? attachFileLogging(log, { dir: tunnelDir(root, o.name), tunnel: o.name }) : undefined;
  const stdoutLogging = o.stdoutLogs && !fileLogging ? attachStdoutLogging(log, o.name ?? "", writeStdout) : undefined;
  const logsLines = o.fileLogs || stdoutLogging !== undefined;
  const controller = new AbortController();
  // SIGHUP too: a terminal that hangs up (closed) ends the listen as Ctrl+C does, its tunnel disabled.
  const offSignals = onStopSignals(controller, "the tunnel", ["SIGINT", "SIGTERM", "SIGHUP"]);
  outliveTerminal();

  let healthServer: { stop(): Promise<void> } | undefined;
  let lock: SlotLock | undefined;
  try {
    const cfg = o.config;
    const slotDir = o.name !== undefined ? tunnelDir(root, o.name) : undefined;
    const project = await openProject({
      project: cfg?.project ?? o.project,
      session: cfg?.session ?? o.session,
      apiBase: cfg?.api_host,
      slotDir,
    });
    const dir = slotDir ?? projectDir(root, project.context.project);
    // The slot's lock before anything is written or bound: a second start of a running tunnel
    // names the process that has it, and leaves its run.json, config and health port alone.
    const slotLabel = o.name !== undefined ? `tunnel ${o.name}` : `project ${project.context.project}`;
    lock = acquireSlotLock(
      slotFiles(dir).lock,
      `the identity of ${slotLabel}`,
      o.name !== undefined
        ? `it is already running; stop it first: tunnel stop --name ${o.name}${o.scope === "system" ? " --system" : ""}`
        : `another 'tunnel listen' serves ${slotLabel} from this machine; stop it first (one ListenNode per key)`,
    );
    if (o.name !== undefined && cfg && o.configCreated) await writeTunnelConfig(tunnelFiles(dir).config, cfg);
    const runPath = tunnelFiles(dir).run;
    const view: ListenSink = logsLines
      ? new PlainReporter((line) => log.info(line), (line) => log.info(line), stdoutLogging ? "Stop it with SIGTERM." : daemonStopHint(o.name, o.scope))
      : reporterFor(o.output, process.stderr.isTTY === true);
    const health = o.health ?? cfg?.health ?? null;
    // A named tunnel's recorded network settings (public URL, relays) over this process's environment.
    const env = envWithSettings(process.env, cfg);
    const recorder = new RunRecorder(runPath, { name: o.name ?? null, project: project.context.project, health, env });
    // One event stream: run.json first (every sink after `ready` waits for the file to say so),
    // then the service manager and the view, in that order.
    const events = new ListenEventBus((event) => recorder.record(event), [...(o.notifier ? [notifierSink(o.notifier)] : []), view]);
    recorder.publishTo((event) => events.on(event));
    const session = new ListenSession(
      {
        ...sessionDepsOf(project),
        slotDir: dir,
        runPath,
        slotLabel,
        lock,
        events,
        env,
        signal: controller.signal,
      },
      {
        endpoint: o.endpoint ?? cfg?.endpoint ?? undefined,
        id: o.id,
        // Only an explicit --label changes a label; tunnel.yaml's is for creating the tunnel.
        label: o.label,
        createLabel: cfg?.label ?? undefined,
        yes: o.yes,
        confirm: o.confirm,
      },
    );
    recorder.follow(() => session.liveFigures());
    if (health) healthServer = await serveHealth(health, () => recorder.state());
    o.notifier?.startWatchdog(() => session.dataPlaneHealth());
    await runToEnd(() => session.run(), { events, recorder, ended: "the tunnel ended", logsLines });
  } finally {
    o.notifier?.close();
    await healthServer?.stop();
    lock?.release();
    fileLogging?.detach();
    stdoutLogging?.detach();
    offSignals();
  }
}
