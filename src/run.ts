/**
 * Process-level wiring around `main`: the completion protocol and one handler for stray rejections.
 * stdout needs no flush before exit: every write to it is synchronous (src/stdout.ts).
 */
import { complete } from "./complete.ts";
import { main } from "./main.ts";

export async function run(argv: readonly string[]): Promise<number> {
  process.on("unhandledRejection", (reason) => {
    const message = reason instanceof Error ? reason.message : String(reason);
    process.stderr.write(`error: unexpected error: ${message}\n`);
    process.exit(1);
  });
  if (argv[0] === "__complete" || argv[0] === "__completeNoDesc") {
    return complete(argv.slice(1), argv[0] === "__complete");
  }
  return main(argv);
}
