/**
 * Background tunnels as issue 4's acceptance list runs them: `listen --detach`, `ps`, `logs
 * --follow`, `stop`, exit 75 past the wait window, `kill -9` then restart with the same endpoint
 * id, name conflicts, and `/readyz` + `/metrics` — the real CLI against `dev cloud`, real processes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUN, CLI, REPO_ROOT, runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { until as waitUntil } from "../helpers/wait.ts";

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;
const started: number[] = [];

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { env: { ...datum.env, ...env }, timeoutMs: 60_000 });
}

async function psJson(): Promise<{ name: string; status: string; pid: number | null; endpointId: string | null; url: string | null }[]> {
  const r = await cli(["tunnel", "ps", "-o", "json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<unknown> {
  return waitUntil(check, timeoutMs, `waiting for ${what}`, { everyMs: 200 });
}

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`bg ${new URL(req.url).pathname}`) });
});

afterAll(async () => {
  for (const name of ["bg-app", "bg-slow", "bg-kill", "bg-health"]) await cli(["tunnel", "stop", "--name", name]).catch(() => undefined);
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  origin?.stop(true);
  await datum?.stop();
});

describe("listen --detach", () => {
  // The whole daily loop: detach → URL → curl → ps → logs --follow sees the request → stop.
  test("detach, serve, ps, logs --follow, stop", async () => {
    // Debug level (CONSOLA_LEVEL=4) logs one line per served connection: what --follow shows.
    const up = await cli(["tunnel", "listen", "--detach", "--name", "bg-app", "--endpoint", `127.0.0.1:${origin.port}`], { CONSOLA_LEVEL: "4" });
    expect(up.code).toBe(0);
    const url = up.stdout.trim().split("\n")[0] as string;
    expect(url).toMatch(/^http:\/\/[a-z0-9-]+\.datumproxy\.localhost:\d+$/);

    const ps = (await psJson()).find((e) => e.name === "bg-app");
    expect(ps).toMatchObject({ status: "ready", url });
    expect(typeof ps?.pid).toBe("number");
    started.push(ps?.pid as number);

    // Follow the log, then make a request: its line must show up.
    const follower = Bun.spawn([BUN, CLI, "tunnel", "logs", "--name", "bg-app", "--follow", "--tail", "0"], {
      env: { ...process.env, ...datum.env, NO_COLOR: "1" },
      cwd: REPO_ROOT,
      stdout: "pipe",
      stderr: "ignore",
    });
    let followed = "";
    void (async () => {
      for await (const chunk of follower.stdout) followed += new TextDecoder().decode(chunk);
    })();
    await Bun.sleep(500);
    const res = await fetch(`${url}/through-the-daemon`, { keepalive: false });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("bg /through-the-daemon");
    await until("the request's log line", async () => /connection served|served/.test(followed), 10_000);
    follower.kill("SIGINT");
    expect(await follower.exited).toBe(0);

    const stop = await cli(["tunnel", "stop", "--name", "bg-app"]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain("Stopped tunnel bg-app");
    expect((await psJson()).find((e) => e.name === "bg-app")?.status).toBe("stopped");
    const list = JSON.parse((await cli(["tunnel", "list", "-o", "json"])).stdout) as { hostnames: string[]; enabled: boolean }[];
    const host = new URL(url).hostname;
    expect(list.find((t) => t.hostnames.includes(host))?.enabled).toBe(false);
  });

  // Ready means verified: a controller slower than --wait is exit 75, and the daemon carries on.
  test("controller delay longer than --wait → 75, later ready", async () => {
    await datum.admin("config", { body: { delays: { programmed: 4_000 } } });
    try {
      const r = await cli(["tunnel", "listen", "--detach", "--name", "bg-slow", "--endpoint", `127.0.0.1:${origin.port}`, "--wait", "1s"]);
      expect(r.code).toBe(75);
      expect(r.stderr).toContain("still provisioning");
      await until("bg-slow ready", async () => (await psJson()).find((e) => e.name === "bg-slow")?.status === "ready", 20_000);
      const status = await cli(["tunnel", "status", "--name", "bg-slow", "-o", "json"]);
      const doc = JSON.parse(status.stdout) as { run: { publicUrls: string[]; pid: number } };
      started.push(doc.run.pid);
      const res = await fetch(doc.run.publicUrls[0] as string, { keepalive: false });
      expect(res.status).toBe(200);
    } finally {
      await datum.admin("config", { body: { delays: { programmed: 0 } } });
      await cli(["tunnel", "stop", "--name", "bg-slow"]);
    }
  });

  // A daemon that vanished is `dead`; the same name restarts with the same identity and port.
  test("kill -9 → dead; restart reuses the endpoint id and port", async () => {
    const first = await cli(["tunnel", "listen", "--detach", "--name", "bg-kill", "--endpoint", `127.0.0.1:${origin.port}`]);
    expect(first.code).toBe(0);
    const before = JSON.parse((await cli(["tunnel", "status", "--name", "bg-kill", "-o", "json"])).stdout) as {
      run: { pid: number; endpointId: string; boundPort: number };
    };
    process.kill(before.run.pid, "SIGKILL");
    await until("dead", async () => (await psJson()).find((e) => e.name === "bg-kill")?.status === "dead");

    const again = await cli(["tunnel", "listen", "--detach", "--name", "bg-kill", "--wait", "60s"]);
    expect(again.code).toBe(0);
    const after = JSON.parse((await cli(["tunnel", "status", "--name", "bg-kill", "-o", "json"])).stdout) as {
      run: { pid: number; endpointId: string; boundPort: number };
    };
    started.push(after.run.pid);
    expect(after.run.pid).not.toBe(before.run.pid);
    expect(after.run.endpointId).toBe(before.run.endpointId);
    expect(after.run.boundPort).toBe(before.run.boundPort);
    expect((await cli(["tunnel", "stop", "--name", "bg-kill"])).code).toBe(0);
  }, 120_000);

  // One process per name; names follow the rule.
  test("a second detach with the same name → 64 naming the PID; bad names → 2", async () => {
    const up = await cli(["tunnel", "listen", "--detach", "--name", "bg-app", "--endpoint", `127.0.0.1:${origin.port}`]);
    expect(up.code).toBe(0);
    const pid = (await psJson()).find((e) => e.name === "bg-app")?.pid as number;
    started.push(pid);
    const second = await cli(["tunnel", "listen", "--detach", "--name", "bg-app", "--endpoint", `127.0.0.1:${origin.port}`]);
    expect(second.code).toBe(64);
    expect(second.stderr).toContain(String(pid));
    for (const bad of ["Bad", "-x", "a_b", "a".repeat(64)]) {
      const r = await cli(["tunnel", "listen", "--detach", "--name", bad, "--endpoint", `127.0.0.1:${origin.port}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("^[a-z0-9][a-z0-9-]{0,62}$");
    }
    expect((await cli(["tunnel", "stop", "--name", "bg-app"])).code).toBe(0);
  });
});

describe("--health", () => {
  // /readyz follows verified readiness, including the lease running out; /metrics moves with traffic.
  test("/readyz flips 503 → 200 → 503; /metrics counts requests", async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const health = `127.0.0.1:${port}`;
    const up = await cli(["tunnel", "listen", "--detach", "--name", "bg-health", "--endpoint", `127.0.0.1:${origin.port}`, "--health", health]);
    expect(up.code).toBe(0);
    const url = up.stdout.trim().split("\n")[0] as string;
    const pid = (await psJson()).find((e) => e.name === "bg-health")?.pid as number;
    started.push(pid);
    const ready = await fetch(`http://${health}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });

    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/m${i}`, { keepalive: false })).status).toBe(200);
    await until(
      "metrics to count the requests",
      async () => {
        const text = await (await fetch(`http://${health}/metrics`)).text();
        const m = /datum_connect_requests_total\{[^}]*outcome="completed"[^}]*\} (\d+)/.exec(text);
        return m !== null && Number(m[1]) >= 3;
      },
      15_000,
    );

    // The platform marks the Connector offline when the lease is not renewed: block renewals. The
    // existing Lease keeps its 30 s, so this takes up to 30 s plus one 10 s runtime poll.
    await datum.admin("faults", { body: { match: { resource: "leases", method: "PATCH" }, status: 503, forMs: 90_000 } });
    try {
      await until(
        "/readyz 503",
        async () => {
          const r = await fetch(`http://${health}/readyz`);
          return r.status === 503 && typeof ((await r.json()) as { reason?: string }).reason === "string";
        },
        60_000,
      );
    } finally {
      await datum.admin("faults", { method: "DELETE" });
    }
    expect((await cli(["tunnel", "stop", "--name", "bg-health"])).code).toBe(0);
  }, 120_000);
});

