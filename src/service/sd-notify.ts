/**
 * systemd's `sd_notify` protocol, for `Type=notify` units: newline-separated `KEY=value`
 * assignments in one datagram to the unix socket named by `$NOTIFY_SOCKET` (a path, or `@name`
 * for the abstract namespace). We send READY=1 at verified ready, STATUS= on state changes,
 * STOPPING=1 on shutdown and WATCHDOG=1 every half `$WATCHDOG_USEC` while the process is healthy
 * (src/service/watchdog.ts: from its first moment, and while the data plane answers).
 *
 * Bun has no unix-datagram API, so the socket is libc's, through `bun:ffi`: `socket(AF_UNIX,
 * SOCK_DGRAM|SOCK_CLOEXEC)` and `sendto` with a `sockaddr_un`. Linux only; elsewhere, or without
 * `NOTIFY_SOCKET`, there is no notifier at all. Like `sd_notify(unset_environment=1)`, reading the
 * variables removes them from the environment, so the credentials helper and any other child
 * never talks to systemd in our name.
 */
import { dlopen, FFIType, type Library } from "bun:ffi";
import type { ServiceNotifier } from "../listen/foreground.ts";
import { log } from "../log.ts";
import type { WatchdogCheck } from "./watchdog.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** `sizeof(sun_path)` on Linux. */
const SUN_PATH_MAX = 108;

