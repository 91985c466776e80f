/**
 * How a group shows what it is doing (docs/groups.md#output), one sink of the listen's events
 * (src/listen/events.ts) per output:
 * - on a terminal: a live block with one row per service (view-tty.ts);
 * - elsewhere: plain lines, each service's prefixed with its name (view-text.ts);
 * - `-o json`: JSON events on stdout, each service's tagged with its name (view-json.ts).
 * stdout carries data only: `<name> <url>` per verified service once the group settles, or JSON.
 */
import type { ListenSink } from "../listen/events.ts";
import { writeStdout } from "../stdout.ts";
import { GroupJsonView } from "./view-json.ts";
import { GroupLinesView } from "./view-text.ts";
import { GroupTtyView } from "./view-tty.ts";

export { GroupPlainView } from "./view-text.ts";

const stderrLine = (line: string) => void process.stderr.write(`${line}\n`);
const stdoutLine = (line: string) => writeStdout(`${line}\n`);
const CTRL_C = "Press Ctrl+C to stop...";

export function groupViewFor(output: "table" | "json", tty: boolean): ListenSink & { close(): void } {
  if (output === "json") return new GroupJsonView(stderrLine, stdoutLine, CTRL_C);
  return tty ? new GroupTtyView() : new GroupLinesView(stderrLine, stdoutLine, CTRL_C);
}
