/**
 * Process-level wiring around `main`: the completion protocol, one handler for stray rejections,
 * and a flush of stdout before the exit code is returned (so `| head` and pipes get everything).
 */
import { complete } from "./complete.ts";
import { main } from "./main.ts";
import { stdoutFlushed } from "./output.ts";

export async function run(argv: readonly string[]): Promise<number> {
  process.on("unhandledRejection", (reason) => {
    const message = reason instanceof Error ? reason.message : String(reason);
    process.stderr.write(`error: unexpected error: ${message}\n`);
    process.exit(1);
  });
  if (argv[0] === "__complete" || argv[0] === "__completeNoDesc") {
    return complete(argv.slice(1), argv[0] === "__complete");
  }
  const code = await main(argv);
  await stdoutFlushed();
  return code;
}
