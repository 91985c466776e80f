/**
 * `sd_notify`: the `sockaddr_un` layout, the messages, the environment handling, real datagrams
 * through libc to a bound socket (path and abstract), and the watchdog — pings every half
 * `WATCHDOG_USEC` only while `healthy()` answers true, none while the data plane is wedged
 * (`healthy()` false, or hanging), resumed when it answers again.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libcDatagramSender, notifierFromEnv, sockaddrUn, SystemdNotifier, type DatagramSender, type WatchdogTimers } from "../../../src/service/sd-notify.ts";
import { bindNotifySocket } from "./notify-socket.ts";

const dir = mkdtempSync(join(tmpdir(), "sd-notify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class FakeSender implements DatagramSender {
  readonly sent: { at: number; text: string }[] = [];
  closed = false;
  constructor(private readonly now: () => number = () => performance.now()) {}
  send(message: string): boolean {
    this.sent.push({ at: this.now(), text: message });
    return true;
  }
  close(): void {
    this.closed = true;
  }
  pings(from = 0, to = Number.POSITIVE_INFINITY): number {
    return this.sent.filter((s) => s.text === "WATCHDOG=1" && s.at >= from && s.at < to).length;
  }
}

describe("sockaddr_un", () => {
  test("a path: family, bytes, NUL; length counts the NUL", () => {
    const { addr, len } = sockaddrUn("/run/systemd/notify");
    expect([addr[0], addr[1]]).toEqual([1, 0]);
    expect(new TextDecoder().decode(addr.subarray(2, 2 + 19))).toBe("/run/systemd/notify");
    expect(addr[21]).toBe(0);
    expect(len).toBe(2 + 19 + 1);
  });

  test("an abstract name: a leading NUL, no terminator", () => {
    const { addr, len } = sockaddrUn("@/org/freedesktop/systemd1/notify/123");
    expect(addr[2]).toBe(0);
    expect(new TextDecoder().decode(addr.subarray(3, len))).toBe("/org/freedesktop/systemd1/notify/123");
    expect(len).toBe(2 + 1 + 36);
  });

  test("too long or empty is refused", () => {
    expect(() => sockaddrUn(`/${"x".repeat(120)}`)).toThrow(/not a usable socket address/);
    expect(() => sockaddrUn("@")).toThrow(/not a usable/);
  });
});

describe("messages", () => {
  test("READY=1, STATUS= on one line, STOPPING=1; nothing after close", () => {
    const sender = new FakeSender();
    const n = new SystemdNotifier({ sender });
    n.status("setting up\nthe tunnel");
    n.ready(["https://x.example"]);
    n.stopping();
    n.close();
    n.status("late");
    expect(sender.sent.map((s) => s.text)).toEqual(["STATUS=setting up the tunnel", "READY=1", "STOPPING=1"]);
    expect(sender.closed).toBe(true);
  });

  test("the environment: read once, then removed so children do not inherit it", () => {
    const env: Record<string, string | undefined> = { NOTIFY_SOCKET: "@sock", WATCHDOG_USEC: "2000000", WATCHDOG_PID: "77", OTHER: "kept" };
    const n = notifierFromEnv(env, { pid: 77, makeSender: () => new FakeSender() });
    expect(n?.watchdogIntervalMs).toBe(1_000);
    expect(env).toEqual({ OTHER: "kept" });
    n?.close();
  });

  test("no NOTIFY_SOCKET: no notifier; a watchdog meant for another PID: no pings", () => {
    const env: Record<string, string | undefined> = { WATCHDOG_USEC: "1000000" };
    expect(notifierFromEnv(env, { makeSender: () => new FakeSender() })).toBeUndefined();
    expect(env.WATCHDOG_USEC).toBeUndefined();
    const other = notifierFromEnv({ NOTIFY_SOCKET: "/x", WATCHDOG_USEC: "1000000", WATCHDOG_PID: "1" }, { pid: 2, makeSender: () => new FakeSender() });
    expect(other?.watchdogIntervalMs).toBeUndefined();
    other?.close();
  });

  test("a socket that cannot be opened is a warning, not a crash", () => {
    const warnings: string[] = [];
    const n = notifierFromEnv({ NOTIFY_SOCKET: "/x" }, { makeSender: () => { throw new Error("nope"); }, warn: (l) => warnings.push(l) });
    expect(n).toBeUndefined();
    expect(warnings[0]).toContain("sd_notify unavailable");
  });
});

describe.skipIf(process.platform !== "linux")("datagrams through libc", () => {
  for (const address of [() => join(dir, "notify.sock"), () => `@datumctl-connect-test-${process.pid}`]) {
    test(`to ${address().startsWith("@") ? "an abstract name" : "a socket path"}`, async () => {
      const receiver = bindNotifySocket(address());
      try {
        const sender = libcDatagramSender(receiver.address);
        expect(sender.send("READY=1")).toBe(true);
        expect(sender.send("STATUS=ready: https://a-b-1.datumproxy.localhost")).toBe(true);
        sender.close();
        await receiver.waitFor((d) => d.length >= 2, 2_000, "two datagrams");
        expect(receiver.datagrams.map((d) => d.text)).toEqual(["READY=1", "STATUS=ready: https://a-b-1.datumproxy.localhost"]);
      } finally {
        receiver.close();
      }
    });
  }

  test("no listener: send reports failure, the notifier warns once", () => {
    const warnings: string[] = [];
    const n = new SystemdNotifier({ sender: libcDatagramSender(join(dir, "nobody.sock")), warn: (l) => warnings.push(l) });
    n.status("a");
    n.status("b");
    n.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("could not notify systemd");
  });
});

/**
 * Watchdog time moved by hand: `advance(ms)` runs every timer that falls due, in order, letting the
 * notifier's promise chains settle after each, so ping counts are exact and nothing waits for real.
 */
