/**
 * `tunnel doctor` against the local Datum: every line passes on a healthy setup, and each injected
 * failure — helper missing, token refused, API down, relay unreachable, origin down, corrupt
 * state — is named as the first broken hop, with its class's exit code (README.md#exit-codes). The JSON
 * report is stable and carries no token.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

interface ReportHop {
  id: string;
  section: string;
  title: string;
  target: string | null;
  status: "pass" | "fail" | "warn" | "skip";
  ms: number | null;
  seen: string;
  remedy: string | null;
  class: string | null;
}
interface Report {
  schema: number;
  ok: boolean;
  exitCode: number;
  firstFailure: string | null;
  tunnel: string | null;
  hops: ReportHop[];
}

let datum: LocalDatum;
let origin: ReturnType<typeof Bun.serve>;
let origin2: ReturnType<typeof Bun.serve> | undefined;

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("doctor origin") });
  const up = await runCli(["tunnel", "listen", "--detach", "--name", "doc", "--endpoint", `127.0.0.1:${origin.port}`], { env: datum.env, timeoutMs: 60_000 });
  if (up.code !== 0) throw new Error(`listen --detach failed: ${up.stderr}`);
}, 90_000);

afterAll(async () => {
  for (const name of ["doc", "doc-origin"]) await runCli(["tunnel", "stop", "--name", name], { env: datum.env }).catch(() => undefined);
  origin.stop(true);
  origin2?.stop(true);
  await datum.stop();
});

async function doctor(args: string[], env: Record<string, string | undefined> = {}): Promise<{ r: CliResult; report: Report }> {
  const r = await runCli(["tunnel", "doctor", "-o", "json", ...args], { env: { ...datum.env, ...env }, timeoutMs: 60_000 });
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { r, report };
}

/** The token the local Datum's datumctl hands out now (the same one doctor gets). */
function mintToken(): string {
  const minted = Bun.spawnSync([datum.env.DATUM_CREDENTIALS_HELPER as string, "auth", "get-token", "--session", datum.env.DATUM_SESSION as string], { env: { ...process.env, ...datum.env } });
  return minted.stdout.toString().trim();
}

const firstFail = (report: Report): ReportHop | undefined => report.hops.find((h) => h.status === "fail");

function closedPort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port as number;
  server.stop(true);
  return port;
}

describe("against the local Datum", () => {
  test("every line passes, in order, and the report is a stable JSON document without the token", async () => {
    const { r, report } = await doctor(["--name", "doc"]);
    expect(r.code, r.stdout).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.firstFailure).toBeNull();
    expect(report.schema).toBe(1);
    expect(report.tunnel).toBe("doc");
    expect(Object.keys(report)).toEqual(["schema", "tool", "version", "platform", "generatedAt", "tunnel", "ok", "exitCode", "firstFailure", "hops"]);
    for (const h of report.hops) expect(Object.keys(h)).toEqual(["id", "section", "title", "target", "status", "ms", "seen", "remedy", "class"]);
    expect(report.hops.filter((h) => h.status !== "pass").map((h) => `${h.id}: ${h.status} ${h.seen}`)).toEqual([]);
    expect(report.hops.map((h) => h.id)).toEqual([
      "context",
      "credentials.helper",
      "credentials.version",
      "credentials.session",
      "credentials.token",
      "credentials.expiry",
      "credentials.clock",
      "api.proxy",
      "api.dns",
      "api.tcp",
      "api.tls",
      "api.authenticated",
      "api.project",
      "api.httpproxies",
      "dataplane.native",
      "dataplane.udp",
      "dataplane.relay",
      "tunnel.objects",
      "tunnel.dns",
      "tunnel.edge",
      "tunnel.origin",
      "tunnel.state",
    ]);
    // The placeholder (no relay binary here) passes with a note; a real local relay answers /ping.
    const relay = report.hops.find((h) => h.id === "dataplane.relay");
    expect(relay?.seen).toMatch(datum.env.DATUM_CONNECT_DEV_PLACEHOLDER_RELAY ? /the local Datum's declared placeholder/ : /^HTTP 200 in \d+ms/);
    expect(report.hops.find((h) => h.id === "credentials.version")?.seen).toBe("v0.18.0");
    // No token anywhere in the report.
    expect(r.stdout).not.toContain(mintToken());
    expect(r.stdout).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
  }, 60_000);

  test("the table marks each hop and ends saying every hop passed", async () => {
    const r = await runCli(["tunnel", "doctor", "--name", "doc"], { env: datum.env, timeoutMs: 60_000 });
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
    expect(lines.at(-1)).toBe("every hop passed");
    expect(lines.slice(0, -1).every((l) => l.startsWith("✓ "))).toBe(true);
    expect(r.stdout).toContain("TLS handshake");
    expect(r.stdout).toMatch(/origin answers http:\/\/127\.0\.0\.1:\d+\/\s+\d+ms\s+HTTP 200/);
  }, 60_000);
});

