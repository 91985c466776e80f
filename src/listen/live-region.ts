/**
 * A block of lines at the bottom of a terminal, redrawn in place (the live view of `tunnel
 * listen`), with everything else written to the same terminal kept above it.
 *
 * Redrawing moves the cursor up over the block erasing each row, so the block's
 * height in terminal rows must be exact: a line wider than the terminal takes several rows, counted
 * at the width the terminal has when the block is cleared (terminals reflow their lines on a
 * resize). Any other write to the stream while the block is shown (a logger, a `warning:` line)
 * would leave the cursor below where the block thinks it is, and every later redraw would leave a
 * copy of the block's first rows behind; `captureWrites` routes those writes above the block.
 */

/** The terminal the block is drawn on. */
export interface TerminalOut {
  /** Write to the terminal itself (never through `captureWrites`). */
  write(text: string): void;
  /** Current size; undefined when unknown (nothing then wraps or is cut). */
  size(): { columns: number; rows: number } | undefined;
}

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

/** Columns `text` takes on a terminal: wide characters count two, escape sequences none. */
export function displayWidth(text: string): number {
  return typeof Bun !== "undefined" ? Bun.stringWidth(text) : [...text.replace(ANSI, "")].length;
}

/** Terminal rows one line (without its newline) takes on a terminal `columns` wide. */
export function rowsOf(line: string, columns: number | undefined): number {
  if (!columns || columns <= 0) return 1;
  return Math.max(1, Math.ceil(displayWidth(line) / columns));
}

/**
 * The cursor movement that erases `lines`, drawn last and followed by a newline each: every row is
 * erased on its own, bottom to top (EL, then one row up), never with "erase to the end of the
 * screen" (ED): from the top-left corner tmux takes ED for a clear and pushes the whole screen into
 * its scrollback, so a block drawn at the top of a pane left one copy per frame there.
 */
export function eraseSequence(lines: readonly string[], columns: number | undefined): string {
  if (lines.length === 0) return "";
  const rows = lines.reduce((n, line) => n + rowsOf(line, columns), 0);
  return `\r\x1b[2K${"\x1b[1A\x1b[2K".repeat(rows)}`;
}

/**
 * The lines of `block` that fit a terminal `rows` high (one row stays for the cursor): the cursor
 * cannot move above the top of the screen, so a taller block could not be erased. The last lines
 * (the one being waited on and the status) are kept.
 */
export function fitHeight(block: readonly string[], size: { columns: number; rows: number } | undefined): string[] {
  if (!size || size.rows <= 1) return [...block];
  const kept: string[] = [];
  let used = 0;
  for (let i = block.length - 1; i >= 0; i--) {
    const line = block[i] as string;
    const rows = rowsOf(line, size.columns);
    if (used + rows > size.rows - 1) break;
    kept.unshift(line);
    used += rows;
  }
  return kept;
}

export class LiveRegion {
  /** What is on the screen now, in the order drawn. */
  #shown: string[] = [];

  constructor(private readonly term: TerminalOut) {}

  /** Replace the block with `lines` (one write, so the terminal never shows it half drawn). */
  show(lines: readonly string[]): void {
    const size = this.term.size();
    const next = fitHeight(lines, size);
    this.term.write(`${eraseSequence(this.#shown, size?.columns)}${next.map((l) => `${l}\n`).join("")}`);
    this.#shown = next;
  }

  /** Write `text` (whole lines) above the block, then draw the block again below it. */
  above(text: string): void {
    const size = this.term.size();
    const lines = this.#shown;
    this.term.write(`${eraseSequence(lines, size?.columns)}${text}${lines.map((l) => `${l}\n`).join("")}`);
  }

  /** Erase the block. */
  clear(): void {
    this.show([]);
  }

  /** Leave the block on the screen as ordinary output; later writes go below it. */
  release(): void {
    this.#shown = [];
  }
}

type WriteFn = (chunk: string | Uint8Array, encodingOrCallback?: BufferEncoding | ((err?: Error | null) => void), callback?: (err?: Error | null) => void) => boolean;

/**
 * Until the returned function is called, writes to `stream` by anyone else are handed to
 * `above` a whole line at a time (a partial line waits for its newline, or for the release).
 * Returns the stream's own write, for the block, and the release.
 */
export function captureWrites(stream: NodeJS.WriteStream, above: (text: string) => void): { raw: (text: string) => void; release: () => void } {
  const original = stream.write as WriteFn;
  const raw = (text: string) => {
    original.call(stream, text);
  };
  const decoder = new TextDecoder();
  let pending = "";
  const replacement: WriteFn = (chunk, encodingOrCallback, callback) => {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    const cut = pending.lastIndexOf("\n") + 1;
    if (cut > 0) {
      const whole = pending.slice(0, cut);
      pending = pending.slice(cut);
      above(whole);
    }
    const done = typeof encodingOrCallback === "function" ? encodingOrCallback : callback;
    if (done) queueMicrotask(() => done(null));
    return true;
  };
  stream.write = replacement as typeof stream.write;
  return {
    raw,
    release: () => {
      if (stream.write === (replacement as typeof stream.write)) stream.write = original as typeof stream.write;
      if (pending) raw(pending);
      pending = "";
    },
  };
}
