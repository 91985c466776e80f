// Setup polling (docs/architecture.md#setup-polling, docs/wire-facts.md#setup-progress) with a scripted
// poll and a fake clock: nothing sleeps.
import { describe, expect, test } from "bun:test";
import { CliError, Exit, type ExitCode, Malformed, NotAuthenticated, Rejected, StillProvisioning, Unreachable, UsageError } from "../../../src/errors.ts";
import {
  awaitSetup,
  isPermanent,
  MAX_CONSECUTIVE_POLL_FAILURES,
  SETUP_POLL_MS,
  SetupAborted,
  TerminalFailure,
} from "../../../src/listen/await-setup.ts";
import { formatTerminalFailure, type TunnelProgress } from "../../../src/tunnel/progress.ts";
import { progressOf } from "./progress-fixtures.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

/** Setup polls run on epoch-like times. */
const EPOCH_MS = 1_000_000;

type Step = TunnelProgress | undefined | Error;

/** A poll that plays `script` in order, then repeats its last entry. */
function scripted(script: readonly Step[]) {
  let calls = 0;
  const poll = async (): Promise<TunnelProgress | undefined> => {
    const step = script[Math.min(calls, script.length - 1)];
    calls++;
    if (step instanceof Error) throw step;
    return step;
  };
  return { poll, calls: () => calls };
}

function run(script: readonly Step[], opts: { clock?: FakeClock; controller?: AbortController; intervalMs?: number } = {}) {
  const clock = opts.clock ?? new FakeClock(EPOCH_MS);
  const controller = opts.controller ?? new AbortController();
  const { poll, calls } = scripted(script);
  const seen: TunnelProgress[] = [];
  const failures: [string, number][] = [];
  const promise = awaitSetup({
    id: "tunnel-x",
    poll,
    clock,
    signal: controller.signal,
    ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}),
    onProgress: (p) => seen.push(p),
    onPollFailed: (message, n) => failures.push([message, n]),
  });
  return { promise, clock, controller, calls, seen, failures };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected awaitSetup to fail");
}

const READY = progressOf();
const PENDING = progressOf({ overrides: { Programmed: { status: "False", reason: "Pending", message: "Envoy not programmed yet" } } });
const NO_HOSTNAME = progressOf({ hostnames: [] });
const transient = (n: number) => new Unreachable(`control plane unreachable (attempt ${n})`);

describe("awaitSetup: done", () => {
  test("returns at once when every step is ready and a hostname exists", async () => {
    const r = run([READY]);
    expect(await r.promise).toBe(READY);
    expect(r.calls()).toBe(1);
    expect(r.clock.sleeps).toEqual([]);
    expect(r.seen).toEqual([READY]);
  });

  test("an absent ConnectorMetadataProgrammed counts as ready", async () => {
    const withoutMetadata = progressOf({ overrides: { ConnectorMetadataProgrammed: null } });
    const r = run([withoutMetadata]);
    expect(await r.promise).toBe(withoutMetadata);
  });

  test.each([
    ["no hostname yet", [NO_HOSTNAME, NO_HOSTNAME, READY], 2],
    ["a step still pending", [PENDING, PENDING, PENDING, READY], 3],
    ["connector not there yet", [progressOf({ connectorName: null }), READY], 1],
    ["certificates Unknown", [progressOf({ overrides: { CertificatesReady: { status: "Unknown" } } }), READY], 1],
  ] as const)("keeps waiting while %s, every 750 ms", async (_name, script, sleeps) => {
    const r = run(script);
    expect(await r.promise).toBe(READY);
    expect(r.clock.sleeps).toEqual(Array.from({ length: sleeps }, () => SETUP_POLL_MS));
    expect(r.seen).toHaveLength(sleeps + 1);
  });

  test("a stale observedGeneration keeps waiting though every condition is True", async () => {
    const stale = progressOf({ proxyGeneration: 3, observedProxyGeneration: 2 });
    expect(stale.steps.filter((s) => s.status === "pending").map((s) => s.step)).toEqual([
      "proxy_accepted",
      "certificates_ready",
      "proxy_programmed",
      "connector_metadata_programmed",
    ]);
    const fresh = progressOf({ proxyGeneration: 3, observedProxyGeneration: 3 });
    const r = run([stale, stale, stale, fresh]);
    expect(await r.promise).toBe(fresh);
    expect(r.clock.sleeps).toEqual([750, 750, 750]);
  });

  test("the interval is configurable", async () => {
    const r = run([PENDING, READY], { intervalMs: 250 });
    await r.promise;
    expect(r.clock.sleeps).toEqual([250]);
  });
});

