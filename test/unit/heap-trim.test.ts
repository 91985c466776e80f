/**
 * src/supervise/heap-trim.ts: when the data plane trims its heap, with a hand-driven clock; and
 * that a real trim runs in this thread.
 */
import { describe, expect, test } from "bun:test";
import { IdleTrimmer, trimAfterStart, trimHeap } from "../../src/supervise/heap-trim.ts";

/** Timers that fire only when the test advances time. */
function manualTimers() {
  let now = 0;
  let next = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  return {
    timers: {
      set: (fn: () => void, ms: number) => {
        const id = next++;
        pending.set(id, { at: now + ms, fn });
        return id;
      },
      clear: (handle: unknown) => void pending.delete(handle as number),
    },
    advance(ms: number) {
      now += ms;
      for (const [id, t] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now && pending.delete(id)) t.fn();
      }
    },
    pending: () => pending.size,
  };
}

describe("IdleTrimmer", () => {
  test("trims once all work ended and nothing began for idleMs", () => {
    const clock = manualTimers();
    let trims = 0;
    const t = new IdleTrimmer(1_000, () => trims++, clock.timers);
    t.begin();
    t.begin();
    t.end();
    clock.advance(5_000);
    expect(trims).toBe(0); // one still open
    t.end();
    clock.advance(999);
    expect(trims).toBe(0);
    clock.advance(1);
    expect(trims).toBe(1);
  });

  test("new work before the deadline postpones it; idleness without new work never trims twice", () => {
    const clock = manualTimers();
    let trims = 0;
    const t = new IdleTrimmer(1_000, () => trims++, clock.timers);
    t.begin();
    t.end();
    clock.advance(600);
    t.begin(); // a new stream: no trim while it is open
    clock.advance(2_000);
    expect(trims).toBe(0);
    t.end();
    clock.advance(1_000);
    expect(trims).toBe(1);
    clock.advance(60_000);
    expect(trims).toBe(1);
    expect(clock.pending()).toBe(0);
    t.begin();
    t.end();
    clock.advance(1_000);
    expect(trims).toBe(2);
  });

  test("stop cancels a pending trim; an unmatched end does not go negative", () => {
    const clock = manualTimers();
    let trims = 0;
    const t = new IdleTrimmer(1_000, () => trims++, clock.timers);
    t.end(); // nothing began: arms, but there was no work to trim after
    clock.advance(1_000);
    expect(trims).toBe(0);
    t.begin();
    t.end();
    t.stop();
    clock.advance(5_000);
    expect(trims).toBe(0);
    t.begin();
    expect(clock.pending()).toBe(0); // busy again: nothing armed
  });
});

describe("trimAfterStart and trimHeap", () => {
  test("trimAfterStart schedules exactly one trim", () => {
    const clock = manualTimers();
    let trims = 0;
    trimAfterStart(2_000, () => trims++, clock.timers);
    clock.advance(1_999);
    expect(trims).toBe(0);
    clock.advance(1);
    expect(trims).toBe(1);
    clock.advance(10_000);
    expect(trims).toBe(1);
  });

  test("a real trim runs in this thread and leaves live objects alone", () => {
    const live = Array.from({ length: 1_000 }, (_, i) => ({ i }));
    expect(() => trimHeap()).not.toThrow();
    expect(live[999]?.i).toBe(999);
  });
});
