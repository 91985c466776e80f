import { afterEach, describe, expect, test } from "bun:test";
import { log as rootLog } from "../../src/log.ts";
import type { LogFields, LogLevel } from "../../workers/messages.ts";
import {
  minimalWorkerEnv,
  WorkerDied,
  WorkerGaveUp,
  WorkerRequestFailed,
  WorkerSupervisor,
  WorkerUnavailable,
  workerUrl,
  type SupervisorOptions,
} from "../../src/supervise/worker.ts";
import type { SupervisorBudgets } from "../../src/supervise/budgets.ts";
import { FromFixture, type ToFixture } from "./fixtures/protocol.ts";
import { until as waitUntil } from "../helpers/wait.ts";

const fixture = (name: string): string => new URL(`./fixtures/${name}.ts`, import.meta.url).href;

/** Small budgets so every scenario runs in well under a second. */
const FAST: Partial<SupervisorBudgets> = {
  readyTimeoutMs: 2_000,
  requestTimeoutMs: 2_000,
  stopBudgetMs: 1_000,
  terminateWaitMs: 500,
  restartBaseMs: 10,
  restartCapMs: 40,
  healthyGraceMs: 60_000,
  bootstrapDeathLimit: 3,
};

const started: Array<WorkerSupervisor<ToFixture, FromFixture>> = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

function supervise(name: string, extra: Partial<SupervisorOptions<FromFixture>> & { budgets?: Partial<SupervisorBudgets> } = {}) {
  const logs: Array<{ level: LogLevel; msg: string; fields?: LogFields }> = [];
  const sup = new WorkerSupervisor<ToFixture, FromFixture>({
    name: `fixture-${name}`,
    url: fixture(name),
    schema: FromFixture,
    random: () => 0.5,
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    ...extra,
    budgets: { ...FAST, ...extra.budgets },
  });
  started.push(sup);
  return { sup, logs };
}

function until(check: () => boolean, timeoutMs = 3_000): Promise<unknown> {
  return waitUntil(check, timeoutMs, "condition", { everyMs: 5 });
}

describe("handshake, requests, stop", () => {
  test("a healthy worker goes starting → ready → running → dead, answering requests by id", async () => {
    const { sup } = supervise("healthy");
    const ready = sup.start();
    expect(sup.status().state).toBe("starting");
    await ready;
    expect(sup.status().state).toBe("ready");
    sup.markRunning();
    expect(sup.status().state).toBe("running");
    const replies = await Promise.all(["a", "b", "c"].map((text) => sup.request((id) => ({ type: "echo", id, text }), "echo")));
    expect(replies.map((r) => r.text)).toEqual(["a", "b", "c"]);
    await sup.stop();
    expect(sup.status()).toMatchObject({ state: "dead", spawns: 1, restarts: 0, gaveUp: false });
    expect(sup.status().lastDeath).toMatchObject({ reason: "stopped", exitCode: 0, beforeReady: false });
  });

  test("an error reply rejects just that request", async () => {
    const { sup } = supervise("healthy");
    await sup.start();
    const err = await sup.request((id) => ({ type: "echo", id, text: "fail" }), "echo").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerRequestFailed);
    expect((err as Error).message).toBe("asked to fail");
    expect((await sup.request((id) => ({ type: "echo", id, text: "ok" }), "echo")).text).toBe("ok");
  });

  test("an unanswered request times out", async () => {
    const { sup } = supervise("healthy");
    await sup.start();
    const err = await sup.request((id) => ({ type: "echo", id, text: "hang" }), "echo", 100).catch((e: unknown) => e);
    expect((err as Error).message).toContain("did not answer within 100 ms");
  });

  test("requests before ready are refused, not queued", async () => {
    const { sup } = supervise("healthy");
    expect(await sup.request((id) => ({ type: "echo", id, text: "x" }), "echo").catch((e: unknown) => e)).toBeInstanceOf(WorkerUnavailable);
    await sup.start();
  });

  test("the worker gets a minimal environment: no tokens, no DATUM_* but what its owner adds", async () => {
    process.env.DATUM_TEST_SECRET_TOKEN = "do-not-leak";
    try {
      const { sup } = supervise("healthy", { env: { FIXTURE_FLAG: "1" } });
      await sup.start();
      const keys = (await sup.request((id) => ({ type: "echo", id, text: "env" }), "echo")).text.split(",");
      expect(keys).toContain("FIXTURE_FLAG");
      // The generic supervisor adds no native-module path: only the data plane's owner does.
      expect(keys).not.toContain("DATUM_CONNECT_NATIVE_DIR");
      const allowed = ["DATUM_CONNECT_WORKER_DEBUG"]; // a flag: no secrets
      expect(keys.some((k) => (k.startsWith("DATUM_") && !allowed.includes(k)) || k === "HOME" || k === "PATH")).toBe(false);
      expect(keys.every((k) => Object.hasOwn(minimalWorkerEnv({ FIXTURE_FLAG: "1" }), k))).toBe(true);
    } finally {
      delete process.env.DATUM_TEST_SECRET_TOKEN;
    }
  });

  test("debug lines reach the main thread only when its logger shows them", async () => {
    const level = rootLog.level;
    try {
      rootLog.level = 3;
      expect(minimalWorkerEnv().DATUM_CONNECT_WORKER_DEBUG).toBeUndefined();
      const quiet = supervise("healthy");
      await quiet.sup.start();
      expect((await quiet.sup.request((id) => ({ type: "echo", id, text: "logs" }), "echo")).text).toBe("logged");
      await until(() => quiet.logs.some((l) => l.msg === "an info line"));
      expect(quiet.logs.filter((l) => l.msg.endsWith("line")).map((l) => l.level)).toEqual(["info"]);

      rootLog.level = 4;
      expect(minimalWorkerEnv().DATUM_CONNECT_WORKER_DEBUG).toBe("1");
      const verbose = supervise("healthy");
      await verbose.sup.start();
      await verbose.sup.request((id) => ({ type: "echo", id, text: "logs" }), "echo");
      await until(() => verbose.logs.some((l) => l.msg === "an info line"));
      expect(verbose.logs.filter((l) => l.msg.endsWith("line")).map((l) => l.level)).toEqual(["debug", "info"]);
    } finally {
      rootLog.level = level;
    }
  });

  test("a worker that ignores shutdown is terminated after the stop budget", async () => {
    const { sup, logs } = supervise("ignore-shutdown", { budgets: { stopBudgetMs: 150 } });
    await sup.start();
    const t0 = performance.now();
    await sup.stop();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(sup.status().lastDeath?.reason).toBe("terminated after the 150 ms stop budget");
    expect(logs.some((l) => l.msg.includes("did not stop within its budget"))).toBe(true);
  });
});

