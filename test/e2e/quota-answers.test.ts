/**
 * The quota admission's 403s as `tunnel listen --endpoint` meets them (docs/wire-facts.md#quota-and-retries):
 * the three retryable answers are retried on the 1, 2, 4, 8 s schedule and then exit 69 with the
 * platform's own words; only real exhaustion exits 64 with the quota text, and a misconfigured quota
 * policy is 64 with the platform's words. The real CLI runs against `dev cloud` (a real process)
 * whose fault rules produce each answer; every case has its own project, so they run side by side
 * and each one's creates are counted from the request log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { addFault, requests, type Logged } from "../helpers/faults.ts";
import { killAllListens, startListen } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";

let datum: LocalDatum;
let origin: Server<undefined>;

beforeAll(async () => {
  datum = await startLocalDatum();
  origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("origin") });
});

afterAll(async () => {
  await killAllListens();
  origin?.stop(true);
  await datum?.stop();
});

interface Case {
  readonly quota: "check-timeout" | "check-error" | "cleanup-pending" | "exceeded" | "misconfigured";
  readonly exit: number;
  /** HTTPProxy creates the agent sends. */
  readonly attempts: number;
  readonly stderr: readonly RegExp[];
}

const CASES: readonly Case[] = [
  {
    quota: "check-timeout",
    exit: 69,
    attempts: 5,
    stderr: [
      /^ {2}… quota check timed out for HTTPProxy create; retrying for up to 15s$/m,
      /^error: The quota check for HTTPProxy create did not succeed after 5 attempts: .*Your request took too long to be checked against your quota\./m,
    ],
  },
  {
    quota: "check-error",
    exit: 69,
    attempts: 5,
    stderr: [
      /^ {2}… quota check failed for HTTPProxy create; retrying for up to 15s$/m,
      /^error: The quota check for HTTPProxy create did not succeed after 5 attempts: .*Something went wrong while checking your quota for this request\./m,
    ],
  },
  {
    quota: "cleanup-pending",
    exit: 69,
    attempts: 5,
    stderr: [
      /^ {2}… quota cleanup still pending for HTTPProxy create; retrying for up to 15s$/m,
      /^error: The quota check for HTTPProxy create did not succeed after 5 attempts: .*We're still cleaning up from a previous attempt to create this resource/m,
    ],
  },
  { quota: "exceeded", exit: 64, attempts: 1, stderr: [/^error: Quota limit exceeded for HTTPProxy resources\.$/m] },
  {
    quota: "misconfigured",
    exit: 64,
    attempts: 1,
    stderr: [/^error: The platform could not apply its quota to creating HTTPProxy: .*Quota enforcement for this resource type is misconfigured/m],
  },
];

const projectOf = (c: Case) => `quota-${c.quota}`;
const creates = (log: Logged[], project: string) =>
  log.filter((r) => r.method === "POST" && r.path.includes(`/projects/${project}/`) && r.path.endsWith("/httpproxies"));

describe("quota answers on create", () => {
  // Purpose: each quota-admission 403 gets its own exit code, message and number of attempts (issue 12 item 6).
  test("retryable answers: 5 attempts 1, 2, 4, 8 s apart, then 69 with the platform's text; exhaustion and misconfiguration: 64 at once", async () => {
    for (const c of CASES) {
      await addFault(datum, { match: { method: "POST", resource: "httpproxies", project: projectOf(c) }, quota: c.quota });
    }
    const runs = await Promise.all(
      CASES.map(async (c) => {
        const p = await startListen(["--endpoint", `127.0.0.1:${origin.port}`], {
          env: { ...datum.env, DATUM_PROJECT: projectOf(c) },
          waitForReady: false,
        });
        return { c, exit: await p.done };
      }),
    );
    const log = await requests(datum);
    for (const { c, exit } of runs) {
      const posts = creates(log, projectOf(c));
      const at = posts.map((r) => Date.parse(r.time));
      const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
      console.log(`${c.quota}: exit ${exit.code}, ${posts.length} creates, gaps ${gaps.join(", ")} ms`);
      expect({ quota: c.quota, code: exit.code }).toEqual({ quota: c.quota, code: c.exit });
      for (const pattern of c.stderr) expect(exit.stderr).toMatch(pattern);
      expect(posts.map((r) => r.status)).toEqual(Array(c.attempts).fill(403));
      if (c.attempts === 5) {
        [950, 1_950, 3_950, 7_950].forEach((min, i) => expect(gaps[i]).toBeGreaterThanOrEqual(min));
        expect(exit.stderr.match(/retrying for up to 15s/g)).toHaveLength(1);
      }
      // Never relabeled: only exhaustion says "Quota limit exceeded".
      expect(exit.stderr.includes("Quota limit exceeded")).toBe(c.quota === "exceeded");
    }
  }, 60_000);
});