describe("awaitSetup: transient poll failures", () => {
  test.each([1, 5, 9])("rides over %p consecutive failures", async (n) => {
    const script: Step[] = [PENDING, ...Array.from({ length: n }, (_, i) => transient(i + 1)), READY];
    const r = run(script);
    expect(await r.promise).toBe(READY);
    expect(r.failures.map(([, count]) => count)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(r.failures[0]?.[0]).toBe("control plane unreachable (attempt 1)");
    expect(r.clock.sleeps).toEqual(Array.from({ length: n + 1 }, () => 750));
    // A failed poll shows nothing: only real answers reach onProgress.
    expect(r.seen).toEqual([PENDING, READY]);
  });

  test("fails with exit 69 at the 10th consecutive failure, without sleeping after it", async () => {
    const r = run([PENDING, ...Array.from({ length: 12 }, (_, i) => transient(i + 1))]);
    const err = await rejection(r.promise);
    expect(err).toBeInstanceOf(Unreachable);
    expect((err as CliError).exit).toBe(Exit.unreachable);
    expect((err as Error).message).toBe(
      "polling tunnel tunnel-x progress failed 10 times in a row: control plane unreachable (attempt 10)",
    );
    expect(r.calls()).toBe(1 + MAX_CONSECUTIVE_POLL_FAILURES);
    expect(r.clock.sleeps).toHaveLength(MAX_CONSECUTIVE_POLL_FAILURES);
  });

  test("a successful poll resets the count: 9 + 9 failures with an answer between them succeed", async () => {
    const nine = Array.from({ length: 9 }, (_, i) => transient(i + 1));
    const r = run([...nine, PENDING, ...nine, READY]);
    expect(await r.promise).toBe(READY);
    expect(r.failures.map(([, n]) => n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("a plain Error (not classified) is treated as transient too", async () => {
    const r = run([new TypeError("fetch failed"), READY]);
    expect(await r.promise).toBe(READY);
    expect(r.failures).toEqual([["fetch failed", 1]]);
  });
});

describe("awaitSetup: permanent failures fail at once", () => {
  test.each<[string, CliError, ExitCode]>([
    ["NotAuthenticated", new NotAuthenticated("token rejected"), Exit.noAuth],
    ["Rejected (403 forbidden)", new Rejected("forbidden", undefined, "forbidden"), Exit.rejected],
    ["Malformed", new Malformed("bad status"), Exit.malformed],
  ])("%s", async (_name, error, exit) => {
    const r = run([PENDING, error, READY]);
    const err = await rejection(r.promise);
    expect(err).toBe(error);
    expect((err as CliError).exit).toBe(exit);
    expect(r.calls()).toBe(2);
    expect(r.clock.sleeps).toEqual([750]);
    expect(r.failures).toEqual([]);
  });

  test("the tunnel disappeared (poll answers undefined): Rejected, exit 64", async () => {
    const r = run([PENDING, undefined]);
    const err = await rejection(r.promise);
    expect(err).toBeInstanceOf(Rejected);
    expect((err as CliError).exit).toBe(Exit.rejected);
    expect((err as CliError).code).toBe("not_found");
    expect((err as Error).message).toBe("Tunnel tunnel-x disappeared during setup");
  });

  test("DeferredToOwner: TerminalFailure carrying upstream's text (docs/wire-facts.md#terminal-failures)", async () => {
    const deferred = progressOf({
      overrides: { IrohDNSPublished: { status: "False", reason: "DeferredToOwner", message: "owned by Connector other/datum-connect-zzz" } },
    });
    const r = run([PENDING, deferred, READY]);
    const err = await rejection(r.promise);
    expect(err).toBeInstanceOf(TerminalFailure);
    expect(err).toBeInstanceOf(Rejected);
    const failure = err as TerminalFailure;
    expect(failure.exit).toBe(Exit.rejected);
    expect(failure.code).toBe("conflict");
    const step = deferred.steps.find((s) => s.step === "iroh_dns_published");
    if (!step) throw new Error("missing step");
    expect(failure.text).toBe(formatTerminalFailure(step));
    expect(failure.text).toBe(
      [
        "Tunnel setup failed at step: iroh DNS published (Connector)",
        "  resource: Connector/datum-connect-abc",
        "  reason: DeferredToOwner",
        "  message: owned by Connector other/datum-connect-zzz",
        "",
        "Another connector with the same iroh key owns the DNS record for this tunnel. Most likely this means you are running two connectors against the same listen_key store. Stop the other connector or use a different repo directory.",
        "",
      ].join("\n"),
    );
    expect(failure.message).toBe("Tunnel setup failed at step: iroh DNS published (Connector)");
    expect(failure.hint).toStartWith("resource: Connector/datum-connect-abc\n");
    // The progress that showed the failure was still reported.
    expect(r.seen.at(-1)).toBe(deferred);
  });

  test("another reason on the same step is not terminal", async () => {
    const pendingDns = progressOf({ overrides: { IrohDNSPublished: { status: "False", reason: "Pending" } } });
    const r = run([pendingDns, READY]);
    expect(await r.promise).toBe(READY);
  });
});

describe("awaitSetup: abort", () => {
  test("already aborted: SetupAborted without polling", async () => {
    const controller = new AbortController();
    controller.abort();
    const r = run([READY], { controller });
    expect(await rejection(r.promise)).toBeInstanceOf(SetupAborted);
    expect(r.calls()).toBe(0);
  });

  test("aborted during the wait between polls", async () => {
    const controller = new AbortController();
    const clock = new FakeClock(0, (n) => {
      if (n === 2) controller.abort();
    });
    const r = run([PENDING], { controller, clock });
    expect(await rejection(r.promise)).toBeInstanceOf(SetupAborted);
    expect(r.calls()).toBe(2);
  });

  test("aborted while a poll is in flight", async () => {
    const controller = new AbortController();
    const clock = new FakeClock(EPOCH_MS);
    const promise = awaitSetup({
      id: "tunnel-x",
      clock,
      signal: controller.signal,
      poll: async () => {
        controller.abort();
        return PENDING;
      },
      onProgress: () => undefined,
    });
    expect(await rejection(promise)).toBeInstanceOf(SetupAborted);
    expect(clock.sleeps).toEqual([]);
  });

  test("aborted while riding over failures", async () => {
    const controller = new AbortController();
    const clock = new FakeClock(0, (n) => {
      if (n === 3) controller.abort();
    });
    const r = run([transient(1)], { controller, clock });
    expect(await rejection(r.promise)).toBeInstanceOf(SetupAborted);
    expect(r.failures).toHaveLength(3);
  });
});

describe("isPermanent", () => {
  test.each<[string, unknown, boolean]>([
    ["Unreachable", new Unreachable("down"), false],
    ["Unreachable with another code", new Unreachable("no data plane", undefined, undefined, "unsupported_platform"), false],
    ["NotAuthenticated", new NotAuthenticated("no"), true],
    ["Rejected", new Rejected("no"), true],
    ["Malformed", new Malformed("no"), true],
    ["StillProvisioning", new StillProvisioning("later"), true],
    ["UsageError", new UsageError("bad"), true],
    ["plain Error", new Error("boom"), false],
    ["string", "boom", false],
    ["undefined", undefined, false],
  ])("%s", (_name, err, expected) => {
    expect(isPermanent(err)).toBe(expected);
  });
});
