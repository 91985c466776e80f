/**
 * Many origins in one process, each telling which one it is, for the group benchmark (bench/group.ts):
 *   bun bench/lib/many-origins.ts N
 * listens on N loopback ports and prints one JSON line `{"ports":[P0,…]}`; every request to port
 * i, whatever its method and path, answers `200 origin <i>`. So a request that reached the wrong
 * service's origin is seen as a wrong body, not counted as a success. Runs until SIGTERM.
 *
 * `Bun.serve` is enough here: every request of the group benchmark is on a fresh connection (the
 * idle-connection timeout that rules it out for bench/lib/origin.ts does not come into play).
 */
const n = Number(process.argv[2] ?? "");
if (!Number.isInteger(n) || n < 1 || n > 1000) {
  process.stderr.write("usage: bun bench/lib/many-origins.ts N (1 ≤ N ≤ 1000)\n");
  process.exit(2);
}
const ports: number[] = [];
for (let i = 0; i < n; i++) {
  const body = `origin ${i}`;
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(body) });
  ports.push(server.port as number);
}
process.stdout.write(`${JSON.stringify({ ports })}\n`);
process.on("SIGTERM", () => process.exit(0));
