/**
 * The interop peer (test/interop/peer, n0's iroh-proxy-utils gateway side; test/interop/README.md).
 * `scripts/test.sh` builds it with cargo before the tests enter their loopback-only namespace and
 * passes its path in `DATUM_CONNECT_TEST_INTEROP_PEER`, or why there is none in
 * `DATUM_CONNECT_TEST_INTEROP_PEER_MISSING`. Tests that need it skip with that reason, printed.
 */
import { accessSync, constants } from "node:fs";
import type { Subprocess } from "bun";

/** The peer binary's path, or why the interop tests skip here. */
export function interopPeerForTests(): { path: string; skip?: undefined } | { path?: undefined; skip: string } {
  const path = process.env.DATUM_CONNECT_TEST_INTEROP_PEER?.trim();
  if (path) {
    try {
      accessSync(path, constants.X_OK);
      return { path };
    } catch {
      return { skip: `${path} (DATUM_CONNECT_TEST_INTEROP_PEER) is not an executable file` };
    }
  }
  const missing = process.env.DATUM_CONNECT_TEST_INTEROP_PEER_MISSING?.trim();
  return { skip: missing || "no interop peer build: run the tests through scripts/test.sh, which builds it (scripts/build-interop-peer.sh)" };
}

export type PeerEvent = Record<string, unknown> & { event: string };

/** What the library's `create_tunnel` gave: 200 and the tunnel's bytes, or the status it failed with. */
export interface LibraryConnect {
  readonly status: number | null;
  readonly error: string | null;
  readonly received: Uint8Array;
}

export interface InteropPeer {
  /** `127.0.0.1:<port>`: the library's HTTP forward proxy (CONNECT and absolute-form) to the device. */
  readonly httpProxy: { host: string; port: number };
  /** A `ProxyMode::Tcp` listener tunnelling every connection to `authority` on the device. */
  tcpTunnel(authority: string): Promise<{ host: string; port: number }>;
  /** `create_tunnel` to `authority`, then `send` through it (then FIN), and everything that comes back. */
  connect(authority: string, send: Uint8Array): Promise<LibraryConnect>;
  stop(): Promise<void>;
}

const hostPort = (text: string): { host: string; port: number } => {
  const i = text.lastIndexOf(":");
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
};

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/**
 * Start the peer against one device. Commands are answered in order (the peer handles one stdin
 * line at a time), so each command waits for the next event line.
 */
export async function startInteropPeer(binary: string, deviceId: string, addresses: readonly string[]): Promise<InteropPeer> {
  const proc: Subprocess<"pipe", "pipe", "inherit"> = Bun.spawn([binary, deviceId, ...addresses], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const pending: PeerEvent[] = [];
  const waiters: Array<(e: PeerEvent | null) => void> = [];
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const event = JSON.parse(line) as PeerEvent;
        const waiter = waiters.shift();
        if (waiter) waiter(event);
        else pending.push(event);
      }
    }
    for (const waiter of waiters.splice(0)) waiter(null);
  })();
  const next = async (): Promise<PeerEvent> => {
    const event = pending.shift() ?? (await new Promise<PeerEvent | null>((resolve) => waiters.push(resolve)));
    if (event === null) throw new Error(`interop peer exited (code ${await proc.exited})`);
    if (event.event === "error") throw new Error(`interop peer: ${String(event.error)}`);
    return event;
  };
  // One command in flight at a time: answers come back in order.
  let queue: Promise<unknown> = Promise.resolve();
  const ask = (command: Record<string, unknown>): Promise<PeerEvent> => {
    const run = queue.then(async () => {
      proc.stdin.write(`${JSON.stringify(command)}\n`);
      await proc.stdin.flush();
      return next();
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const ready = await next();
  if (ready.event !== "ready") throw new Error(`interop peer: expected ready, got ${JSON.stringify(ready)}`);
  return {
    httpProxy: hostPort(String(ready.http)),
    async tcpTunnel(authority) {
      return hostPort(String((await ask({ op: "tcp", authority })).listen));
    },
    async connect(authority, send) {
      const answer = await ask({ op: "connect", authority, sendHex: hex(send) });
      return {
        status: typeof answer.status === "number" ? answer.status : null,
        error: typeof answer.error === "string" ? answer.error : null,
        received: Uint8Array.from(Buffer.from(String(answer.receivedHex ?? ""), "hex")),
      };
    },
    async stop() {
      await proc.stdin.end();
      const exited = await Promise.race([proc.exited, Bun.sleep(5_000).then(() => null)]);
      if (exited === null) {
        proc.kill();
        await proc.exited;
      }
    },
  };
}
