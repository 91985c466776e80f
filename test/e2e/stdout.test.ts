/**
 * src/stdout.ts in real child processes over real pipes: a slow reader gets every byte before the
 * writer exits, a non-blocking pipe (EAGAIN) does too, and a reader that went away ends the output
 * quietly with exit 0.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, REPO_ROOT } from "../helpers/cli.ts";

const STDOUT_TS = join(REPO_ROOT, "src", "stdout.ts");
const SIZE = 4 * 1024 * 1024; // far beyond a pipe's 64 KiB buffer

/** A child that writes `SIZE` bytes (lines of "x", a newline every 64) and then exits 0. */
function writer(options: { nonBlocking: boolean }): string {
  return [
    `import { writeStdout } from ${JSON.stringify(STDOUT_TS)};`,
    // Initialising Bun's process.stdout dups fd 1 and sets O_NONBLOCK on the shared file description.
    options.nonBlocking ? `void process.stdout.isTTY;` : ``,
    `const line = "x".repeat(63) + "\\n";`,
    `writeStdout(line.repeat(${SIZE / 64}));`,
    `process.stderr.write("done\\n");`,
  ].join("\n");
}

async function readSlowly(stream: ReadableStream<Uint8Array>, pauseMs: number): Promise<number> {
  let total = 0;
  const reader = stream.getReader();
  await Bun.sleep(pauseMs); // let the writer fill the pipe and block (or get EAGAIN)
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return total;
    total += value.byteLength;
  }
}

describe("writeStdout", () => {
  test.each([
    ["a blocking pipe", false],
    ["a non-blocking pipe (EAGAIN)", true],
  ])("through %s, a slow reader gets every byte before exit", async (_label, nonBlocking) => {
    const child = Bun.spawn([BUN, "-e", writer({ nonBlocking })], { stdout: "pipe", stderr: "pipe", cwd: REPO_ROOT });
    const [bytes, stderr, code] = await Promise.all([readSlowly(child.stdout, 300), new Response(child.stderr).text(), child.exited]);
    expect(stderr).toBe("done\n");
    expect(code).toBe(0);
    expect(bytes).toBe(SIZE);
  });

  test("a reader that went away (| head -c 100) ends the output quietly: exit 0, nothing on stderr", async () => {
    const script = `${JSON.stringify(BUN)} -e '${writer({ nonBlocking: false }).replaceAll("'", "'\\''")}' | head -c 100; echo "status=\${PIPESTATUS[0]}"`;
    const child = Bun.spawn(["bash", "-c", script], { stdout: "pipe", stderr: "pipe", cwd: REPO_ROOT });
    const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(stdout).toBe(`${"x".repeat(63)}\n${"x".repeat(36)}status=0\n`);
    expect(stderr).toBe("done\n");
  });
});
