/**
 * The classic peer: an OpenSSH reverse tunnel (`ssh -R`) through Debian's sshd, both on loopback.
 * Everything is throwaway, in a temp dir: the host key, the user key, `sshd_config`, the
 * `AuthorizedKeysFile`. sshd listens on a private loopback port; `ssh -R` asks it to listen on
 * another loopback port and forward every connection back to the origin. Both are ended by PID.
 *
 * sshd running as root needs setgroups(2) for its privilege separation, which a user namespace
 * with a root mapping (scripts/netns.sh) forbids. So when we are root, sshd runs in a nested user
 * namespace mapping our uid to 65534 (`nobody`): sshd then runs unprivileged (no privsep chroot, no
 * setgroups), and the tunnel logs in as that user. Outside the namespace it is still our own uid.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BenchError, collect, descendantsOf, endPid, track } from "./procs.ts";

export interface SshTunnel {
  readonly sshdPid: number;
  readonly sshPid: number;
  /** The loopback port `ssh -R` made sshd listen on. */
  readonly port: number;
  readonly sshdPort: number;
  readonly user: string;
  readonly version: string;
  /** sshd and its per-connection children. */
  serverPids(): number[];
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Is something listening on 127.0.0.1:port? (from /proc/net/tcp: no connection is made) */
function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  try {
    return readFileSync("/proc/net/tcp", "utf8")
      .split("\n")
      .some((l) => {
        const f = l.trim().split(/\s+/);
        return f[1] === `0100007F:${hex}` && f[3] === "0A";
      });
  } catch {
    return false;
  }
}

async function waitListening(port: number, ms: number, proc: Subprocess, what: string, err: { text: string }): Promise<void> {
  const deadline = performance.now() + ms;
  while (!listening(port)) {
    if (proc.exitCode !== null) throw new BenchError(`${what} exited ${proc.exitCode}: ${err.text.trim()}`);
    if (performance.now() > deadline) throw new BenchError(`${what} not listening on ${port} within ${ms} ms: ${err.text.trim()}`);
    await Bun.sleep(20);
  }
}

export function sshAvailable(): string | null {
  if (!Bun.which("ssh") || !Bun.which("ssh-keygen")) return "ssh/ssh-keygen not installed (apt-get install -y openssh-client)";
  if (!Bun.which("sshd") && !existsSync("/usr/sbin/sshd")) return "sshd not installed (apt-get install -y openssh-server)";
  return null;
}

export async function startSshTunnel(originPort: number): Promise<SshTunnel> {
  const dir = mkdtempSync(join(tmpdir(), "bench-sshd-"));
  const keygen = (file: string): void => {
    const r = Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", join(dir, file)], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new BenchError(`ssh-keygen: ${r.stderr.toString()}`);
  };
  keygen("host_ed25519");
  keygen("user_ed25519");
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "user_ed25519.pub")));
  chmodSync(join(dir, "authorized_keys"), 0o600);
  const root = process.getuid?.() === 0;
  const user = root ? "nobody" : userInfo().username;
  const sshdPort = await freePort();
  const port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${sshdPort}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_ed25519")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "AllowTcpForwarding remote",
      "GatewayPorts no",
      "PermitTTY no",
      "X11Forwarding no",
      "AllowAgentForwarding no",
      "PrintMotd no",
      "UseDNS no",
      "MaxStartups 100:30:200",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const sshdBin = Bun.which("sshd") ?? "/usr/sbin/sshd";
  const sshdArgv = [sshdBin, "-D", "-e", "-f", join(dir, "sshd_config")];
  const sshd = track(
    Bun.spawn(root ? ["unshare", "--map-user=65534", "--map-group=65534", ...sshdArgv] : sshdArgv, {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    }),
  );
  const sshdErr = { text: "" };
  void collect(sshd.stderr, sshdErr);
  let ssh: Subprocess<"ignore", "ignore", "pipe"> | undefined;
  const stop = async (): Promise<void> => {
    if (ssh) await endPid(ssh.pid, 3_000);
    await endPid(sshd.pid, 3_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitListening(sshdPort, 5_000, sshd, "sshd", sshdErr);
    ssh = track(
      Bun.spawn(
        [
          "ssh", "-F", "/dev/null", "-N", "-T",
          "-i", join(dir, "user_ed25519"),
          "-o", "IdentitiesOnly=yes",
          "-o", "StrictHostKeyChecking=no",
          "-o", "UserKnownHostsFile=/dev/null",
          "-o", "BatchMode=yes",
          "-o", "ExitOnForwardFailure=yes",
          "-o", "LogLevel=ERROR",
          "-p", String(sshdPort),
          "-R", `127.0.0.1:${port}:127.0.0.1:${originPort}`,
          `${user}@127.0.0.1`,
        ],
        { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
      ),
    );
    const sshErr = { text: "" };
    void collect(ssh.stderr, sshErr);
    await waitListening(port, 10_000, ssh, "ssh -R", sshErr);
  } catch (err) {
    await stop();
    throw err;
  }
  const version = (Bun.spawnSync(["ssh", "-V"], { stdout: "pipe", stderr: "pipe" }).stderr.toString().trim().split("\n")[0] ?? "").trim();
  const sshPid = ssh.pid;
  return {
    sshdPid: sshd.pid,
    sshPid,
    port,
    sshdPort,
    user,
    version,
    serverPids: () => [sshd.pid, ...descendantsOf(sshd.pid)],
    stop,
  };
}
