/**
 * The real ListenNode worker (workers/listen-node.ts), with two knobs for bench/streams-burst.ts,
 * so it can compare the data plane's former settings with today's without touching the product:
 * `BENCH_STREAM_LIMIT` replaces the per-connection stream window the worker sets, and
 * `BENCH_READ_SIZE` makes every iroh read ask for at least that many bytes.
 */
import { isMainThread } from "node:worker_threads";
import { Connection, RecvStream } from "@number0/iroh";

/** Every `RecvStream.read(limit)` in this thread asks for at least `bytes`. */
export function forceReadSize(bytes: number): void {
  const original = RecvStream.prototype.read;
  RecvStream.prototype.read = function (this: RecvStream, limit: number): Promise<number[]> {
    return original.call(this, Math.max(limit, bytes));
  };
}

const forced = process.env.BENCH_STREAM_LIMIT;
if (forced) {
  const original = Connection.prototype.setMaxConcurrentBiStreams;
  Connection.prototype.setMaxConcurrentBiStreams = function (this: Connection): void {
    original.call(this, BigInt(forced));
  };
}
if (!isMainThread) {
  if (process.env.BENCH_READ_SIZE) forceReadSize(Number(process.env.BENCH_READ_SIZE));
  await import("../../workers/listen-node.ts");
}
