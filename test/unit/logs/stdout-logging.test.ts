import { expect, test } from "bun:test";
import { createConsola } from "consola";
import { attachStdoutLogging } from "../../../src/logs/json-lines.ts";

// A syntactically JWT-shaped string; not a real credential.
const JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

test("attachStdoutLogging: the tunnel log's JSON lines, redacted, through the writer; detach restores the reporters", () => {
  const logger = createConsola({ level: 3 });
  const before = [...logger.options.reporters];
  const out: string[] = [];
  const attached = attachStdoutLogging(logger, "web", (text) => out.push(text));
  logger.info("Tunnel disabled.");
  logger.warn(`got Bearer ${JWT}`);
  expect(out.every((t) => t.endsWith("\n") && !t.slice(0, -1).includes("\n"))).toBe(true);
  const records = out.map((t) => JSON.parse(t) as { level: string; msg: string; tunnel: string; time: string });
  expect(records.map((r) => [r.level, r.msg, r.tunnel])).toEqual([
    ["info", "Tunnel disabled.", "web"],
    ["warn", "got Bearer [redacted]", "web"],
  ]);
  expect(out.join("")).not.toContain(JWT);
  attached.detach();
  expect(logger.options.reporters).toEqual(before);
});
