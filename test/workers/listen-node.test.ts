/**
 * The real ListenNode worker crashing under its supervisor (needs the loopback namespace):
 *   sh scripts/netns.sh ./node_modules/.bin/bun test test/workers
 * Each scenario runs as a script, outside `bun test`, where workers handle their own errors.
 */
import { expect, test } from "bun:test";

async function crashAndRestart(mode: "throw" | "exit"): Promise<{
  status: { restarts: number; state: string; lastDeath: { exitCode: number; reason: string } };
  samePort: boolean;
  dial: number | string;
}> {
  const script = new URL("./fixtures/listen-node-restart.ts", import.meta.url).pathname;
  const proc = Bun.spawn([process.execPath, script, mode], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`script failed (${code}): ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

test("an uncaught error: the endpoint is closed on the way out, the restart keeps port, key and allow-list", async () => {
  const report = await crashAndRestart("throw");
  expect(report.status).toMatchObject({ restarts: 1, state: "running", lastDeath: { exitCode: 70 } });
  expect(report.status.lastDeath.reason).toStartWith("uncaught exception: Error: listen-node fixture crash");
  expect(report.samePort).toBe(true);
  expect(report.dial).toBe(200);
}, 30_000);

test("a hard exit leaks the old endpoint's port: the restart binds elsewhere, reports it, and is reachable", async () => {
  const report = await crashAndRestart("exit");
  expect(report.status).toMatchObject({ restarts: 1, state: "running", lastDeath: { exitCode: 9 } });
  expect(report.samePort).toBe(false);
  expect(report.dial).toBe(200);
}, 30_000);
