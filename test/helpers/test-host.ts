/**
 * A second machine for end-to-end tests: its own network namespace (joined to the test's by a veth
 * pair with addresses from 198.18.0.0/15, no route anywhere else) and its own UTS namespace (its
 * own host name, so its own `datum.net/device-name`). The local Datum's API and edge ports are
 * carried into it over Unix sockets, so the machine reaches `127.0.0.1:<port>` as the test does,
 * while iroh between it and the local Datum's gateway crosses the veth pair.
 *
 * Needs root in the test's user namespace (scripts/netns.sh gives it) and `ip`, `unshare`,
 * `nsenter`; `testHostUnavailable()` says why not where they are missing. Everything started here
 * is ended by PID in `stop()`.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readlinkSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUN } from "./cli.ts";
import { splice } from "./splice.ts";

export interface TestHost {
  readonly hostname: string;
  /** The host's address on the veth pair (the latest one after `moveTo`). */
  readonly address: string;
  /**
   * Move the host to another address on its veth pair (another host number of the same /24, 3–254):
   * the new address is added, then the old one removed, as a DHCP renewal or a network change would.
   */
  moveTo(hostNumber: number): string;
  /** Prefix a command with this to run it on the host (its network and UTS namespaces). */
  readonly wrap: readonly string[];
  /** Start a process on the host and wait for it to print `ready`. */
  spawnReady(cmd: readonly string[]): Promise<Subprocess>;
  stop(): Promise<void>;
}

/** Why no test host can be made here, or undefined when one can. */
export function testHostUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  for (const tool of ["ip", "unshare", "nsenter"]) if (!Bun.which(tool)) return `'${tool}' is not installed`;
  if (process.getuid?.() !== 0) return "not root in this user namespace (run the suite through scripts/netns.sh)";
  const probe = Bun.spawnSync(["unshare", "-n", "-u", "true"], { stderr: "pipe" });
  if (!probe.success) return `cannot create network namespaces here: ${probe.stderr.toString().trim()}`;
  return undefined;
}

function sh(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (!r.success) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString().trim()}`);
}

async function readyLine(child: Subprocess<"ignore", "pipe", "pipe">, what: string): Promise<void> {
  const reader = child.stdout.getReader();
  let text = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${what} ended before ready: ${await new Response(child.stderr).text()}`);
      text += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}


let hosts = 0;

/** Make a host named `hostname` that reaches the test's `127.0.0.1` ports `forwardPorts`. */
export async function startTestHost(hostname: string, forwardPorts: readonly number[]): Promise<TestHost> {
  const n = (process.pid % 200) + ++hosts; // third octet: distinct per host of this run
  const suffix = randomBytes(2).toString("hex");
  const outer = `dth${suffix}a`;
  const inner = `dth${suffix}b`;
  const hostAddress = `198.18.${n}.2`;
  const dir = mkdtempSync(join(process.env.DATUM_CONNECT_TEST_ROOT ?? tmpdir(), "test-host-"));
  const children: Subprocess[] = [];
  const servers: Server[] = [];

  const holder = Bun.spawn(["unshare", "-n", "-u", "sleep", "3600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  children.push(holder);
  const ownNet = readlinkSync("/proc/self/ns/net");
  const stop = async () => {
    for (const s of servers) s.close();
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    Bun.spawnSync(["ip", "link", "del", outer], { stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // `unshare` enters the namespaces before it execs sleep: wait until the PID's netns differs.
    for (let i = 0; readNet(holder.pid) === ownNet || readNet(holder.pid) === undefined; i++) {
      if (i > 400 || holder.exitCode !== null) throw new Error("the test host's namespaces did not appear");
      await Bun.sleep(5);
    }
    const pid = String(holder.pid);
    const wrap = ["nsenter", "-t", pid, "-n", "-u", "--"];
    sh(["ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", pid]);
    sh(["ip", "addr", "add", `198.18.${n}.1/24`, "dev", outer]);
    sh(["ip", "link", "set", outer, "up"]);
    sh([...wrap, "sh", "-c", `ip link set lo up && ip addr add ${hostAddress}/24 dev ${inner} && ip link set ${inner} up && hostname ${hostname}`]);

    const pairs: string[] = [];
    for (const port of forwardPorts) {
      const socket = join(dir, `fwd-${port}.sock`);
      const server = createServer((c) => splice(c, connect(port, "127.0.0.1")));
      await new Promise<void>((resolve) => server.listen(socket, resolve));
      servers.push(server);
      pairs.push(String(port), socket);
    }
    const spawnReady = async (cmd: readonly string[]): Promise<Subprocess> => {
      const child = Bun.spawn([...wrap, ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      children.push(child);
      await readyLine(child, cmd.join(" "));
      return child;
    };
    if (pairs.length > 0) await spawnReady([BUN, join(import.meta.dir, "fixtures", "tcp-to-unix.ts"), ...pairs]);
    let address = hostAddress;
    const moveTo = (hostNumber: number): string => {
      if (!Number.isInteger(hostNumber) || hostNumber < 3 || hostNumber > 254) throw new Error(`host number ${hostNumber} is not in 3..254`);
      const next = `198.18.${n}.${hostNumber}`;
      if (next === address) return address;
      // Without promote_secondaries, removing the primary address of a subnet removes the new one with it.
      sh([...wrap, "sh", "-c", `echo 1 > /proc/sys/net/ipv4/conf/${inner}/promote_secondaries && ip addr add ${next}/24 dev ${inner} && ip addr del ${address}/24 dev ${inner}`]);
      address = next;
      return address;
    };
    return {
      hostname,
      get address() {
        return address;
      },
      wrap,
      moveTo,
      spawnReady,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function readNet(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}
