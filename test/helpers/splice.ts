/** Carry bytes both ways between two sockets until either ends (test port forwarding). */
import type { Socket } from "node:net";

export function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end).on("close", end);
  b.on("error", end).on("close", end);
}