class ManualTimers implements WatchdogTimers {
  t = 0;
  #queue: { at: number; seq: number; fn: () => void }[] = [];
  #seq = 0;
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): { cancel(): void } {
    const entry = { at: this.t + ms, seq: this.#seq++, fn };
    this.#queue.push(entry);
    return { cancel: () => void (this.#queue = this.#queue.filter((e) => e !== entry)) };
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = this.#queue.filter((e) => e.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#queue = this.#queue.filter((e) => e !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = end;
  }
}

/** Let every pending promise reaction run (a macrotask turn, not a wait for time). */
const settle = () => new Promise<void>((done) => setImmediate(done));

describe("watchdog", () => {
  test("pings every half WATCHDOG_USEC while healthy, none while wedged, and again once healthy", async () => {
    const timers = new ManualTimers();
    const sender = new FakeSender(() => timers.now());
    const warnings: string[] = [];
    // WATCHDOG_USEC = 200 ms → a ping every 100 ms.
    const n = new SystemdNotifier({ sender, watchdogUsec: 200_000, warn: (l) => warnings.push(l), timers });
    let healthy = true;
    let checks = 0;
    n.startWatchdog(async () => {
      checks++;
      return healthy;
    });
    await timers.advance(650);
    healthy = false; // the data plane wedges
    await timers.advance(650);
    healthy = true;
    await timers.advance(450);
    n.close();

    // A check at 0, 100, … 1700 ms; a ping for each healthy one (0–600 and 1400–1700: the check
    // at 1300 ms still saw the wedge), spaced by the interval.
    expect(checks).toBe(18);
    expect(sender.sent.filter((s) => s.text === "WATCHDOG=1").map((s) => s.at)).toEqual([0, 100, 200, 300, 400, 500, 600, 1400, 1500, 1600, 1700]);
    expect(warnings).toEqual([
      "watchdog ping withheld: the data plane does not answer (systemd restarts the agent once WatchdogSec passes without one)",
      "watchdog pings resumed (withheld since: the data plane does not answer)",
    ]);
  });

  test("a health check that hangs counts as wedged: no ping, one warning", async () => {
    const timers = new ManualTimers();
    const sender = new FakeSender(() => timers.now());
    const warnings: string[] = [];
    const n = new SystemdNotifier({ sender, watchdogUsec: 100_000, warn: (l) => warnings.push(l), timers });
    let checks = 0;
    n.startWatchdog(() => {
      checks++;
      return new Promise<boolean>(() => undefined);
    });
    await timers.advance(400);
    n.close();
    expect(sender.pings()).toBe(0);
    // Each hung check is given up after one interval (50 ms) and the next starts at once.
    expect(checks).toBe(9);
    expect(warnings).toHaveLength(1);
  });

  test("fed from the first moment; a second start replaces the check; each new reason is said once", async () => {
    const timers = new ManualTimers();
    const sender = new FakeSender(() => timers.now());
    const warnings: string[] = [];
    const n = new SystemdNotifier({ sender, watchdogUsec: 100_000, warn: (l) => warnings.push(l), timers });
    // What tunnel run does before it has read anything: ping.
    n.startWatchdog(async () => ({ ping: true, reason: null }));
    await timers.advance(120);
    expect(sender.pings()).toBe(3); // 0, 50, 100 ms
    let verdict: { ping: boolean; reason: string | null } = { ping: false, reason: "the data plane worker did not answer within 2 s" };
    n.startWatchdog(async () => verdict); // setup hands over the data plane's check
    await timers.advance(100); // 150, 200 ms: withheld
    verdict = { ping: false, reason: "the data plane worker is dead (1 death so far)" };
    await timers.advance(100); // 250, 300 ms: withheld, another reason
    verdict = { ping: true, reason: null };
    await timers.advance(50); // 350 ms: ping
    n.close();
    expect(sender.sent.filter((s) => s.text === "WATCHDOG=1").map((s) => s.at)).toEqual([0, 50, 100, 350]);
    expect(warnings).toEqual([
      "watchdog ping withheld: the data plane worker did not answer within 2 s (systemd restarts the agent once WatchdogSec passes without one)",
      "watchdog ping withheld: the data plane worker is dead (1 death so far) (systemd restarts the agent once WatchdogSec passes without one)",
      "watchdog pings resumed (withheld since: the data plane worker is dead (1 death so far))",
    ]);
  });

  test("stopWatchdog ends the pings but keeps the socket for a last STATUS=", async () => {
    const timers = new ManualTimers();
    const sender = new FakeSender(() => timers.now());
    const n = new SystemdNotifier({ sender, watchdogUsec: 100_000, timers });
    n.startWatchdog(async () => true);
    await timers.advance(120);
    expect(sender.pings()).toBe(3); // 0, 50, 100 ms
    n.stopWatchdog();
    await timers.advance(200);
    expect(sender.pings()).toBe(3);
    n.status("failed: x");
    expect(sender.sent.at(-1)?.text).toBe("STATUS=failed: x");
    n.close();
  });
});
