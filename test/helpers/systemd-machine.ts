/**
 * A real systemd for tests (test/system/): a minimal Debian bookworm root, made once with
 * `debootstrap --variant=minbase` from this machine's own apt mirror and cached as a tarball outside
 * the clone (`~/.cache/datumctl-connect/`, or `$CONNECT_SYSTEM_TEST_CACHE`: not a DATUM_ name, which
 * test/preload.ts drops), unpacked per run and
 * booted with `systemd-nspawn --private-network --volatile=overlay -b`: a loopback-only network of
 * its own, and every write lands in a tmpfs that goes away with it. The host's `/dev` nodes are
 * never bound in; only the files the caller names, read-only.
 *
 * nspawn starts from a cgroup of its own (a directory under each cgroup hierarchy, the launching
 * shell moved into it), so nothing is written into the machine's root cgroups; `stop()` powers the
 * container off (SIGTERM to nspawn), ends what is left by PID, and removes the cgroup directories
 * and the unpacked root.
 *
 * Needs real root (not the user namespace of scripts/netns.sh), `systemd-nspawn` (Debian package
 * `systemd-container`), `nsenter`, `tar`, and `debootstrap` for the first run;
 * `systemMachineUnavailable()` says why not where any is missing.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { pidExists } from "./wait.ts";

const SUITE = "bookworm";
const PACKAGES = ["systemd", "systemd-sysv", "dbus", "dbus-user-session", "libpam-systemd", "procps"];
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Run as this account (via runuser), with its HOME; default root. */
  readonly user?: string;
  /** The whole environment besides PATH and HOME (the command gets nothing else). */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

export interface SystemdMachine {
  /** The container's PID 1, as this machine sees it. */
  readonly pid: number;
  /** Run `sh -c script` inside the container (all its namespaces). */
  sh(script: string, o?: ExecOptions): Promise<ExecResult>;
  /** Like `sh`, but throws with the output unless it exits 0; returns stdout. */
  must(script: string, o?: ExecOptions): Promise<string>;
  /** What nspawn printed (the container's console). */
  console(): string;
  stop(): Promise<void>;
}

function realUid0(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    // In a user namespace (scripts/netns.sh) uid 0 maps to someone else's range.
    const map = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    return map[0] === "0" && map[1] === "0" && map[2] === "4294967295";
  } catch {
    return false;
  }
}

/** The directories nspawn's launching shell moves into, one per mounted hierarchy nspawn uses. */
function cgroupParents(): string[] | undefined {
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) return ["/sys/fs/cgroup"]; // unified only
  if (existsSync("/sys/fs/cgroup/systemd/cgroup.procs") && existsSync("/sys/fs/cgroup/unified/cgroup.procs")) {
    return ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]; // hybrid
  }
  if (existsSync("/sys/fs/cgroup/systemd/cgroup.procs")) return ["/sys/fs/cgroup/systemd"]; // legacy
  return undefined;
}

/** The home of the real root account: the test preload points HOME at a temp dir. */
function realHome(): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(process.getuid?.() ?? 0) && f[5]) return f[5];
    }
  } catch {
    // fall through
  }
  return "/root";
}

export function cacheDir(): string {
  return process.env.CONNECT_SYSTEM_TEST_CACHE?.trim() || join(realHome(), ".cache", "datumctl-connect");
}

function rootfsTarball(): string {
  const key = createHash("sha256").update(`${SUITE} minbase ${PACKAGES.join(",")}`).digest("hex").slice(0, 12);
  return join(cacheDir(), `rootfs-debian-${SUITE}-systemd-${key}.tar`);
}

/** Why no machine can be booted here, or undefined when one can. */
export function systemMachineUnavailable(): string | undefined {
  if (process.platform !== "linux") return "systemd-nspawn needs Linux";
  if (!realUid0()) {
    return process.env.DATUM_CONNECT_IN_NETNS === "1"
      ? "runs as real root outside the test namespace: 'npm run test:system' (scripts/test-system.sh)"
      : "needs real root (systemd-nspawn, cgroups): run 'npm run test:system' as root";
  }
  for (const tool of ["systemd-nspawn", "nsenter", "tar"]) if (!Bun.which(tool)) return `'${tool}' is not installed (Debian: systemd-container, util-linux, tar)`;
  if (!existsSync(rootfsTarball()) && !Bun.which("debootstrap")) return "'debootstrap' is not installed and no cached root exists";
  if (!cgroupParents()) return "no cgroup hierarchy found under /sys/fs/cgroup";
  return undefined;
}

