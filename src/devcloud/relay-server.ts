/**
 * The local Datum's real iroh relay (docs/relays.md): the upstream `iroh-relay` server, built from
 * crates.io by `scripts/build-relay.sh` into the user's cache, run on loopback over plain HTTP.
 * Devices and the gateway are handed its URL; iroh reports it as their home relay once reached, so
 * the Connector publishes a relay iroh actually used. Where no binary exists the local Datum falls
 * back to its placeholder and says why (`relayBinary`).
 *
 * The relay is a child process of `dev cloud`, stopped with it; the admin API can stop and start
 * it (`/_dev/relay-server`) so tests see a relay restart or a relay that appears late.
 */
import { existsSync, accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { UsageError } from "../errors.ts";

/** The iroh-relay that `@number0/iroh` 1.1.0 bundles (its native module is built from iroh 1.0.2). */
export const IROH_RELAY_VERSION = "1.0.2";

/** Where `scripts/build-relay.sh` installs the binary: `${XDG_CACHE_HOME:-$HOME/.cache}/datumctl-connect/iroh-relay-<v>/bin/iroh-relay`. */
export function cachedRelayBinary(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const cache = env.XDG_CACHE_HOME?.trim() || (env.HOME?.trim() ? join(env.HOME.trim(), ".cache") : undefined);
  return cache ? join(cache, "datumctl-connect", `iroh-relay-${IROH_RELAY_VERSION}`, "bin", "iroh-relay") : undefined;
}

export type RelayBinary = { readonly kind: "binary"; readonly path: string } | { readonly kind: "none"; readonly reason: string };

/**
 * Which relay binary `dev cloud` runs (pure but for the existence check it is given):
 * `--no-relay` → none; `--relay-bin` → that file (not executable: exit 2); else the cached build.
 */
export function relayBinary(
  opts: { readonly flag?: string | undefined; readonly disabled?: boolean | undefined; readonly env: Readonly<Record<string, string | undefined>> },
  executable: (path: string) => boolean = isExecutable,
): RelayBinary {
  if (opts.disabled) return { kind: "none", reason: "--no-relay" };
  if (opts.flag !== undefined) {
    if (executable(opts.flag)) return { kind: "binary", path: opts.flag };
    throw new UsageError(`--relay-bin ${opts.flag} is not an executable file`, "build one with scripts/build-relay.sh (it prints the path), or leave the flag out");
  }
  const cached = cachedRelayBinary(opts.env);
  if (cached && executable(cached)) return { kind: "binary", path: cached };
  return {
    kind: "none",
    reason: `no iroh-relay ${IROH_RELAY_VERSION} at ${cached ?? "(no HOME or XDG_CACHE_HOME)"}; build it with scripts/build-relay.sh (needs cargo)`,
  };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return existsSync(path);
  } catch {
    return false;
  }
}

/** The relay's TOML config: plain HTTP on `127.0.0.1:port`, no metrics listener, no QUIC address discovery. */
export function relayConfigToml(port: number): string {
  return [`http_bind_addr = "127.0.0.1:${port}"`, "enable_metrics = false", "enable_quic_addr_discovery = false", ""].join("\n");
}

export interface RelayServer {
  /** `http://127.0.0.1:PORT/`, the URL devices and the gateway are given. */
  readonly url: string;
  readonly port: number;
  running(): boolean;
  pid(): number | undefined;
  /** Start it again on the same port (no-op while running). */
  start(): Promise<void>;
  /** Stop it (SIGTERM, then SIGKILL after 3 s); the URL stays what devices were given. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/** Start the relay binary on `127.0.0.1:port` and wait until `/healthz` answers. */
export async function startRelayServer(opts: {
  readonly binary: string;
  readonly port: number;
  readonly dir: string;
  readonly log: (line: string) => void;
}): Promise<RelayServer> {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const configPath = join(opts.dir, "iroh-relay.toml");
  writeFileSync(configPath, relayConfigToml(opts.port), { mode: 0o600 });
  const url = `http://127.0.0.1:${opts.port}/`;
  let child: Subprocess<"ignore", "ignore", "pipe"> | undefined;
  let stderrTail = "";

  const start = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    stderrTail = "";
    const proc = Bun.spawn([...dieWithParent(), opts.binary, "--dev", "--config-path", configPath], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      // Its own log stays quiet unless something is wrong; RUST_LOG from the caller wins.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", RUST_LOG: process.env.RUST_LOG ?? "warn" },
    });
    child = proc;
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) stderrTail = (stderrTail + decoder.decode(chunk)).slice(-4_000);
    })().catch(() => undefined);
    const deadline = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        await Bun.sleep(50); // let the last stderr arrive
        throw new Error(`iroh-relay exited (${proc.exitCode ?? proc.signalCode}) before it served ${url}: ${stderrTail.trim().split("\n").slice(-3).join(" | ")}`);
      }
      const up = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (up) break;
      if (performance.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`iroh-relay did not serve ${url} within ${READY_TIMEOUT_MS / 1000}s`);
      }
      await Bun.sleep(50);
    }
    opts.log(`relay: iroh-relay ${IROH_RELAY_VERSION} serving ${url} (pid ${proc.pid})`);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3_000);
    await proc.exited;
    clearTimeout(timer);
    opts.log(`relay: stopped ${url}`);
  };

  await start();
  return {
    url,
    port: opts.port,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    pid: () => child?.pid,
    start,
    stop,
  };
}

/**
 * A relay left behind by a `dev cloud` that was killed (SIGKILL: no cleanup runs) would hold its port
 * and make the next start on the same --dir fall back to the placeholder; on Linux the kernel ends
 * it with its parent (`setpriv --pdeathsig`, util-linux).
 */
function dieWithParent(): string[] {
  if (process.platform !== "linux") return [];
  const setpriv = Bun.which("setpriv");
  return setpriv ? [setpriv, "--pdeathsig", "KILL", "--"] : [];
}

/** A free loopback TCP port for a new local Datum's relay (kept in cloud.json after that). */
export async function freeLoopbackPort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
