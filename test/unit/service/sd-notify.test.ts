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
import { libcDatagramSender, notifierFromEnv, sockaddrUn, SystemdNotifier, type DatagramSender } from "../../../src/service/sd-notify.ts";
import { bindNotifySocket } from "./notify-socket.ts";

const dir = mkdtempSync(join(tmpdir(), "sd-notify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class FakeSender implements DatagramSender {
  readonly sent: { at: number; text: string }[] = [];
  closed = false;
  send(message: string): boolean {
    this.sent.push({ at: performance.now(), text: message });
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

describe("watchdog", () => {
  test("pings every half WATCHDOG_USEC while healthy, none while wedged, and again once healthy", async () => {
    const sender = new FakeSender();
    const warnings: string[] = [];
    // WATCHDOG_USEC = 200 ms → a ping every 100 ms.
    const n = new SystemdNotifier({ sender, watchdogUsec: 200_000, warn: (l) => warnings.push(l) });
    let healthy = true;
    let checks = 0;
    n.startWatchdog(async () => {
      checks++;
      return healthy;
    });
    const t0 = performance.now();
    await Bun.sleep(650);
    const t1 = performance.now();
    healthy = false; // the data plane wedges
    await Bun.sleep(650);
    const t2 = performance.now();
    healthy = true;
    await Bun.sleep(450);
    n.close();

    const healthyPings = sender.pings(t0, t1);
    expect(healthyPings).toBeGreaterThanOrEqual(5);
    expect(healthyPings).toBeLessThanOrEqual(8);
    // One ping may have been decided just before the switch; after that, silence.
    expect(sender.pings(t1 + 120, t2)).toBe(0);
    expect(sender.pings(t2 + 120)).toBeGreaterThanOrEqual(2);
    expect(checks).toBeGreaterThan(healthyPings);
    expect(warnings).toEqual([
      "the data plane does not answer: withholding the watchdog ping (systemd restarts the agent once WatchdogSec passes)",
      "the data plane answers again: watchdog pings resumed",
    ]);
    // Pings are spaced by the interval, not bunched.
    const times = sender.sent.filter((s) => s.text === "WATCHDOG=1" && s.at < t1).map((s) => s.at);
    for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThan(60);
  });

  test("a health check that hangs counts as wedged", async () => {
    const sender = new FakeSender();
    const n = new SystemdNotifier({ sender, watchdogUsec: 100_000, warn: () => undefined });
    n.startWatchdog(() => new Promise<boolean>(() => undefined));
    await Bun.sleep(400);
    n.close();
    expect(sender.pings()).toBe(0);
  });

  test("stopWatchdog ends the pings but keeps the socket for a last STATUS=", async () => {
    const sender = new FakeSender();
    const n = new SystemdNotifier({ sender, watchdogUsec: 100_000 });
    n.startWatchdog(async () => true);
    await Bun.sleep(120);
    n.stopWatchdog();
    const pings = sender.pings();
    await Bun.sleep(200);
    expect(sender.pings()).toBe(pings);
    n.status("failed: x");
    expect(sender.sent.at(-1)?.text).toBe("STATUS=failed: x");
    n.close();
  });
});
