/**
 * The group file `tunnel up --help` shows is a file `tunnel up` accepts, as the help says.
 */
import { expect, test } from "bun:test";
import { parseGroupFile } from "../../../src/group/config.ts";
import { GROUP_FILE_HELP } from "../../../src/group/file-help.ts";
import { runCli } from "../../helpers/cli.ts";

test("the help's example file parses to the group it describes", () => {
  const lines = GROUP_FILE_HELP.split("\n");
  const start = lines.indexOf("THE GROUP FILE (YAML)") + 2;
  const end = lines.indexOf("", start);
  const yaml = lines.slice(start, end).map((l) => l.slice(2)).join("\n");
  const group = parseGroupFile(yaml, "help");
  expect(group).toEqual({
    name: "web-stack",
    project: "my-project",
    session: "ci-bot",
    health: "127.0.0.1:9464",
    services: [
      { name: "app", endpoint: "http://127.0.0.1:3000", label: "Storefront" },
      { name: "api", endpoint: "http://127.0.0.1:8080", label: "web-stack/api" },
    ],
  });
});

test("tunnel up --help shows it, above the global options", async () => {
  const r = await runCli(["tunnel", "up", "--help"]);
  expect(r.code).toBe(0);
  const out = r.stdout + r.stderr;
  expect(out).toContain("THE GROUP FILE (YAML)");
  expect(out.indexOf("RELOAD")).toBeLessThan(out.indexOf("GLOBAL OPTIONS"));
});