/** `struct sockaddr_un` for `target` (`@name` → abstract) and the length to pass to `sendto`. */
export function sockaddrUn(target: string): { addr: Uint8Array; len: number } {
  const abstract = target.startsWith("@");
  const name = new TextEncoder().encode(abstract ? target.slice(1) : target);
  // Abstract: a leading NUL and exactly the name's bytes; a path: the bytes and a terminating NUL.
  const pathLen = abstract ? 1 + name.length : name.length + 1;
  if (name.length === 0 || pathLen > SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET ${JSON.stringify(target)} is not a usable socket address`);
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return { addr, len: 2 + pathLen };
}

export interface DatagramSender {
  /** True when the whole datagram was sent. */
  send(message: string): boolean;
  close(): void;
}

const LIBC_NAMES = ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`, "libc.so"];

/** A unix datagram socket aimed at `target`, through libc. Throws where that cannot be had. */
export function libcDatagramSender(target: string): DatagramSender {
  if (process.platform !== "linux") throw new Error("sd_notify is Linux-only");
  const symbols = {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  } as const;
  let lib: Library<typeof symbols> | undefined;
  const errors: string[] = [];
  for (const name of LIBC_NAMES) {
    try {
      lib = dlopen(name, symbols);
      break;
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (!lib) throw new Error(`cannot load libc for sd_notify: ${errors.join("; ")}`);
  const { addr, len } = sockaddrUn(target);
  const fd = lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error("socket(AF_UNIX, SOCK_DGRAM) failed");
  const libc = lib;
  let open = true;
  return {
    send(message) {
      if (!open) return false;
      const bytes = new TextEncoder().encode(message);
      const sent = libc.symbols.sendto(fd, bytes, bytes.length, 0, addr, len);
      return Number(sent) === bytes.length;
    },
    close() {
      if (!open) return;
      open = false;
      libc.symbols.close(fd);
      libc.close();
    },
  };
}

/** A boolean check (older callers) as a verdict. */
function asCheck(v: boolean | WatchdogCheck): WatchdogCheck {
  if (typeof v === "boolean") return { ping: v, reason: v ? null : "the data plane does not answer" };
  return v;
}

/**
 * The notifier's warnings go to stderr — under systemd, the journal, next to the manager's own
 * lines about the watchdog — and to the tunnel log.
 */
function journalWarn(line: string): void {
  process.stderr.write(`warning: ${line}\n`);
  log.withTag("service").warn(line);
}

/** STATUS= is one line of text. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ").trim();
}

/** The time the watchdog schedules its pings on: the real one, or one a test moves by hand. */
export interface WatchdogTimers {
  now(): number;
  /** Run `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): { cancel(): void };
}

const realTimers: WatchdogTimers = {
  now: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
};

export interface SystemdNotifierOptions {
  readonly sender: DatagramSender;
  /** `$WATCHDOG_USEC`; no watchdog pings without it. */
  readonly watchdogUsec?: number | undefined;
  /** Where the notifier's own warnings go (the tunnel log by default). */
  readonly warn?: ((line: string) => void) | undefined;
  readonly timers?: WatchdogTimers | undefined;
}

/** The `ServiceNotifier` for systemd (launchd and the SCM need no readiness protocol). */
export class SystemdNotifier implements ServiceNotifier {
  readonly #sender: DatagramSender;
  readonly #intervalMs: number | undefined;
  readonly #warn: (line: string) => void;
  readonly #timers: WatchdogTimers;
  #timer: { cancel(): void } | undefined;
  #closed = false;
  #watching = false;
  #check: () => Promise<boolean | WatchdogCheck> = async () => true;
  /** The reason of the ping withheld last, null while pings go out. */
  #withheld: string | null = null;
  #sendFailed = false;

  constructor(o: SystemdNotifierOptions) {
    this.#sender = o.sender;
    this.#intervalMs = o.watchdogUsec !== undefined && o.watchdogUsec > 0 ? Math.max(10, Math.floor(o.watchdogUsec / 2_000)) : undefined;
    this.#warn = o.warn ?? journalWarn;
    this.#timers = o.timers ?? realTimers;
  }

  /** Half of `WATCHDOG_USEC`, in ms; undefined without a watchdog. */
  get watchdogIntervalMs(): number | undefined {
    return this.#intervalMs;
  }

  ready(_urls?: readonly string[]): void {
    this.#send("READY=1");
  }

  status(text: string): void {
    this.#send(`STATUS=${oneLine(text)}`);
  }

  stopping(): void {
    this.#send("STOPPING=1");
  }

  /**
   * Ping every half `WATCHDOG_USEC` while `check()` says so. Called again while watching, it only
   * replaces the check: the process starts the watchdog at its first moment (nothing to check yet)
   * and hands it the data plane's check once setup has one (src/service/watchdog.ts).
   */
  startWatchdog(check: () => Promise<boolean | WatchdogCheck>): void {
    this.#check = check;
    const interval = this.#intervalMs;
    if (interval === undefined || this.#watching || this.#closed) return;
    this.#watching = true;
    const tick = async () => {
      const started = this.#timers.now();
      let deadline: { cancel(): void } | undefined;
      const verdict = await Promise.race([
        Promise.resolve().then(() => this.#check()).then(asCheck, (err: unknown) => ({ ping: false, reason: `the health check failed: ${err instanceof Error ? err.message : String(err)}` })),
        // A health check that hangs is a failed one: the ping waits for no one.
        new Promise<WatchdogCheck>((resolve) => {
          deadline = this.#timers.after(interval, () => resolve({ ping: false, reason: `the health check did not finish within ${interval} ms` }));
        }),
      ]);
      deadline?.cancel();
      if (this.#closed || !this.#watching) return;
      if (verdict.ping) {
        this.#send("WATCHDOG=1");
        if (this.#withheld !== null) this.#warn(`watchdog pings resumed (withheld since: ${this.#withheld})`);
        this.#withheld = null;
      } else {
        const reason = verdict.reason ?? "the data plane does not answer";
        if (this.#withheld !== reason) {
          this.#withheld = reason;
          this.#warn(`watchdog ping withheld: ${reason} (systemd restarts the agent once WatchdogSec passes without one)`);
        }
      }
      this.#schedule(tick, Math.max(0, interval - (this.#timers.now() - started)));
    };
    this.#schedule(tick, 0);
  }

  /** No more watchdog pings (the tunnel ended); messages can still be sent. */
  stopWatchdog(): void {
    this.#watching = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  close(): void {
    this.stopWatchdog();
    this.#closed = true;
    this.#sender.close();
  }

  #schedule(tick: () => Promise<void>, ms: number): void {
    if (this.#closed || !this.#watching) return;
    this.#timer = this.#timers.after(ms, () => void tick());
  }

  #send(message: string): void {
    if (this.#closed) return;
    if (!this.#sender.send(message) && !this.#sendFailed) {
      this.#sendFailed = true;
      this.#warn(`could not notify systemd (${message.split("=")[0]}); is NOTIFY_SOCKET still valid?`);
    }
  }
}

export interface NotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
  [key: string]: string | undefined;
}

/**
 * The notifier a service run should use: a `SystemdNotifier` when `NOTIFY_SOCKET` is set (Linux),
 * else `undefined`. Removes `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `env` either
 * way. The watchdog applies only when `WATCHDOG_PID` is unset or names this process.
 */
export function notifierFromEnv(
  env: NotifyEnv = process.env,
  o: { pid?: number; makeSender?: (target: string) => DatagramSender; warn?: (line: string) => void } = {},
): SystemdNotifier | undefined {
  const socket = env.NOTIFY_SOCKET?.trim();
  const usecText = env.WATCHDOG_USEC?.trim();
  const watchdogPid = env.WATCHDOG_PID?.trim();
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  if (!socket) return undefined;
  const pid = o.pid ?? process.pid;
  const usec = usecText && /^\d+$/.test(usecText) && (!watchdogPid || watchdogPid === String(pid)) ? Number(usecText) : undefined;
  const warn = o.warn ?? journalWarn;
  let sender: DatagramSender;
  try {
    sender = (o.makeSender ?? libcDatagramSender)(socket);
  } catch (err) {
    warn(`sd_notify unavailable, systemd will not hear about readiness: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  return new SystemdNotifier({ sender, watchdogUsec: usec, warn });
}
