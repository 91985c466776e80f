// One event stream for a listen (src/listen/events.ts): the recorder first, the other sinks after,
// in order; `ready` reaches them only once its record is written; the service manager hears typed
// events (src/listen/foreground.ts notifierSink).
import { describe, expect, test } from "bun:test";
import { ListenEventBus, type ListenEvent } from "../../../src/listen/events.ts";
import { notifierSink, type ServiceNotifier } from "../../../src/listen/foreground.ts";
import type { TunnelSummary } from "../../../src/tunnel/service.ts";

const TUNNEL = { id: "tunnel-abc", label: "web", endpoint: "http://127.0.0.1:3000", hostnames: ["h.example"] } as unknown as TunnelSummary;
const READY: ListenEvent = { type: "ready", tunnel: TUNNEL, urls: ["https://h.example"], endpointId: "e".repeat(64), elapsedMs: 10 };

describe("ListenEventBus", () => {
  test("sinks hear every event in order, after the recorder, and `ready` only once its record is done", async () => {
    const log: string[] = [];
    let release!: () => void;
    const written = new Promise<void>((resolve) => (release = resolve));
    const bus = new ListenEventBus(
      (e) => {
        log.push(`record ${e.type}`);
        return e.type === "ready" ? written.then(() => void log.push("written")) : undefined;
      },
      [{ on: (e) => log.push(`view ${e.type}`) }],
    );
    bus.on({ type: "setting_up" });
    bus.on(READY);
    bus.on({ type: "notice", line: "after" });
    await Bun.sleep(0);
    // Everything was recorded at once; the view waits behind the unwritten ready.
    expect(log).toEqual(["record setting_up", "record ready", "record notice", "view setting_up"]);
    release();
    await bus.drained();
    expect(log.slice(4)).toEqual(["written", "view ready", "view notice"]);
  });

  test("a sink that throws does not keep the others from hearing", async () => {
    const heard: string[] = [];
    const bus = new ListenEventBus(() => undefined, [
      {
        on: () => {
          throw new Error("closed terminal");
        },
      },
      { on: (e) => heard.push(e.type) },
    ]);
    bus.on({ type: "verifying" });
    bus.on({ type: "disabling" });
    await bus.drained();
    expect(heard).toEqual(["verifying", "disabling"]);
  });
});

describe("notifierSink", () => {
  test("READY=1 with the URLs, STATUS= following readiness, STOPPING=1 on the way out; nothing else", () => {
    const said: string[] = [];
    const notifier: ServiceNotifier = {
      ready: (urls) => said.push(`READY ${urls.join(" ")}`),
      status: (text) => said.push(`STATUS ${text}`),
      stopping: () => said.push("STOPPING"),
      startWatchdog: () => undefined,
      close: () => undefined,
    };
    const sink = notifierSink(notifier);
    const events: ListenEvent[] = [
      { type: "endpoint_id", endpointId: "e".repeat(64) },
      { type: "setting_up" },
      { type: "verifying" },
      READY,
      { type: "readiness_changed", id: "tunnel-abc", readiness: { ready: false, state: "degraded", reason: "the public URL fails" } as never },
      { type: "readiness_changed", id: "tunnel-abc", readiness: { ready: true, state: "ready", reason: "verified" } as never },
      { type: "notice", line: "x" },
      { type: "disabling" },
      { type: "disabled", id: "tunnel-abc" },
    ];
    for (const e of events) sink.on(e);
    expect(said).toEqual([
      "STATUS setting up the tunnel",
      "STATUS verifying the public URL",
      "READY https://h.example",
      "STATUS ready: https://h.example",
      "STATUS degraded: the public URL fails",
      "STATUS ready: https://h.example",
      "STOPPING",
      "STATUS disabling the tunnel",
    ]);
  });
});
