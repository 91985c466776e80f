/**
 * `--health ADDRESS`: where the opt-in local health endpoint listens (issue 4, deliverable 5).
 *
 * Loopback only unless the user binds elsewhere explicitly. The accepted forms are few on purpose:
 *
 *   127.0.0.1:PORT   IPv4 loopback
 *   [::1]:PORT       IPv6 loopback
 *   localhost:PORT   bound as 127.0.0.1 (deterministic: what `localhost` resolves to varies by host)
 *   :PORT            127.0.0.1
 *   0.0.0.0:PORT     every interface: allowed because it is explicit, flagged `loopback: false`
 *                    so the caller can print a warning
 *
 * PORT is 0–65535; 0 asks the OS for a free port (the server reports the one it got). Anything
 * else is a `UsageError` (exit 2) listing these forms. Pure.
 */
import { UsageError } from "../errors.ts";

export interface HealthAddress {
  /** What to bind: `127.0.0.1`, `::1` or `0.0.0.0` (IPv6 without brackets). */
  readonly host: string;
  /** 0 means "any free port". */
  readonly port: number;
  /** False only for an explicit all-interfaces bind; the caller warns. */
  readonly loopback: boolean;
}

export const HEALTH_ADDRESS_FORMS =
  "use 127.0.0.1:PORT, [::1]:PORT, localhost:PORT or :PORT (loopback only), or 0.0.0.0:PORT to listen on every interface; PORT is 0-65535, 0 picks a free port";

const PORT = /^\d{1,5}$/;

function invalid(input: string, why: string, hint: string = HEALTH_ADDRESS_FORMS): UsageError {
  return new UsageError(`invalid --health address ${JSON.stringify(input)}: ${why}`, hint);
}

function parsePort(input: string, text: string): number {
  if (text === "") throw invalid(input, "missing the port");
  const port = PORT.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw invalid(input, `port ${JSON.stringify(text)} is not a number from 0 to 65535`);
  return port;
}

export function parseHealthAddress(value: string): HealthAddress {
  const input = value.trim();
  if (input === "") throw invalid(value, "empty");
  if (PORT.test(input)) throw invalid(value, "missing the host", `did you mean :${input} (127.0.0.1:${input})? ${HEALTH_ADDRESS_FORMS}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw invalid(value, "give HOST:PORT, not a URL");

  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close < 0 || input[close + 1] !== ":") throw invalid(value, "an IPv6 address is written [::1]:PORT");
    const host = input.slice(1, close);
    if (host !== "::1") throw invalid(value, `host [${host}] is not allowed`);
    return { host: "::1", port: parsePort(value, input.slice(close + 2)), loopback: true };
  }

  const colon = input.lastIndexOf(":");
  if (colon < 0) throw invalid(value, "missing :PORT");
  const host = input.slice(0, colon).toLowerCase();
  const port = parsePort(value, input.slice(colon + 1));
  switch (host) {
    case "":
    case "127.0.0.1":
    case "localhost":
      return { host: "127.0.0.1", port, loopback: true };
    case "0.0.0.0":
      return { host: "0.0.0.0", port, loopback: false };
    default:
      if (host.includes(":")) throw invalid(value, "an IPv6 address is written in brackets, [::1]:PORT");
      throw invalid(value, `host ${JSON.stringify(host)} is not allowed`);
  }
}

/** `127.0.0.1:9000`, `[::1]:9000`: an address as a user reads and types it. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
