/**
 * The container image (issue 16 item 4; README "Run in a container"), built the way `npm run build`
 * builds it (scripts/release/oci-image.ts around the machine's linux-x64 executable), loaded into a
 * throwaway podman store (runc, vfs, cgroupfs; nothing of the machine's own store is touched) and
 * run as the README says: non-root, configured only by environment variables and one mounted
 * directory holding the credentials helper and a service-account key (here the datumctl double,
 * the same executable's hidden `dev datumctl`), no token in its environment. It runs beside the
 * local Datum and an origin in one loopback-only network namespace of its own; the public URL
 * answers through it; its stdout is JSON lines; `tunnel status --probe` is its health command;
 * SIGTERM (`podman stop`) → `Tunnel disabled.` → exit 0; restarted on the same HOME volume it is the
 * same tunnel at the same URL again. The archive is under 80 MB.
 *
 * Needs real root: `npm run test:system` (scripts/test-system.sh; CI runs it after `npm test`).
 * Elsewhere — including inside the user namespace `npm test` runs in — it is skipped, saying why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, IMAGE_ARCHIVE, IMAGE_EXECUTABLE, IMAGE_HEALTH_PORT, IMAGE_HELPER, IMAGE_UID, imageHostProblem } from "../../scripts/release/oci-image.ts";
import { ensureHostBinary } from "../../scripts/release/host-binary.ts";
import { installDatumctlDouble, wrapperScript } from "../../src/devcloud/datumctl-double/install.ts";

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const TOOLS = ["podman", "runc", "unshare", "nsenter", "ip"] as const;
const BUN = process.execPath;
const MAX_COMPRESSED = 80 * 1000 * 1000;
const TUNNEL = "web";
const ORIGIN_BODY = "origin beside the container";
/** The mounted directory, as the image expects it (IMAGE_HELPER lives in it). */
const MOUNT = "/etc/datumctl-connect";

