/**
 * Test helper: the receiving end of `NOTIFY_SOCKET`, as systemd would hold it — a unix datagram
 * socket bound to a path (or an abstract name), read without blocking through `bun:ffi` (Bun has
 * no unix-datagram API). Every datagram is kept with the time it was read.
 */
import { dlopen, FFIType } from "bun:ffi";
import { sockaddrUn } from "../../../src/service/sd-notify.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
});

export interface Datagram {
  /** `performance.now()` when read. */
  readonly at: number;
  readonly text: string;
}

export interface NotifyReceiver {
  /** The value for `NOTIFY_SOCKET`. */
  readonly address: string;
  readonly datagrams: Datagram[];
  /** Wait until `check` holds (polled every 10 ms), or throw after `timeoutMs`. */
  waitFor(check: (d: readonly Datagram[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): void;
}

export function bindNotifySocket(address: string): NotifyReceiver {
  const fd = libc.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error("socket() failed");
  const { addr, len } = sockaddrUn(address);
  if (libc.symbols.bind(fd, addr, len) !== 0) {
    libc.symbols.close(fd);
    throw new Error(`bind(${address}) failed`);
  }
  const datagrams: Datagram[] = [];
  const buf = new Uint8Array(4096);
  const drain = () => {
    for (let n = 0; n < 1000; n++) {
      const got = Number(libc.symbols.recv(fd, buf, buf.length, MSG_DONTWAIT));
      if (got <= 0) return;
      datagrams.push({ at: performance.now(), text: new TextDecoder().decode(buf.subarray(0, got)) });
    }
  };
  const timer = setInterval(drain, 10);
  let open = true;
  return {
    address,
    datagrams,
    async waitFor(check, timeoutMs, what) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        drain();
        if (check(datagrams)) return;
        if (performance.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms; got ${JSON.stringify(datagrams.map((d) => d.text))}`);
        await Bun.sleep(10);
      }
    },
    close() {
      if (!open) return;
      open = false;
      clearInterval(timer);
      drain();
      libc.symbols.close(fd);
    },
  };
}