describe("invalid messages", () => {
  test("garbage is logged, counted and dropped; the worker keeps working", async () => {
    const { sup, logs } = supervise("garbage");
    await sup.start();
    expect((await sup.request((id) => ({ type: "echo", id, text: "still fine" }), "echo")).text).toBe("still fine");
    await until(() => sup.status().invalidMessages === 4);
    const drops = logs.filter((l) => l.msg === "invalid message from worker dropped");
    expect(drops.map((d) => d.fields?.type)).toEqual(["(none)", "nonsense", "echo", "ready"]);
    expect(sup.status().state).toBe("ready");
  });
});

describe("deaths and restarts", () => {
  test("pending requests are rejected when the worker dies, and it is respawned", async () => {
    let respawns = 0;
    const { sup } = supervise("healthy", { onRespawn: () => void respawns++ });
    await sup.start();
    const pending = sup.request((id) => ({ type: "echo", id, text: "hang" }), "echo");
    sup.post({ type: "crash", mode: "exit" });
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerDied);
    expect((err as WorkerDied).reason).toBe("exited with code 3");
    await until(() => sup.status().state === "ready");
    expect(respawns).toBe(1);
    expect(sup.status()).toMatchObject({ spawns: 2, restarts: 1, deaths: 1, gaveUp: false });
    expect(sup.status().lastDeath).toMatchObject({ exitCode: 3, beforeReady: false });
  });

  // Under `bun run` the worker's own handlers post `fatal` ("uncaught exception: …") and exit 70;
  // under `bun test` Bun routes a worker's uncaught error to the parent's `error` event instead
  // (exit code 0). The supervisor records the reason either way; the test asserts what both share.
  test.each([
    ["throw", "thrown later"],
    ["reject", "rejected later"],
  ] as const)("an uncaught %s in the worker is a recorded death and a restart", async (mode, reason) => {
    const { sup } = supervise("healthy");
    await sup.start();
    sup.post({ type: "crash", mode });
    await until(() => sup.status().deaths === 1);
    expect(sup.status().lastDeath?.reason).toContain(reason);
    expect(sup.status().lastDeath?.beforeReady).toBe(false);
    await until(() => sup.status().state === "ready");
  });

  test("a worker that keeps dying after ready keeps being restarted", async () => {
    const { sup } = supervise("exit-later", { env: { EXIT_AFTER_MS: "30" } });
    await sup.start();
    await until(() => sup.status().restarts >= 3);
    expect(sup.status().gaveUp).toBe(false);
    expect(sup.status().lastDeath?.exitCode).toBe(3);
  });
});

describe("bootstrap guard", () => {
  test("crashing on start N times stops respawning and rejects start()", async () => {
    let gaveUp = 0;
    const { sup } = supervise("crash-on-start", { onGiveUp: () => void gaveUp++ });
    const err = await sup.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerGaveUp);
    expect((err as Error).message).toContain("boom at startup");
    expect(sup.status()).toMatchObject({ spawns: 3, gaveUp: true, state: "dead" });
    expect(sup.status().lastDeath?.beforeReady).toBe(true);
    expect(gaveUp).toBe(1);
    await Bun.sleep(60);
    expect(sup.status().spawns).toBe(3);
  });

  test("never becoming ready counts as a bootstrap death", async () => {
    const { sup } = supervise("never-ready", { budgets: { readyTimeoutMs: 100, bootstrapDeathLimit: 2 } });
    const err = await sup.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerGaveUp);
    expect(sup.status().lastDeath?.reason).toBe("no ready message within 100 ms");
    expect(sup.status().spawns).toBe(2);
  });

  test("a protocol mismatch gives up at once", async () => {
    const { sup } = supervise("wrong-protocol");
    const err = await sup.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerGaveUp);
    expect((err as Error).message).toContain("protocol mismatch: worker speaks 99, expected 1");
    expect(sup.status().spawns).toBe(1);
  });

  test("a missing worker file is a bootstrap failure, not a crash", async () => {
    const { sup } = supervise("does-not-exist", { budgets: { bootstrapDeathLimit: 2 } });
    expect(await sup.start().catch((e: unknown) => e)).toBeInstanceOf(WorkerGaveUp);
    expect(sup.status().gaveUp).toBe(true);
  });
});

test("workerUrl resolves workers/<name>.ts from the source tree", () => {
  expect(workerUrl("listen-node")).toBe(new URL("../../workers/listen-node.ts", import.meta.url).href);
});