/** This machine's Debian mirror (deb822 `.sources` or one-line `sources.list`), else deb.debian.org. */
export function aptMirror(files: { path: string; text: string }[]): string {
  for (const { path, text } of files) {
    if (path.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim();
        if (/^enabled:\s*no/im.test(stanza)) continue;
        const suites = field("Suites")?.split(/\s+/) ?? [];
        const uri = field("URIs")?.split(/\s+/)[0];
        if (uri && suites.includes(SUITE) && (field("Types") ?? "deb").split(/\s+/).includes("deb")) return uri;
      }
    } else {
      for (const line of text.split("\n")) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/.exec(line);
        if (m && m[2] === SUITE) return m[1] as string;
      }
    }
  }
  return "http://deb.debian.org/debian";
}

function hostAptSources(): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const add = (path: string) => {
    try {
      out.push({ path, text: readFileSync(path, "utf8") });
    } catch {
      // unreadable: skip
    }
  };
  add("/etc/apt/sources.list");
  try {
    for (const f of readdirSync("/etc/apt/sources.list.d").sort()) if (f.endsWith(".sources") || f.endsWith(".list")) add(join("/etc/apt/sources.list.d", f));
  } catch {
    // none
  }
  return out;
}

async function run(argv: string[], timeoutMs: number, what: string): Promise<string> {
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`${what} failed (exit ${code}${child.signalCode ? `, ${child.signalCode}` : ""}):\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  return stdout;
}

/** The cached root tarball, made with debootstrap the first time (about 90 s). */
export async function ensureRootfs(log: (line: string) => void): Promise<{ path: string; built: boolean; ms: number }> {
  const tarball = rootfsTarball();
  if (existsSync(tarball)) return { path: tarball, built: false, ms: 0 };
  const started = performance.now();
  mkdirSync(cacheDir(), { recursive: true });
  const build = join(cacheDir(), `.rootfs-build-${process.pid}`);
  rmSync(build, { recursive: true, force: true });
  const mirror = aptMirror(hostAptSources());
  log(`system: debootstrap ${SUITE} (minbase + ${PACKAGES.join(",")}) from ${mirror}`);
  try {
    await run(["debootstrap", "--variant=minbase", `--include=${PACKAGES.join(",")}`, SUITE, build, mirror], 900_000, "debootstrap");
    // The image needs no package lists or caches.
    rmSync(join(build, "var/cache/apt/archives"), { recursive: true, force: true });
    mkdirSync(join(build, "var/cache/apt/archives/partial"), { recursive: true });
    const tmp = `${tarball}.${process.pid}.tmp`;
    await run(["tar", "--numeric-owner", "-C", build, "-cf", tmp, "."], 300_000, "tar");
    renameSync(tmp, tarball);
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  return { path: tarball, built: true, ms: performance.now() - started };
}

export interface BootOptions {
  /** Host file or directory → path in the container, bound read-only. */
  readonly bindReadOnly: readonly (readonly [string, string])[];
  readonly log?: (line: string) => void;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, pauseMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(pauseMs);
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

export async function bootMachine(o: BootOptions): Promise<SystemdMachine> {
  const log = o.log ?? (() => undefined);
  const rootfs = await ensureRootfs(log);
  if (rootfs.built) log(`system: root built and cached in ${(rootfs.ms / 1000).toFixed(1)} s (${rootfs.path})`);
  const work = mkdtempSync(join("/var/tmp", "datumctl-connect-machine-"));
  const root = join(work, "root");
  mkdirSync(root);
  removeStaleCgroups(log);
  // The runner's PID in the name: a later run can tell a machine whose runner died from a live one.
  const name = `dcsys-${process.pid}-${randomBytes(3).toString("hex")}`;
  const cgroups = (cgroupParents() ?? []).map((parent) => join(parent, `datumctl-connect-${name}`));
  let nspawn: ReturnType<typeof Bun.spawn> | undefined;
  let consoleText = "";
  let pid1 = 0;

  const stop = async () => {
    if (nspawn && nspawn.exitCode === null) {
      nspawn.kill("SIGTERM"); // nspawn powers the container off
      const deadline = Date.now() + 20_000;
      while (nspawn.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
      if (nspawn.exitCode === null) {
        if (pid1 && pidExists(pid1)) process.kill(pid1, "SIGKILL"); // ends the whole PID namespace
        nspawn.kill("SIGKILL");
        await nspawn.exited;
      }
    }
    // Anything still in our cgroups is ours: end it by PID, then remove the directories.
    for (const dir of cgroups) {
      const deadline = Date.now() + 10_000;
      while (existsSync(dir)) {
        killAllIn(dir);
        try {
          removeCgroup(dir);
        } catch (err) {
          if (Date.now() > deadline) {
            log(`system: could not remove ${dir}: ${err instanceof Error ? err.message : String(err)}`);
            break;
          }
          await Bun.sleep(50);
        }
      }
    }
    rmSync(work, { recursive: true, force: true });
  };

  try {
    const unpackStarted = performance.now();
    await run(["tar", "--numeric-owner", "-C", root, "-xf", rootfs.path], 300_000, "unpacking the root");
    log(`system: root unpacked in ${((performance.now() - unpackStarted) / 1000).toFixed(1)} s`);
    for (const dir of cgroups) mkdirSync(dir);
    const args = [
      "systemd-nspawn",
      "-D",
      root,
      `--machine=${name}`,
      "--private-network",
      "--register=no",
      "--keep-unit",
      "--volatile=overlay",
      "--console=passive",
      ...o.bindReadOnly.map(([host, inside]) => `--bind-ro=${host}:${inside}`),
      "-b",
    ];
    const join_ = cgroups.map((d) => `echo $$ > '${d}/cgroup.procs' || exit 97`).join("; ");
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    nspawn = Bun.spawn(["sh", "-c", `${join_}; exec ${quoted}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const proc = nspawn;
    void (async () => {
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) consoleText += new TextDecoder().decode(chunk);
    })();
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) consoleText += new TextDecoder().decode(chunk);
    })();
    const bootStarted = performance.now();
    pid1 = await waitFor("the container's PID 1", 20_000, () => {
      if (proc.exitCode !== null) throw new Error(`systemd-nspawn exited ${proc.exitCode}:\n${consoleText}`);
      return childrenOf(proc.pid).find((p) => comm(p) === "systemd");
    }, 20);
    const machine: SystemdMachine = {
      pid: pid1,
      sh: (script, so = {}) => exec(pid1, script, so),
      async must(script, so = {}) {
        const r = await exec(pid1, script, so);
        if (r.code !== 0) throw new Error(`in the container, exit ${r.code}: ${script}\n${r.stdout}\n${r.stderr}`);
        return r.stdout;
      },
      console: () => consoleText,
      stop,
    };
    // The bus is not there for the first moments: is-system-running fails fast until it is.
    const state = await waitFor("the container's boot", 60_000, async () => {
      const r = await exec(pid1, "systemctl is-system-running --wait", { timeoutMs: 30_000 });
      const s = r.stdout.trim();
      return s === "running" || s === "degraded" ? s : undefined;
    }, 50);
    log(`system: booted (${state}) in ${((performance.now() - bootStarted) / 1000).toFixed(1)} s`);
    if (state === "degraded") log(`system: failed units: ${(await exec(pid1, "systemctl --failed --no-legend", {})).stdout.trim()}`);
    return machine;
  } catch (err) {
    await stop();
    throw err;
  }
}

