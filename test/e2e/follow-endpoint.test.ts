/**
 * `tunnel update --endpoint` on a tunnel that a listen serves right now: the running data plane
 * follows the new endpoint within one runtime poll, instead of answering 403 (not in its
 * allow-list) until it is restarted.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { runCli } from "../helpers/cli.ts";
import { tunnelIdIn, until, viaPublic } from "../helpers/faults.ts";
import { killAllListens, startListen } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
const origins: ReturnType<typeof Bun.serve>[] = [];

beforeAll(async () => {
  datum = await startLocalDatum();
  for (const name of ["old", "new"]) origins.push(Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(name) }));
});

afterAll(async () => {
  await killAllListens();
  for (const o of origins) o.stop(true);
  await datum.stop();
});

test("a served tunnel's endpoint changed elsewhere is followed within one runtime poll", async () => {
  const [oldOrigin, newOrigin] = origins as [ReturnType<typeof Bun.serve>, ReturnType<typeof Bun.serve>];
  const listen = await startListen(["--endpoint", `127.0.0.1:${oldOrigin.port}`], { env: datum.env });
  expect((await viaPublic(listen.url)).body).toBe("old");
  const id = tunnelIdIn(listen.stderr());

  const updated = await runCli(["tunnel", "update", "--id", id, "--endpoint", `127.0.0.1:${newOrigin.port}`], { env: datum.env });
  expect(updated.code).toBe(0);
  // The runtime watch polls every 10 s: within two polls the new origin answers, with no restart.
  await until(async () => (await viaPublic(listen.url)).body === "new", 25_000, "the public URL reaching the new endpoint");
  expect(listen.exitCode()).toBeNull();
  expect(listen.stderr()).toContain(`tunnel ${id} now forwards to http://127.0.0.1:${newOrigin.port} (changed on the platform)`);
  expect((await listen.stop("SIGINT")).code).toBe(0);
}, 60_000);
