import { expect, test } from "bun:test";
import { Counters, countersFor, MAX_TARGETS, OVERFLOW_KEY } from "../../../src/dataplane/counters.ts";

test("per-target counters and derived active", () => {
  const c = new Counters();
  c.accepted("127.0.0.1:3000");
  c.accepted("127.0.0.1:3000");
  c.accepted("127.0.0.1:3000");
  c.completed("127.0.0.1:3000");
  c.failed("127.0.0.1:3000");
  c.toOrigin("127.0.0.1:3000", 100);
  c.fromOrigin("127.0.0.1:3000", 250);
  c.denied("127.0.0.1:22");
  c.connectionAccepted();
  c.connectionAccepted();
  c.connectionCompleted();
  expect(c.snapshot()).toEqual({
    counters: {
      "127.0.0.1:3000": { accepted: 3, denied: 0, completed: 1, failed: 1, bytesToOrigin: 100, bytesFromOrigin: 250, active: 1 },
      "127.0.0.1:22": { accepted: 0, denied: 1, completed: 0, failed: 0, bytesToOrigin: 0, bytesFromOrigin: 0, active: 0 },
    },
    connectionsAccepted: 2,
    connectionsCompleted: 1,
  });
});

test("distinct authorities are capped; the rest share the overflow bucket", () => {
  const c = new Counters();
  for (let i = 0; i < MAX_TARGETS + 50; i++) c.denied(`h${i}:1`);
  const snap = c.snapshot();
  expect(Object.keys(snap.counters)).toHaveLength(MAX_TARGETS);
  expect(snap.counters[OVERFLOW_KEY]?.denied).toBe(51);
  // a key that already exists keeps counting under its own name
  c.denied("h0:1");
  expect(c.snapshot().counters["h0:1"]?.denied).toBe(2);
});

test("lookups sum the loopback spellings of an origin", () => {
  const c = new Counters();
  c.accepted("localhost:3000");
  c.accepted("127.0.0.1:3000");
  c.completed("127.0.0.1:3000");
  c.accepted("example.test:3000");
  const snap = c.snapshot();
  expect(countersFor(snap, "127.0.0.1", 3000)?.accepted).toBe(2);
  expect(countersFor(snap, "localhost", 3000)?.active).toBe(1);
  expect(countersFor(snap, "example.test", 3000)?.accepted).toBe(1);
  expect(countersFor(snap, "127.0.0.1", 4000)).toBeUndefined();
});
