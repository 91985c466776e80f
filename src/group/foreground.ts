/**
 * A group running in this process until a signal (docs/groups.md): what `tunnel up` does in a
 * terminal, and what its daemon (`up --detach`) and its service unit (`tunnel run`) do. It opens
 * the group's project, records `run.json`, optionally serves the health endpoint, tells a service
 * manager about readiness, runs the `GroupSession`, and reloads it:
 * - on SIGHUP (`tunnel reload`, `systemctl reload`);
 * - in the foreground, when the file changes.
 * On a terminal a bare SIGHUP is the terminal hanging up, and stops the group as Ctrl+C does.
 * A reload reads `reload.json` when `tunnel reload` left one (the file it validated, and --prune),
 * else the group's file (the one it was started from, while it is readable; else the copy in its
 * state). A file that does not parse is refused whole and the group keeps serving.
 */
import { existsSync, watch, type FSWatcher } from "node:fs";
import { rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import * as v from "valibot";
import { CliError, Rejected } from "../errors.ts";
import { log } from "../log.ts";
import { attachFileLogging } from "../logs/json-lines.ts";
import { notifierSink, type ServiceNotifier } from "../listen/foreground.ts";
import { ListenEventBus, type ListenSink } from "../listen/events.ts";
import { onStopSignals, runToEnd, serveHealth } from "../listen/process-run.ts";
import { RunRecorder } from "../listen/run-recorder.ts";
import { writeFileAtomic } from "../state/atomic-write.ts";
import { acquireSlotLock, type SlotLock } from "../state/lock.ts";
import { stateRoot, tunnelDir, tunnelFiles, type Scope } from "../state/paths.ts";
import { readTextIfExists } from "../state/read-optional.ts";
import { outliveTerminal } from "../stdout.ts";
import { readTunnelConfig } from "../state/tunnel-config.ts";
import { envWithSettings } from "../state/tunnel-settings.ts";
import { openProject, sessionDepsOf } from "../tunnel/open-project.ts";
import { parseGroupFile, type GroupFile } from "./config.ts";
import { GroupSession } from "./session.ts";
import { groupViewFor, GroupPlainView } from "./view.ts";

export interface GroupRunOptions {
  readonly name: string;
  readonly scope: Scope;
  /** The user's file the group was started from (`up -f`): re-read on reload while it is readable. */
  readonly source: string | null;
  /** Reload when `source` changes (the foreground `up`). */
  readonly watchSource: boolean;
  /** Delete (not disable) services the file no longer has, at start and on every reload of this run. */
  readonly prune: boolean;
  readonly output: "table" | "json";
  /** Log JSON lines to the group's rotated log instead of talking to a terminal (daemon, service). */
  readonly fileLogs: boolean;
  readonly notifier?: ServiceNotifier | undefined;
  /** The slot's lock, when the caller took it before writing the group's files. */
  readonly lock?: SlotLock | undefined;
}

/** `reload.json`: what `tunnel reload` validated for the running group. */
export const ReloadRequest = v.object({ text: v.string(), source: v.string(), prune: v.boolean() });
export type ReloadRequest = v.InferOutput<typeof ReloadRequest>;

/** After a change is seen, wait this long for the editor to finish writing before reading the file. */
const WATCH_SETTLE_MS = 250;

export async function runGroup(o: GroupRunOptions): Promise<void> {
  const dir = tunnelDir(stateRoot(o.scope), o.name);
  const files = tunnelFiles(dir);
  const fileLogging = o.fileLogs ? attachFileLogging(log, { dir, tunnel: o.name }) : undefined;
  outliveTerminal();
  const controller = new AbortController();
  const offSignals = onStopSignals(controller, "the group's tunnels");
  // SIGHUP is heard from the first moment (its default would end the process without disabling
  // anything); one that comes before the group can reload waits for it.
  let hup: (() => void) | undefined;
  let pendingHup = false;
  const onHup = () => (hup ? hup() : (pendingHup = true));
  process.on("SIGHUP", onHup);
  let watcher: FSWatcher | undefined;
  let healthServer: { stop(): Promise<void> } | undefined;
  let lock = o.lock;
  try {
    const config = await readTunnelConfig(files.config);
    if (!config) throw new Rejected(`no group named "${o.name}": ${files.config} does not exist`, "start it with 'tunnel up -f FILE'", "not_found");
    const text = await readTextIfExists(files.group);
    if (text === undefined) throw new Rejected(`"${o.name}" is not a group: ${files.group} does not exist`, `run it with 'tunnel run --name ${o.name}'`, "conflict");
    const group = parseGroupFile(text, files.group);
    const project = await openProject({ project: config.project, session: config.session ?? undefined, apiBase: config.api_host, slotDir: dir });
    lock ??= acquireSlotLock(files.lock, `the identity of group ${o.name}`, `it is already running; stop it first: tunnel stop --name ${o.name}${o.scope === "system" ? " --system" : ""}`);
    const env = envWithSettings(process.env, config);
    const health = group.health ?? config.health ?? null;
    const recorder = new RunRecorder(files.run, { name: o.name, project: project.context.project, health, env, group: { file: files.group, source: o.source } });
    const view: ListenSink & { close?(): void } = o.fileLogs ? new GroupPlainView((line) => log.info(line), `Stop it with: tunnel stop --name ${o.name}${o.scope === "system" ? " --system" : ""}`) : groupViewFor(o.output, process.stderr.isTTY === true);
    const events = new ListenEventBus((event) => recorder.record(event), [...(o.notifier ? [notifierSink(o.notifier)] : []), view]);
    recorder.publishTo((event) => events.on(event));
    const session = new GroupSession({
      ...sessionDepsOf(project),
      slotDir: dir,
      runPath: files.run,
      slotLabel: `group ${o.name}`,
      lock,
      events,
      env,
      signal: controller.signal,
      group,
      servicesPath: files.services,
      prune: o.prune,
    });
    recorder.follow(() => session.liveFigures());

    // ---- reloads ----
    let lastSeen = text;
    const reload = async (why: string): Promise<void> => {
      const request = await readReloadRequest(files.reloadRequest);
      const source = request?.source ?? (o.source && (await readTextIfExists(o.source).catch(() => undefined)) !== undefined ? o.source : files.group);
      const next = request?.text ?? (await readTextIfExists(source).catch(() => undefined));
      if (next === undefined) return session.refuse(source, `${source} cannot be read`);
      lastSeen = next;
      let parsed: GroupFile;
      try {
        parsed = parseGroupFile(next, source);
      } catch (err) {
        if (request) await rm(files.reloadRequest, { force: true });
        return session.refuse(source, err instanceof CliError ? [err.message, err.details].filter(Boolean).join(": ") : String(err));
      }
      log.withTag("group").debug(`reloading from ${source} (${why})`);
      const result = await session.reload(parsed, { prune: request?.prune ?? o.prune, source });
      if (result.ok) await writeFileAtomic(files.group, next);
      if (request) await rm(files.reloadRequest, { force: true });
    };
    let reloading: Promise<void> = Promise.resolve();
    const queueReload = (why: string) => {
      reloading = reloading.then(() => reload(why)).catch((err: unknown) => log.error(`reload failed: ${err instanceof Error ? err.message : String(err)}`));
    };
    // On a terminal a bare SIGHUP is the terminal hanging up: stop as on Ctrl+C. One that
    // `tunnel reload` sent (it left reload.json) is a reload there too; elsewhere (a daemon, a
    // service, a pipe) every SIGHUP is a reload.
    const onTerminal = !o.fileLogs && process.stderr.isTTY === true;
    hup = () => {
      if (onTerminal && !existsSync(files.reloadRequest)) {
        log.debug("SIGHUP on a terminal: the terminal hung up; disabling the group's tunnels");
        controller.abort(new Error("SIGHUP"));
        return;
      }
      queueReload("SIGHUP");
    };
    if (pendingHup) hup();
    if (o.watchSource && o.source) watcher = watchFile(o.source, async () => {
      const now = await readTextIfExists(o.source as string).catch(() => undefined);
      if (now !== undefined && now !== lastSeen) queueReload("the file changed");
    });

    if (health) healthServer = await serveHealth(health, () => recorder.state());
    o.notifier?.startWatchdog(() => session.dataPlaneHealth());
    const stopReloads = async () => {
      watcher?.close();
      await reloading;
    };
    await runToEnd(() => session.run(), { events, recorder, ended: "every service of the group ended", logsLines: o.fileLogs, before: stopReloads });
  } finally {
    watcher?.close();
    o.notifier?.close();
    await healthServer?.stop();
    lock?.release();
    fileLogging?.detach();
    offSignals();
    process.off("SIGHUP", onHup);
  }
}

async function readReloadRequest(path: string): Promise<ReloadRequest | undefined> {
  const text = await readTextIfExists(path).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = v.safeParse(ReloadRequest, JSON.parse(text));
    if (parsed.success) return parsed.output;
  } catch {
    // fall through: a request that does not parse is dropped and the file re-read as on a plain SIGHUP
  }
  log.warn(`ignoring the unreadable reload request ${path}`);
  await rm(path, { force: true });
  return undefined;
}

/**
 * Call `changed` after `path` changes. The directory is watched, not the file: editors save by
 * writing a new file and renaming it over the old one, which a watch on the old inode misses.
 */
function watchFile(path: string, changed: () => void): FSWatcher {
  const name = basename(path);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
    if (file !== null && file !== name) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(changed, WATCH_SETTLE_MS);
  });
  watcher.on("error", (err) => log.warn(`stopped watching ${path}: ${err.message}`));
  return watcher;
}
