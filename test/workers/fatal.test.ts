import { expect, test } from "bun:test";
import { FATAL_EXIT_CODE } from "../../workers/lib/port.ts";

test.each([
  ["throw", "uncaught exception: Error: thrown later"],
  ["reject", "unhandled rejection: Error: rejected later"],
])("outside bun test, an uncaught %s posts fatal and exits %p", async (mode, reason) => {
  const proc = Bun.spawn([process.execPath, new URL("./fixtures/run-supervised.ts", import.meta.url).pathname, mode], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  const death = JSON.parse(out.trim()) as { reason: string; exitCode: number; beforeReady: boolean };
  expect(death.reason).toStartWith(reason);
  expect(death.exitCode).toBe(FATAL_EXIT_CODE);
  expect(death.beforeReady).toBe(false);
});
