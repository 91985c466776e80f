/**
 * A group's live view on a terminal (docs/groups.md#output): a header and one row per service,
 * redrawn in place on stderr with a spinner (src/listen/live-region.ts); warnings, notices and
 * anything else written to the terminal meanwhile go above it. Once the group has settled (or
 * closes) the block stays on the screen as it last was, and everything after is plain lines.
 */
import type { ListenEvent, ListenSink } from "../listen/events.ts";
import { captureWrites, LiveRegion } from "../listen/live-region.ts";
import { writeStdout } from "../stdout.ts";
import { GroupBoard } from "./view-board.ts";
import { GroupLinesView } from "./view-text.ts";

type Write = (line: string) => void;

/** The view's time: a monotonic clock in ms and a repeating tick. */
export interface ViewClock {
  now(): number;
  /** Call `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: ViewClock = {
  now: () => performance.now(),
  every: (ms, fn) => {
    const timer = setInterval(fn, ms);
    timer.unref?.();
    return () => clearInterval(timer);
  },
};

/** The size of a terminal stream, read afresh (it changes on a resize); undefined when unknown. */
function sizeOf(stream: NodeJS.WriteStream): { columns: number; rows: number } | undefined {
  const [columns, rows] = typeof stream.getWindowSize === "function" ? stream.getWindowSize() : [stream.columns, stream.rows];
  return columns && rows ? { columns, rows } : undefined;
}

export class GroupTtyView implements ListenSink {
  readonly #board = new GroupBoard();
  readonly #text: GroupLinesView;
  #phase: "before" | "live" | "after" = "before";
  #region: LiveRegion | undefined;
  #releaseWrites: (() => void) | undefined;
  #stopTicks: (() => void) | undefined;
  #onResize: (() => void) | undefined;
  #frame = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    out: Write = (line) => writeStdout(`${line}\n`),
    private readonly clock: ViewClock = realClock,
    stopHint = "Press Ctrl+C to stop...",
  ) {
    this.#text = new GroupLinesView((line) => this.#line(line), out, stopHint, true);
  }

  #line(line: string): void {
    if (this.#region) this.#region.above(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  on(e: ListenEvent): void {
    this.#board.apply(e, this.clock.now());
    if (this.#phase === "before" && (e.type === "group" || e.service !== undefined)) this.#start();
    if (e.type === "settled" || e.type === "closing") this.close();
    this.#text.on(e);
    this.#draw(false);
  }

  #start(): void {
    this.#phase = "live";
    const capture = captureWrites(this.stream, (text) => this.#region?.above(text));
    this.#releaseWrites = capture.release;
    this.#region = new LiveRegion({ write: capture.raw, size: () => sizeOf(this.stream) });
    this.#stopTicks = this.clock.every(100, () => {
      this.#frame++;
      this.#draw(false);
    });
    // A resize reflows what is on the screen: redraw at the new width right away.
    this.#onResize = () => this.#draw(false);
    if (typeof this.stream.on === "function") this.stream.on("resize", this.#onResize);
  }

  #draw(final: boolean): void {
    this.#region?.show(this.#board.lines({ now: this.clock.now(), frame: this.#frame, columns: sizeOf(this.stream)?.columns, final }));
  }

  /** Leave the block on the screen as it is now; later lines are plain. */
  close(): void {
    if (this.#phase !== "live") {
      this.#phase = "after";
      return;
    }
    this.#phase = "after";
    this.#stopTicks?.();
    this.#stopTicks = undefined;
    if (this.#onResize && typeof this.stream.off === "function") this.stream.off("resize", this.#onResize);
    this.#onResize = undefined;
    this.#draw(true);
    this.#region?.release();
    this.#region = undefined;
    this.#releaseWrites?.();
    this.#releaseWrites = undefined;
  }
}
