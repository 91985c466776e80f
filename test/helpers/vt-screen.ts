/**
 * A minimal terminal for unit tests of what is drawn in place: printable text wraps at the width
 * (xterm's deferred wrap), CR, LF (with the tty's usual CR-before-LF), CSI A/B/F/G (cursor
 * moves), CSI K and CSI J (erase), and a resize that reflows wrapped lines, as most terminals and
 * tmux do. Every code point is one column wide. The rows are never dropped, so `text()` is
 * scrollback and screen together; `height` only limits how far up the cursor can move.
 */
interface Row {
  chars: string[];
  /** This row continues on the next (it was filled and wrapped). */
  wrapped: boolean;
}

export class VtScreen {
  #rows: Row[] = [{ chars: [], wrapped: false }];
  #y = 0;
  #x = 0;
  /** The cursor is past the last column: the next printable character wraps first. */
  #pendingWrap = false;

  constructor(
    public columns: number,
    public readonly height = 50,
  ) {}

  /** The first row on the screen (rows above it scrolled off into the scrollback). */
  get #top(): number {
    return Math.max(0, this.#rows.length - this.height);
  }

  #row(y: number): Row {
    while (this.#rows.length <= y) this.#rows.push({ chars: [], wrapped: false });
    return this.#rows[y] as Row;
  }

  #lineFeed(): void {
    this.#y++;
    this.#row(this.#y);
  }

  #put(ch: string): void {
    if (this.#pendingWrap) {
      this.#row(this.#y).wrapped = true;
      this.#lineFeed();
      this.#x = 0;
      this.#pendingWrap = false;
    }
    const row = this.#row(this.#y);
    while (row.chars.length < this.#x) row.chars.push(" ");
    row.chars[this.#x] = ch;
    if (this.#x === this.columns - 1) this.#pendingWrap = true;
    else this.#x++;
  }

  write(data: string): void {
    const chars = [...data];
    for (let i = 0; i < chars.length; i++) {
      const ch = chars[i] as string;
      if (ch === "\r") {
        this.#x = 0;
        this.#pendingWrap = false;
      } else if (ch === "\n") {
        // A tty's output processing (onlcr) sends CR LF for LF.
        this.#x = 0;
        this.#pendingWrap = false;
        this.#lineFeed();
      } else if (ch === "\x1b" && chars[i + 1] === "[") {
        let j = i + 2;
        let params = "";
        while (j < chars.length && /[0-9;?]/.test(chars[j] as string)) params += chars[j++];
        const final = chars[j];
        if (final === undefined) throw new Error(`unterminated escape sequence in ${JSON.stringify(data)}`);
        this.#csi(params, final);
        i = j;
      } else if (ch === "\x1b") {
        throw new Error(`unsupported escape sequence in ${JSON.stringify(data)}`);
      } else this.#put(ch);
    }
  }

  #csi(params: string, final: string): void {
    const n = Number.parseInt(params || "0", 10);
    const count = Math.max(1, n);
    this.#pendingWrap = false;
    switch (final) {
      case "A":
        this.#y = Math.max(this.#top, this.#y - count);
        return;
      case "F":
        this.#y = Math.max(this.#top, this.#y - count);
        this.#x = 0;
        return;
      case "B":
        this.#y = Math.min(this.#top + this.height - 1, this.#y + count);
        this.#row(this.#y);
        return;
      case "G":
        this.#x = Math.min(this.columns - 1, count - 1);
        return;
      case "K": {
        const row = this.#row(this.#y);
        if (n === 0) row.chars.length = Math.min(row.chars.length, this.#x);
        else if (n === 1) for (let x = 0; x <= this.#x && x < row.chars.length; x++) row.chars[x] = " ";
        else row.chars.length = 0;
        row.wrapped = false;
        return;
      }
      case "J": {
        if (n !== 0) throw new Error(`CSI ${params}J is not supported`);
        const row = this.#row(this.#y);
        row.chars.length = Math.min(row.chars.length, this.#x);
        row.wrapped = false;
        this.#rows.length = this.#y + 1;
        return;
      }
      default:
        throw new Error(`unsupported CSI ${params}${final}`);
    }
  }

  /** Change the width, reflowing wrapped lines (the cursor keeps its place in its line). */
  resize(columns: number): void {
    const lines: { chars: string[]; cursor?: number }[] = [];
    let current: { chars: string[]; cursor?: number } = { chars: [] };
    this.#rows.forEach((row, y) => {
      if (y === this.#y) current.cursor = current.chars.length + this.#x;
      current.chars.push(...row.chars);
      if (!row.wrapped) {
        lines.push(current);
        current = { chars: [] };
      } else if (row.chars.length < this.columns) current.chars.push(...Array<string>(this.columns - row.chars.length).fill(" "));
    });
    if (current.chars.length > 0 || current.cursor !== undefined) lines.push(current);
    const rows: Row[] = [];
    let y = 0;
    let x = 0;
    for (const line of lines) {
      const start = rows.length;
      for (let at = 0; at === 0 || at < line.chars.length; at += columns) {
        rows.push({ chars: line.chars.slice(at, at + columns), wrapped: at + columns < line.chars.length });
      }
      if (line.cursor !== undefined) {
        y = start + Math.floor(line.cursor / columns);
        x = line.cursor % columns;
      }
    }
    this.columns = columns;
    this.#rows = rows;
    this.#y = y;
    this.#x = x;
    this.#row(y);
    this.#pendingWrap = false;
  }

  /** Every row, wrapped rows joined into their line, trailing spaces and trailing empty lines dropped. */
  lines(): string[] {
    const out: string[] = [];
    let current = "";
    for (const row of this.#rows) {
      current += row.chars.join("");
      if (!row.wrapped) {
        out.push(current.replace(/\s+$/, ""));
        current = "";
      }
    }
    if (current) out.push(current.replace(/\s+$/, ""));
    while (out.length > 0 && out.at(-1) === "") out.pop();
    return out;
  }

  text(): string {
    return this.lines().join("\n");
  }
}
