/**
 * The live block redrawn in place, checked on an emulated terminal's final screen (wrapping at
 * the width, reflow on a resize): each redraw replaces the block, lines written meanwhile (by the
 * block's owner or by anyone else writing to the stream) end up above it, exactly once.
 */
import { describe, expect, test } from "bun:test";
import { captureWrites, eraseSequence, fitHeight, LiveRegion, rowsOf } from "../../../src/listen/live-region.ts";
import { VtScreen } from "../../helpers/vt-screen.ts";

/** A terminal stream in front of a `VtScreen`: what `captureWrites` hooks. */
function ttyStream(vt: VtScreen) {
  return {
    isTTY: true,
    write(chunk: string | Uint8Array, cb?: unknown) {
      vt.write(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
      if (typeof cb === "function") (cb as () => void)();
      return true;
    },
    getWindowSize: (): [number, number] => [vt.columns, vt.height],
  };
}

function regionOn(vt: VtScreen) {
  const stream = ttyStream(vt) as unknown as NodeJS.WriteStream;
  let region: LiveRegion | undefined;
  const capture = captureWrites(stream, (text) => region?.above(text));
  region = new LiveRegion({ write: capture.raw, size: () => ({ columns: vt.columns, rows: vt.height }) });
  return { stream, region, release: capture.release };
}

const count = (lines: string[], text: string) => lines.filter((l) => l === text).length;

describe("rowsOf / eraseSequence / fitHeight", () => {
  test.each([
    ["", 80, 1],
    ["abc", 80, 1],
    ["x".repeat(80), 80, 1],
    ["x".repeat(81), 80, 2],
    ["x".repeat(100), 40, 3],
    ["  ✓ tunnel accepted (1.5s)", 10, 3],
    ["wide 世界", 8, 2],
    ["anything", undefined, 1],
  ] as [string, number | undefined, number][])("%j at %p columns: %p rows", (line, columns, rows) => {
    expect(rowsOf(line, columns)).toBe(rows);
  });

  test("erasing counts the rows each line takes at the current width", () => {
    expect(eraseSequence([], 80)).toBe("");
    const up = (rows: number) => `\r\x1b[2K${"\x1b[1A\x1b[2K".repeat(rows)}`;
    expect(eraseSequence(["a", "b".repeat(90)], 80)).toBe(up(3));
    expect(eraseSequence(["a", "b".repeat(90)], 40)).toBe(up(4));
  });

  test("a block taller than the screen keeps its last lines", () => {
    expect(fitHeight(["1", "2", "3", "4"], { columns: 80, rows: 3 })).toEqual(["3", "4"]);
    expect(fitHeight(["1", "2", "x".repeat(100)], { columns: 80, rows: 4 })).toEqual(["2", "x".repeat(100)]);
    expect(fitHeight(["1", "2"], undefined)).toEqual(["1", "2"]);
  });
});

describe("LiveRegion on a terminal", () => {
  const block = (n: number, width = 30) => ["  ✓ tunnel accepted (1.5s)", "  ✓ TLS certificate issued (3.0s)", `  ⠋ ${"waiting ".repeat(Math.ceil(width / 8)).slice(0, width)} (${n}s)`];

  test.each([80, 40, 20])("redraws and lines above at %p columns leave one copy of everything", (columns) => {
    const vt = new VtScreen(columns);
    vt.write("Created tunnel:\n");
    const { region, stream, release } = regionOn(vt);
    for (let i = 0; i < 5; i++) region.show(block(i, 50));
    region.above("warning: origin http://127.0.0.1:1 refused the connection: nothing is listening there (is the service running?) — continuing\n");
    for (let i = 5; i < 10; i++) region.show(block(i, 50));
    // A logger writing to the stream itself, in two pieces.
    stream.write("[info] [worker] origin unreachable ");
    stream.write('{"error":"connect ECONNREFUSED 127.0.0.1:1"}\n');
    for (let i = 10; i < 15; i++) region.show(block(i, 50));
    region.show(block(15, 50).slice(0, 2));
    region.release();
    release();
    vt.write("Tunnel disabled.\n");
    const lines = vt.lines();
    expect(lines).toEqual([
      "Created tunnel:",
      "warning: origin http://127.0.0.1:1 refused the connection: nothing is listening there (is the service running?) — continuing",
      '[info] [worker] origin unreachable {"error":"connect ECONNREFUSED 127.0.0.1:1"}',
      "  ✓ tunnel accepted (1.5s)",
      "  ✓ TLS certificate issued (3.0s)",
      "Tunnel disabled.",
    ]);
  });

  test("a resize reflows the block; the next redraw erases it at the new width", () => {
    for (const [from, to] of [[100, 30], [30, 100], [80, 45]] as const) {
      const vt = new VtScreen(from);
      vt.write("above\n");
      const { region, release } = regionOn(vt);
      region.show(block(1, 60));
      region.show(block(2, 60));
      vt.resize(to);
      region.show(block(3, 60));
      region.above("after the resize\n");
      region.show(block(4, 60));
      region.release();
      release();
      const lines = vt.lines();
      expect({ from, to, lines }).toEqual({ from, to, lines: ["above", "after the resize", ...block(4, 60)] });
    }
  });

  test("a partial line written by someone else waits for its newline, or for the release", () => {
    const vt = new VtScreen(80);
    const { region, stream, release } = regionOn(vt);
    region.show(["  ⠋ setting up (0.1s)"]);
    stream.write("half ");
    region.show(["  ⠙ setting up (0.2s)"]);
    stream.write(new TextEncoder().encode("a line\nand a rest"));
    region.show(["  ⠹ setting up (0.3s)"]);
    region.clear();
    release();
    expect(vt.lines()).toEqual(["half a line", "and a rest"]);
    // Released: the stream writes directly again.
    stream.write("\ndirect\n");
    expect(vt.lines().at(-1)).toBe("direct");
  });

  test("the old way (one row per line, writes from others not routed) leaves copies: what this replaces", () => {
    const vt = new VtScreen(40);
    let drawn = 0;
    const draw = (lines: string[]) => {
      vt.write(`${drawn ? `\x1b[${drawn}A\x1b[0J` : ""}${lines.map((l) => `${l}\n`).join("")}`);
      drawn = lines.length;
    };
    draw(block(1, 50));
    vt.write("[info] a logger line\n");
    draw(block(2, 50));
    draw(block(3, 50));
    expect(count(vt.lines(), "  ✓ tunnel accepted (1.5s)")).toBeGreaterThan(1);
  });
});
