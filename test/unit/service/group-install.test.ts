/**
 * `tunnel install -f FILE`'s request from the file and the flags (src/service/install.ts
 * groupInstallRequest): the group's name, endpoints and labels come from the file alone; its
 * project, session and health are the file's where it sets them, the flags' where it does not; a
 * flag that disagrees with the file is a usage error (exit 2), never silently dropped.
 */
import { describe, expect, test } from "bun:test";
import { CliError, Exit } from "../../../src/errors.ts";
import { parseGroupFile } from "../../../src/group/config.ts";
import { groupInstallRequest, refuseSingleTunnelFlags, type InstallFlags } from "../../../src/service/install.ts";
import { renderSystemdUnit } from "../../../src/service/systemd.ts";
import { serviceDescription, serviceSpec } from "../../../src/service/spec.ts";
import { tunnelConfig } from "./fixtures.ts";

const FILE = "/srv/web/datum-tunnels.yaml";
const text = (extra = "") => `name: web-stack\n${extra}tunnels:\n  - name: app\n    endpoint: 127.0.0.1:3000\n  - name: api\n    endpoint: 127.0.0.1:8080\n`;
const group = (extra = "") => ({ file: parseGroupFile(text(extra), FILE), text: text(extra), source: FILE });
const flags = (over: Partial<InstallFlags> = {}): InstallFlags => ({ system: false, ...over });

function usage(fn: () => unknown): { message: string; hint: string | undefined } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exit).toBe(Exit.usage);
    return { message: (err as CliError).message, hint: (err as CliError).hint };
  }
  throw new Error("expected a usage error");
}

describe("what comes from where", () => {
  test.each<[string, string, Partial<InstallFlags>, { session: string; project: string | undefined; health: string | undefined }]>([
    ["the flags fill what the file leaves out", "", { session: "s1", project: "p1", health: "127.0.0.1:9090" }, { session: "s1", project: "p1", health: "127.0.0.1:9090" }],
    ["the file's values are used", "project: web\nsession: ci-bot\nhealth: 127.0.0.1:9191\n", {}, { session: "ci-bot", project: "web", health: "127.0.0.1:9191" }],
    ["a flag repeating the file's value is fine", "session: ci-bot\n", { session: "ci-bot", project: "p2" }, { session: "ci-bot", project: "p2", health: undefined }],
    ["an empty flag is no flag", "session: ci-bot\n", { session: "  ", project: "" }, { session: "ci-bot", project: undefined, health: undefined }],
  ])("%s", (_what, extra, over, expected) => {
    const req = groupInstallRequest(group(extra), flags(over), FILE);
    expect({ session: req.session, project: req.project, health: req.health }).toEqual(expected);
    expect(req.name).toBe("web-stack");
    expect(req.endpoint).toBeUndefined();
    expect(req.label).toBeUndefined();
    expect(req.group?.file.services.map((s) => [s.name, s.endpoint, s.label])).toEqual([
      ["app", "http://127.0.0.1:3000", "web-stack/app"],
      ["api", "http://127.0.0.1:8080", "web-stack/api"],
    ]);
  });

  test("--system is the flag's", () => {
    expect(groupInstallRequest(group("session: s\n"), flags({ system: true }), FILE).system).toBe(true);
  });
});

describe("usage errors (exit 2)", () => {
  test.each<[string, string, Partial<InstallFlags>, string]>([
    ["--name beside -f", "session: s\n", { name: "web-stack" }, `-f cannot be combined with --name: a group's name, endpoints and labels come from its file (${FILE})`],
    ["--endpoint beside -f", "session: s\n", { endpoint: "127.0.0.1:3000" }, `-f cannot be combined with --endpoint: a group's name, endpoints and labels come from its file (${FILE})`],
    ["--label beside -f", "session: s\n", { label: "x" }, `-f cannot be combined with --label: a group's name, endpoints and labels come from its file (${FILE})`],
    ["no session anywhere", "", {}, "--session is required"],
    ["a session flag that disagrees", "session: ci-bot\n", { session: "alice" }, `--session "alice" disagrees with the session "ci-bot" in ${FILE}`],
    ["a project flag that disagrees", "session: s\nproject: web\n", { project: "other" }, `--project "other" disagrees with the project "web" in ${FILE}`],
    ["a health flag that disagrees", "session: s\nhealth: 127.0.0.1:9090\n", { health: "127.0.0.1:9091" }, `--health "127.0.0.1:9091" disagrees with the health "127.0.0.1:9090" in ${FILE}`],
  ])("%s", (_what, extra, over, message) => {
    expect(usage(() => groupInstallRequest(group(extra), flags(over), FILE)).message).toBe(message);
  });

  test("the mixing check needs no file", () => {
    expect(usage(() => refuseSingleTunnelFlags({ endpoint: "127.0.0.1:1" }, "missing.yaml")).hint).toBe("drop --endpoint, or install one tunnel with --name and --endpoint instead of -f");
    expect(() => refuseSingleTunnelFlags({}, "missing.yaml")).not.toThrow();
  });
});

describe("the group's unit", () => {
  const config = tunnelConfig({ name: "web-stack", endpoint: null, label: null });
  const ctx = { stateRoot: "/home/alice/.local/share/datumctl/connect", tunnelDir: "/home/alice/.local/share/datumctl/connect/tunnels/web-stack", services: 3 };

  test.each<[string, number | undefined, string]>([
    ["three services", 3, "Datum tunnel group web-stack (3 services) via datumctl-connect"],
    ["one service", 1, "Datum tunnel group web-stack (1 service) via datumctl-connect"],
  ])("description: %s", (_what, n, expected) => {
    expect(serviceDescription(config, n)).toBe(expected);
  });

  test("runs tunnel run --name G like a named tunnel, and reloads with SIGHUP", () => {
    const spec = serviceSpec(config, ctx);
    expect(spec.argv).toEqual(["/usr/local/bin/datumctl-connect", "tunnel", "run", "--name", "web-stack"]);
    expect(spec.reloadable).toBe(true);
    const unit = renderSystemdUnit(spec);
    expect(unit).toContain("\nDescription=Datum tunnel group web-stack (3 services) via datumctl-connect\n");
    expect(unit).toContain("\nExecStart=/usr/local/bin/datumctl-connect tunnel run --name web-stack\nExecReload=/bin/kill -HUP $MAINPID\n");
    expect(unit).not.toMatch(/WorkingDirectory/);
  });

  test("a named tunnel's unit has no ExecReload", () => {
    const spec = serviceSpec(tunnelConfig(), ctx);
    expect(spec.reloadable).toBe(false);
    expect(renderSystemdUnit(spec)).not.toContain("ExecReload");
    expect(spec.description).toBe("Datum tunnel prod-app (http://127.0.0.1:3000) via datumctl-connect");
  });
});