function which(name: string): string | null {
  for (const dir of PATH.split(":")) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

function containerUnavailable(): string | null {
  if (process.platform !== "linux") return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs real root (run it with npm run test:system as root)";
  try {
    const map = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    if (map[0] !== "0" || map[1] !== "0" || map[2] !== "4294967295") return "inside a user namespace (npm test's netns); podman needs real root: npm run test:system";
  } catch {
    return "cannot read /proc/self/uid_map";
  }
  const missing = TOOLS.filter((t) => which(t) === null);
  if (missing.length > 0) return `missing ${missing.join(", ")} (apt-get install podman runc util-linux iproute2; .ci/run does)`;
  return imageHostProblem();
}

const unavailable = containerUnavailable();
if (unavailable) console.log(`skip: test/system/container.test.ts: ${unavailable}`);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: readonly string[], timeoutMs = 120_000): Promise<Ran> {
  const child = Bun.spawn([...argv], { env: { PATH, HOME: process.env.HOME ?? "/root" }, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

async function must(argv: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await run(argv, timeoutMs);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let work: string;
let podman: string[];
let netnsHolder: ReturnType<typeof Bun.spawn> | undefined;
let netns: string;
let datum: ReturnType<typeof Bun.spawn> | undefined;
let datumEnv: Record<string, string>;
let origin: ReturnType<typeof Bun.spawn> | undefined;
let originPort: number;
let archiveSize: number;
let image: string;
const container = `datumctl-connect-test-${process.pid}`;

/** In the test's network namespace. */
function inNetns(argv: readonly string[]): string[] {
  return ["nsenter", `--net=${netns}`, "--", ...argv];
}

/** A line of a child's stdout that matches, within the time given. */
async function firstLine(stream: ReadableStream<Uint8Array>, what: string, timeoutMs: number): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const timer = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${what}: stream ended before a line (${JSON.stringify(text)})`);
      text += new TextDecoder().decode(value);
      const nl = text.indexOf("\n");
      if (nl >= 0) return text.slice(0, nl);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

function parseExports(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line.trim());
    if (m?.[1]) env[m[1]] = (m[2] ?? "").replace(/'\\''/g, "'");
  }
  return env;
}

describe.skipIf(unavailable !== null)("the container image under podman (real root)", () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "datumctl-connect-container-"));
    chmodSync(work, 0o755);
    podman = [
      "podman",
      "--root", join(work, "storage"),
      "--runroot", join(work, "run"),
      "--tmpdir", join(work, "libpod-tmp"),
      "--storage-driver", "vfs",
      "--runtime", "runc",
      "--cgroup-manager", "cgroupfs",
      "--events-backend", "none",
    ];

    // The image, as npm run build writes it, around this machine's executable.
    const exe = await ensureHostBinary();
    const built = buildImage({ executable: exe.path, out: join(work, IMAGE_ARCHIVE), version: "0.0.0-test", commit: "test", epoch: 1_700_000_000 });
    archiveSize = built.size;
    const loaded = await must([...podman, "load", "-i", built.path], 300_000);
    image = /Loaded image(?:\(s\))?: (\S+)/.exec(loaded)?.[1] ?? "";
    if (image === "") throw new Error(`podman load named no image:\n${loaded}`);

    // One loopback-only network namespace for the local Datum, the origin and the container.
    netnsHolder = Bun.spawn(["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo up && exec sleep 86400"], { env: { PATH }, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    expect(await firstLine(netnsHolder.stdout as ReadableStream<Uint8Array>, "netns holder", 10_000)).toBe("up");
    netns = `/proc/${netnsHolder.pid}/ns/net`;

    const datumDir = join(work, "datum");
    mkdirSync(datumDir);
    const envFile = join(datumDir, "env.sh");
    datum = Bun.spawn(inNetns([exe.path, "dev", "cloud", "--dir", join(datumDir, "cloud"), "--env-file", envFile, "--parent-pid", String(process.pid)]), {
      env: { PATH, HOME: datumDir, TMPDIR: datumDir, NO_COLOR: "1" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "inherit",
    });
    for (let i = 0; !existsSync(envFile); i++) {
      if (datum.exitCode !== null) throw new Error(`dev cloud exited ${datum.exitCode}`);
      if (i > 1200) throw new Error("dev cloud wrote no env file in 60 s");
      await Bun.sleep(50);
    }
    datumEnv = parseExports(readFileSync(envFile, "utf8"));

    origin = Bun.spawn(
      inNetns([BUN, "-e", `const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(${JSON.stringify(ORIGIN_BODY)}) }); console.log(s.port);`]),
      { env: { PATH }, stdin: "ignore", stdout: "pipe", stderr: "inherit" },
    );
    originPort = Number(await firstLine(origin.stdout as ReadableStream<Uint8Array>, "origin", 10_000));
  }, 600_000);

  afterAll(async () => {
    if (podman) {
      await run([...podman, "rm", "-f", "-t", "0", container]);
      await run([...podman, "rmi", "-a", "-f"]);
    }
    origin?.kill("SIGKILL");
    datum?.kill("SIGTERM");
    await datum?.exited;
    netnsHolder?.kill("SIGKILL");
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the OCI archive is under 80 MB compressed", () => {
    console.log(`image: ${(archiveSize / 1e6).toFixed(1)} MB compressed`);
    expect(archiveSize).toBeLessThan(MAX_COMPRESSED);
  });

  test(
    "runs non-root from env + a mounted key, JSON logs on stdout, serves the public URL, probe healthy, SIGTERM → Tunnel disabled. → exit 0; a restart on the same HOME is the same tunnel",
    async () => {
      // The mounted directory: the credentials helper (the datumctl double run by the image's own
      // executable) and a service-account session whose key file datumctl would sign with.
      const mount = join(work, "mount");
      const double = installDatumctlDouble(join(mount, "double"), {
        session: datumEnv.DATUM_SESSION,
        apiHost: datumEnv.DATUM_API_HOST,
        type: "service_account",
        project: "local-project",
        org: "local-org",
        userConfigDir: join(mount, "config"),
      });
      const inMount = (p: string) => p.replace(mount, MOUNT);
      writeFileSync(
        join(mount, "credentials-helper"),
        wrapperScript([IMAGE_EXECUTABLE, "dev", "datumctl", "--"], inMount(double.statePath), inMount(double.logPath)).replace(
          /^exec /m,
          `XDG_CONFIG_HOME=${MOUNT}/config; export XDG_CONFIG_HOME\nexec `,
        ),
        { mode: 0o755 },
      );
      expect(double.keyPath && existsSync(double.keyPath)).toBe(true);
      await must(["chown", "-R", `${IMAGE_UID}:${IMAGE_UID}`, mount]);
      expect(statSync(join(mount, "credentials-helper")).uid).toBe(IMAGE_UID);

      const env: Record<string, string> = {
        DATUM_CONNECT_ENDPOINT: `127.0.0.1:${originPort}`,
        DATUM_CONNECT_TUNNEL: TUNNEL,
        DATUM_API_HOST: datumEnv.DATUM_API_HOST as string,
        DATUM_SESSION: datumEnv.DATUM_SESSION as string,
        DATUM_PROJECT: datumEnv.DATUM_PROJECT as string,
      };
      for (const k of ["DATUM_CONNECT_PUBLIC_URL", "DATUM_CONNECT_RELAY_URLS", "DATUM_CONNECT_DEV_PLACEHOLDER_RELAY"]) {
        if (datumEnv[k] !== undefined) env[k] = datumEnv[k] as string;
      }
      const home = join(work, "home");
      mkdirSync(home, { mode: 0o700 });
      await must(["chown", `${IMAGE_UID}:${IMAGE_UID}`, home]);
      const nofile = (await must(["sh", "-c", "ulimit -Hn"])).trim();
      await must([
        ...podman, "run", "-d", "--name", container,
        "--network", `ns:${netns}`,
        "--ulimit", `nofile=${nofile}`, "--ulimit", "nproc=32768",
        "--read-only", "--tmpfs", "/tmp:rw,exec,mode=1777",
        // HOME on a volume, as deploy/kubernetes does: the tunnel's identity outlives the container.
        "-v", `${home}:/home/datum`,
        "-v", `${mount}:${MOUNT}`,
        ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
        image,
      ]);

      // Ready: the n-th JSON log line with the verified public URL (podman logs spans restarts).
      const readyUrl = async (n: number): Promise<string> => {
        for (let i = 0; ; i++) {
          const logs = (await run([...podman, "logs", container])).stdout;
          const urls = [...logs.matchAll(/"msg":"Tunnel ready after \d+ sec: (\S+?)"/g)].map((m) => m[1] as string);
          if (urls.length >= n) return urls[n - 1] as string;
          const state = (await run([...podman, "inspect", "-f", "{{.State.Status}}", container])).stdout.trim();
          if (state !== "running") throw new Error(`the container is ${state}:\n${logs}\n${(await run([...podman, "logs", container])).stderr}`);
          if (i > 1200) throw new Error(`not ready in 120 s:\n${logs}`);
          await Bun.sleep(100);
        }
      };
      const url = await readyUrl(1);

      // The health command: exit 0 while verified ready.
      const probe = await run([...podman, "exec", container, IMAGE_EXECUTABLE, "tunnel", "status", "--name", TUNNEL, "--probe"]);
      expect(probe).toEqual({ code: 0, stdout: "", stderr: "" });

      // The public URL answers with the origin's body, through the container.
      const get = async (u: string) => (await must(inNetns([BUN, "-e", `const r = await fetch(${JSON.stringify(u)}); console.log(r.status, await r.text());`]))).trim();
      expect(await get(url)).toBe(`200 ${ORIGIN_BODY}`);
      // What the Kubernetes example probes: /livez and /readyz on the health port.
      const health = await must(inNetns([BUN, "-e", `for (const p of ["livez", "readyz"]) console.log(p, (await fetch("http://127.0.0.1:${IMAGE_HEALTH_PORT}/" + p)).status);`]));
      expect(health.trim().split("\n")).toEqual(["livez 200", "readyz 200"]);

      // Non-root, and no token (nor anything token-like) in its environment.
      const inspect = JSON.parse(await must([...podman, "inspect", container])) as { Config: { Env: string[]; User: string } }[];
      expect(inspect[0]?.Config.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
      expect(inspect[0]?.Config.Env.filter((e) => /TOKEN|SECRET|PASSWORD|eyJ/i.test(e))).toEqual([]);
      expect(inspect[0]?.Config.Env).toContain(`DATUM_CREDENTIALS_HELPER=${IMAGE_HELPER}`);
      const status = await must([...podman, "exec", container, "/bin/sh", "-c", "while read k v; do [ \"$k\" = Uid: ] && echo $v; done < /proc/1/status; exit 0"]);
      expect(status.trim().split(/\s+/)[0]).toBe(String(IMAGE_UID));

      // SIGTERM → the tunnel disabled → exit 0.
      await must([...podman, "stop", "-t", "60", container], 120_000);
      const exit = (await must([...podman, "inspect", "-f", "{{.State.ExitCode}}", container])).trim();
      const out = await run([...podman, "logs", container]);
      expect(exit).toBe("0");
      const lines = out.stdout.split("\n").filter((l) => l !== "");
      // stdout is JSON lines only, in the tunnel log's format.
      const records = lines.map((l) => JSON.parse(l) as { time: string; level: string; msg: string; tunnel: string });
      expect(records.every((r) => typeof r.time === "string" && typeof r.level === "string" && r.tunnel === TUNNEL)).toBe(true);
      const msgs = records.map((r) => r.msg);
      console.log(`container stdout (${lines.length} JSON lines), first and last:\n${lines[0]}\n${lines.at(-1)}`);
      expect(msgs).toContain("Tunnel disabled.");
      expect(msgs.indexOf("Tunnel disabled.")).toBeGreaterThan(msgs.findIndex((m) => m.startsWith("Tunnel ready after")));
      expect(out.stdout + out.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{4,}\./);
      // The helper was asked for a token (the mounted one, not the environment).
      expect(readFileSync(double.logPath, "utf8")).toContain("get-token");

      // Restarted with the same HOME (a crash, a new pod on the same volume): the same tunnel, at
      // the same public URL, serving again; stopped again cleanly.
      await must([...podman, "start", container]);
      expect(await readyUrl(2)).toBe(url);
      expect(await get(url)).toBe(`200 ${ORIGIN_BODY}`);
      await must([...podman, "stop", "-t", "60", container], 120_000);
      expect((await must([...podman, "inspect", "-f", "{{.State.ExitCode}}", container])).trim()).toBe("0");
      const again = (await run([...podman, "logs", container])).stdout.split("\n").filter((l) => l !== "");
      expect(again.filter((l) => (JSON.parse(l) as { msg: string }).msg === "Tunnel disabled.")).toHaveLength(2);
    },
    300_000,
  );
});