describe("each injected failure is the first broken hop, with its exit code", () => {
  test("helper missing: credentials helper, exit 78", async () => {
    const { r, report } = await doctor([], { DATUM_CREDENTIALS_HELPER: "/nonexistent/datumctl" });
    expect(r.code).toBe(78);
    expect(report.firstFailure).toBe("credentials.helper");
    expect(firstFail(report)?.seen).toContain("/nonexistent/datumctl");
    expect(firstFail(report)?.remedy).toContain("DATUM_CREDENTIALS_HELPER");
    // The hops that need a token are skipped, not failed.
    expect(report.hops.find((h) => h.id === "api.authenticated")?.status).toBe("skip");
  }, 60_000);

  test("token refused by the API: authenticated request, exit 77", async () => {
    const token = mintToken();
    expect(token.length).toBeGreaterThan(0);
    expect((await datum.admin("deny-token", { body: { token } })).status).toBe(204);
    try {
      const { r, report } = await doctor([]);
      expect(r.code).toBe(77);
      expect(report.firstFailure).toBe("api.authenticated");
      expect(firstFail(report)?.seen).toContain("401");
      expect(report.hops.find((h) => h.id === "credentials.token")?.status).toBe("pass");
      expect(r.stdout).not.toContain(token);
    } finally {
      await datum.admin("deny-token", { method: "DELETE" });
    }
  }, 60_000);

  test("API down: TCP connect to the API host, exit 69", async () => {
    const port = closedPort();
    const { r, report } = await doctor([], { DATUM_API_HOST: `http://127.0.0.1:${port}` });
    expect(r.code).toBe(69);
    expect(report.firstFailure).toBe("api.tcp");
    expect(firstFail(report)?.target).toBe(`127.0.0.1:${port}`);
  }, 60_000);

  test("relay unreachable: the relay, exit 69", async () => {
    const port = closedPort();
    const { r, report } = await doctor([], { DATUM_CONNECT_RELAY_URLS: `http://127.0.0.1:${port}/` });
    expect(r.code).toBe(69);
    expect(report.firstFailure).toBe("dataplane.relay");
    expect(firstFail(report)?.target).toBe(`http://127.0.0.1:${port}/`);
    expect(firstFail(report)?.remedy).toContain("UDP");
  }, 60_000);

  test("origin down: origin answers, exit 69; the edge's 502 is the device's own and only a warning", async () => {
    origin2 = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("second origin") });
    const port = origin2.port as number;
    const up = await runCli(["tunnel", "listen", "--detach", "--name", "doc-origin", "--endpoint", `127.0.0.1:${port}`], { env: datum.env, timeoutMs: 60_000 });
    expect(up.code, up.stderr).toBe(0);
    origin2.stop(true);
    origin2 = undefined;
    const { r, report } = await doctor(["--name", "doc-origin"]);
    expect(r.code).toBe(69);
    expect(report.firstFailure).toBe("tunnel.origin");
    expect(firstFail(report)?.seen).toBe("connection refused");
    expect(report.hops.find((h) => h.id === "tunnel.edge")?.status).toBe("warn");
    expect(report.hops.find((h) => h.id === "tunnel.objects")?.status).toBe("pass");
  }, 90_000);

  test("corrupt state: state files, exit 65, naming the file", async () => {
    const root = datum.env.DATUM_CONNECT_DIR as string;
    const dir = join(root, "tunnels", "doc-corrupt");
    cpSync(join(root, "tunnels", "doc"), dir, { recursive: true });
    writeFileSync(join(dir, "run.json"), "\u0000\u0001 not json", { mode: 0o600 });
    const { r, report } = await doctor(["--name", "doc-corrupt"]);
    expect(r.code).toBe(65);
    expect(report.firstFailure).toBe("tunnel.state");
    expect(firstFail(report)?.seen).toContain(join(dir, "run.json"));
    expect(report.hops.filter((h) => h.section === "tunnel" && h.id !== "tunnel.state").every((h) => h.status === "skip")).toBe(true);
  }, 60_000);

  test("no such tunnel: state files, exit 64", async () => {
    const { r, report } = await doctor(["--name", "nope"]);
    expect(r.code).toBe(64);
    expect(report.firstFailure).toBe("tunnel.state");
  }, 60_000);
});