const CGROUP_PREFIX = "datumctl-connect-dcsys-";

/**
 * A machine whose test runner died (killed mid-run) is left running in its cgroups: end its
 * processes — every one in our own cgroups is a machine's — and remove the directories.
 */
function removeStaleCgroups(log: (line: string) => void): void {
  for (const parent of cgroupParents() ?? []) {
    for (const entry of readdirSync(parent)) {
      const m = new RegExp(`^${CGROUP_PREFIX}(\\d+)-[0-9a-f]+$`).exec(entry);
      if (!m || pidExists(Number(m[1]))) continue;
      const dir = join(parent, entry);
      log(`system: removing the machine a dead runner (pid ${m[1]}) left in ${dir}`);
      killAllIn(dir);
      try {
        removeCgroup(dir);
      } catch (err) {
        log(`system: could not remove ${dir}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

function killAllIn(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    try {
      if (statSync(p).isDirectory()) killAllIn(p);
    } catch {
      // raced away
    }
  }
  let pids: number[] = [];
  try {
    pids = readFileSync(join(dir, "cgroup.procs"), "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
}

function removeCgroup(dir: string): void {
  // Child groups first (systemd inside made its own under ours).
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    try {
      if (statSync(p).isDirectory()) removeCgroup(p);
    } catch {
      // raced away
    }
  }
  rmdirSync(dir);
}

async function exec(pid1: number, script: string, o: ExecOptions): Promise<ExecResult> {
  const user = o.user ?? "root";
  const home = user === "root" ? "/root" : `/home/${user}`;
  const env = Object.entries({ PATH, HOME: home, LANG: "C.UTF-8", ...o.env }).map(([k, v]) => `${k}=${v}`);
  const argv = [Bun.which("nsenter") ?? "nsenter", "-t", String(pid1), "-a", ...(user === "root" ? [] : ["runuser", "-u", user, "--"]), "env", "-i", ...env, "sh", "-c", script];
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: o.timeoutMs ?? 60_000, killSignal: "SIGKILL", env: { PATH } });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code: child.signalCode ? null : code, stdout, stderr };
}
