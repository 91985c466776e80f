/**
 * A real forward proxy on loopback for the proxy tests: Debian's `tinyproxy`, started with a config
 * this helper writes (loopback only, any CONNECT port, connect-level logging to a file in a temp
 * dir). `requests()` parses its log into the request lines it proxied. `stop()` ends exactly the
 * process started here, by PID.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Tinyproxy {
  readonly port: number;
  readonly url: string;
  /** Every request line it proxied so far: `GET http://…`, `POST http://…`, `CONNECT host:443`. */
  requests(): string[];
  stop(): Promise<void>;
}

export function tinyproxyPath(): string | null {
  return Bun.which("tinyproxy") ?? (Bun.file("/usr/bin/tinyproxy").size > 0 ? "/usr/bin/tinyproxy" : null);
}

function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port as number;
  server.stop(true);
  return port;
}

/**
 * `upstreams`: `[upstream host:port, domain]` pairs, tinyproxy's `Upstream http … ".domain"`: a
 * request for a name under the domain is handed to that host as an absolute-form request (the
 * local Datum's edge takes those, and `*.localhost` names resolve nowhere else).
 */
export async function startTinyproxy(opts: { upstreams?: readonly (readonly [string, string])[] } = {}): Promise<Tinyproxy> {
  const binary = tinyproxyPath();
  if (!binary) throw new Error("tinyproxy is not installed");
  const dir = mkdtempSync(join(tmpdir(), "tinyproxy-"));
  const log = join(dir, "tinyproxy.log");
  const port = freePort();
  const config = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Timeout 60",
    `LogFile "${log}"`,
    "LogLevel Connect",
    "MaxClients 50",
    "Allow 127.0.0.1",
    "DisableViaHeader Yes",
    ...(opts.upstreams ?? []).map(([hostPort, domain]) => `Upstream http ${hostPort} "${domain}"`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "tinyproxy.conf"), config);
  const child = Bun.spawn([binary, "-d", "-c", join(dir, "tinyproxy.conf")], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let output = "";
  void (async () => {
    for await (const chunk of child.stderr) output += new TextDecoder().decode(chunk);
  })();
  void new Response(child.stdout).text();
  // Ready when it accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited ${child.exitCode}:\n${output}`);
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(s) { s.end(); } } }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`tinyproxy did not listen on ${port}:\n${output}`);
    }
    await Bun.sleep(25);
  }
  const read = (): string => {
    try {
      return readFileSync(log, "latin1");
    } catch {
      return "";
    }
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests() {
      const lines: string[] = [];
      for (const m of read().matchAll(/Request \(file descriptor \d+\): (\S+ \S+) HTTP\/1\.[01]/g)) lines.push(m[1] as string);
      return lines;
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
