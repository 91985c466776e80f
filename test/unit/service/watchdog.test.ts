import { describe, expect, test } from "bun:test";
import { checkDataPlane, needsAnswer, watchdogVerdict, type DataPlaneFacts, type WorkerFacts } from "../../../src/service/watchdog.ts";

const w = (state: WorkerFacts["state"], spawns: number, deaths = 0): WorkerFacts => ({ state, spawns, deaths });
const PING = { ping: true, reason: null };

describe("watchdogVerdict: fed whenever the process is healthy, from its first moment", () => {
  test.each<[string, DataPlaneFacts, { ping: boolean; reason: string | null }]>([
    ["setting up, no data plane yet (config, token, waiting for the platform)", { worker: null, answer: null }, PING],
    ["the data plane created, not started yet", { worker: w("dead", 0), answer: null }, PING],
    ["its first start under way", { worker: w("starting", 1), answer: null }, PING],
    ["up and answering (ready)", { worker: w("ready", 1), answer: "answered" }, PING],
    ["up and answering (running)", { worker: w("running", 2, 1), answer: "answered" }, PING],
    ["up, but no answer within the budget", { worker: w("running", 1), answer: "timeout" }, { ping: false, reason: "the data plane worker did not answer within 2 s" }],
    ["up, but the request failed", { worker: w("running", 1), answer: { error: "worker listen-node did not answer within 5000 ms" } }, { ping: false, reason: "the data plane worker failed to answer: worker listen-node did not answer within 5000 ms" }],
    ["died, respawn pending", { worker: w("dead", 1, 1), answer: null }, { ping: false, reason: "the data plane worker is dead (1 death so far)" }],
    ["respawning after deaths", { worker: w("starting", 3, 2), answer: null }, { ping: false, reason: "the data plane worker is restarting (2 deaths so far)" }],
    ["up but not asked (a caller bug): withheld, not assumed", { worker: w("running", 1), answer: null }, { ping: false, reason: "the data plane worker was not asked" }],
  ])("%s", (_what, facts, expected) => {
    expect(watchdogVerdict(facts)).toEqual(expected);
  });

  test.each<[string, WorkerFacts | null, boolean]>([
    ["no data plane", null, false],
    ["not started", w("dead", 0), false],
    ["first start", w("starting", 1), false],
    ["ready", w("ready", 1), true],
    ["running", w("running", 1), true],
    ["dead after a death", w("dead", 1, 1), false],
  ])("needsAnswer: %s", (_what, worker, expected) => {
    expect(needsAnswer(worker)).toBe(expected);
  });
});

describe("checkDataPlane", () => {
  test("before setup creates the data plane: ping, nothing asked", async () => {
    expect(await checkDataPlane(undefined)).toEqual(PING);
  });
  test("a worker that answers", async () => {
    let asked = 0;
    const dp = { status: () => w("running", 1), stats: async () => void asked++ };
    expect(await checkDataPlane(dp)).toEqual(PING);
    expect(asked).toBe(1);
  });
  test("a worker that never answers is given the budget, then withheld", async () => {
    const dp = { status: () => w("running", 1), stats: () => new Promise(() => undefined) };
    expect(await checkDataPlane(dp, 20)).toEqual({ ping: false, reason: "the data plane worker did not answer within 2 s" });
  });
  test("a worker that is not up is not asked", async () => {
    let asked = 0;
    const dp = { status: () => w("dead", 2, 2), stats: async () => void asked++ };
    expect((await checkDataPlane(dp)).ping).toBe(false);
    expect(asked).toBe(0);
  });
});
