/**
 * The group file (docs/groups.md#the-file): valid files read to the expected group, and every invalid one is
 * one Malformed (exit 65) whose message names the file, the service and the field, with every problem in
 * its details.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Exit, Malformed, UsageError } from "../../../src/errors.ts";
import { DEFAULT_GROUP_FILE, type GroupFile, parseGroupFile, readGroupFile } from "../../../src/group/config.ts";

const FILE = DEFAULT_GROUP_FILE;

function failure(text: string): Malformed {
  try {
    parseGroupFile(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(Malformed);
    return err as Malformed;
  }
  throw new Error(`parsed without an error:\n${text}`);
}

describe("parseGroupFile reads a valid file", () => {
  const cases: [string, string, GroupFile][] = [
    [
      "every key",
      `name: web-stack          # the group
project: my-project
session: ci-bot
health: 127.0.0.1:9090
tunnels:
  - name: app
    endpoint: 127.0.0.1:3000
    label: Storefront
  - name: api
    endpoint: https://localhost:8443
`,
      {
        name: "web-stack",
        project: "my-project",
        session: "ci-bot",
        health: "127.0.0.1:9090",
        services: [
          { name: "app", endpoint: "http://127.0.0.1:3000", label: "Storefront" },
          { name: "api", endpoint: "https://localhost:8443", label: "web-stack/api" },
        ],
      },
    ],
    [
      "only what is required: defaults are null and <group>/<service>",
      "name: g\ntunnels:\n  - name: a\n    endpoint: localhost:3000\n",
      { name: "g", project: null, session: null, health: null, services: [{ name: "a", endpoint: "http://localhost:3000", label: "g/a" }] },
    ],
    [
      "empty optional keys are not set; strings are trimmed",
      `name: g
project:
session: ~
health:
tunnels:
  - name: a
    endpoint: "  http://127.0.0.1:3000  "
    label: "  Store front  "
`,
      { name: "g", project: null, session: null, health: null, services: [{ name: "a", endpoint: "http://127.0.0.1:3000", label: "Store front" }] },
    ],
    [
      "quoted values that YAML would read as numbers",
      `name: "123"\nproject: p.example\nhealth: ":9090"\ntunnels:\n- name: "8080"\n  endpoint: "127.0.0.1:8080"\n  label: "2024"\n`,
      { name: "123", project: "p.example", session: null, health: ":9090", services: [{ name: "8080", endpoint: "http://127.0.0.1:8080", label: "2024" }] },
    ],
    [
      "a flow-style list, a leading ---, comments",
      "# my services\n---\nname: g\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}, {name: b, endpoint: 127.0.0.1:3001}]\n",
      {
        name: "g",
        project: null,
        session: null,
        health: null,
        services: [
          { name: "a", endpoint: "http://127.0.0.1:3000", label: "g/a" },
          { name: "b", endpoint: "http://127.0.0.1:3001", label: "g/b" },
        ],
      },
    ],
    [
      "CRLF line ends and a byte-order mark",
      "\uFEFFname: g\r\ntunnels:\r\n  - name: a\r\n    endpoint: 127.0.0.1:3000\r\n",
      { name: "g", project: null, session: null, health: null, services: [{ name: "a", endpoint: "http://127.0.0.1:3000", label: "g/a" }] },
    ],
    [
      "a folded label whose lines look like keys is one label, not duplicate keys",
      "name: g\ntunnels:\n  - name: a\n    label: >-\n      name: fancy\n      name: again\n    endpoint: 127.0.0.1:3000\n",
      { name: "g", project: null, session: null, health: null, services: [{ name: "a", endpoint: "http://127.0.0.1:3000", label: "name: fancy name: again" }] },
    ],
    [
      "localhost and 127.0.0.1 on one port are two origins",
      "name: g\ntunnels:\n  - name: a\n    endpoint: 127.0.0.1:3000\n  - name: b\n    endpoint: localhost:3000\n",
      {
        name: "g",
        project: null,
        session: null,
        health: null,
        services: [
          { name: "a", endpoint: "http://127.0.0.1:3000", label: "g/a" },
          { name: "b", endpoint: "http://localhost:3000", label: "g/b" },
        ],
      },
    ],
  ];
  test.each(cases)("%s", (_what, text, expected) => {
    expect(parseGroupFile(text, FILE)).toEqual(expected);
  });
});

const SERVICE = (lines: string) => `name: web-stack\ntunnels:\n${lines}`;

describe("parseGroupFile refuses an invalid file: one Malformed naming the file, the service and the field", () => {
  // [what, file text, the error's message, a part of its hint]
  const cases: [string, string, string, string][] = [
    // the document
    ["not YAML: an unclosed flow list", SERVICE("  - name: a\n    endpoint: [1, 2\n"), "line 4: not valid YAML: unexpected token", "fix datum-tunnels.yaml"],
    ["not YAML: a tab as indentation", "name: g\ntunnels:\n\t- name: a\n", "line 3: not valid YAML: tab characters cannot be used as indentation", "README.md#groups"],
    ["not YAML: an unterminated quote", "name: g\nproject: \"p\ntunnels: []\n", "line 2: not valid YAML: unexpected character", "README.md#groups"],
    ["not YAML: an unknown alias", "name: g\ntunnels:\n  - *svc\n", "line 3: not valid YAML: unresolved alias", "README.md#groups"],
    ["an empty file", "", "the file is empty", "name: web-stack"],
    ["a file of comments only", "# nothing yet\n\n", "the file is empty", "name: web-stack"],
    ["a list at the top level", "- name: a\n  endpoint: 127.0.0.1:3000\n", "the top level must be a mapping (name:, tunnels:), not a list", "README.md#groups"],
    ["a string at the top level", "web-stack\n", "the top level must be a mapping (name:, tunnels:), not a string", "README.md#groups"],
    ["two documents", "name: a\ntunnels: []\n---\nname: b\n", "the file holds 2 YAML documents (separated by ---): a group file is one document", "remove the --- lines"],
    // the group's keys
    ["an unknown key with a near one", "name: g\ntunnel:\n  - name: a\n    endpoint: 127.0.0.1:3000\n", 'unknown key "tunnel": did you mean tunnels?', "rename tunnel to tunnels"],
    ["an unknown key with none near", "name: g\ncolour: blue\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", 'unknown key "colour"', "the keys here are name, project, session, health, tunnels"],
    ["a key given twice", "name: g\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\nname: h\n", "name is given twice (lines 1 and 3); YAML would keep only the last", "keep one name line"],
    ["tunnels given twice", "name: g\ntunnels:\n  - name: a\n    endpoint: 127.0.0.1:3000\ntunnels:\n  - name: b\n    endpoint: 127.0.0.1:3001\n", "tunnels is given twice (lines 2 and 5); YAML would keep only the last", "one tunnels list"],
    ["no name", "tunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", "name is missing", "give the group a name"],
    ["a name that is a number", "name: 42\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", "name must be a string, not the number 42", "a name is lowercase"],
    ["an invalid name", "name: Web_Stack\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", `name "Web_Stack" is invalid: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters (^[a-z0-9][a-z0-9-]{0,62}$)`, 'e.g. "web-stack"'],
    ["a name too long", `name: ${"a".repeat(64)}\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n`, `name "${"a".repeat(64)}" is invalid: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters (^[a-z0-9][a-z0-9-]{0,62}$)`, `e.g. "${"a".repeat(63)}"`],
    ["an invalid project", "name: g\nproject: My_Project\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", `project "My_Project" is invalid: a project id is lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`, "fix datum-tunnels.yaml"],
    ["a project that is a number", "name: g\nproject: 5\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", "project must be a string, not the number 5", 'project: "5"'],
    ["an empty session", 'name: g\nsession: ""\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n', "session is an empty string", "give a session or remove the line"],
    ["a session that is a list", "name: g\nsession: [a]\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", "session must be a string, not a list", "README.md#groups"],
    ["a health address that is not loopback", "name: g\nhealth: example.com:9090\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", 'health "example.com:9090": host "example.com" is not allowed', "127.0.0.1:PORT"],
    ["a health address that is a URL", "name: g\nhealth: http://127.0.0.1:9090\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", 'health "http://127.0.0.1:9090": give HOST:PORT, not a URL', "127.0.0.1:PORT"],
    ["a health port that YAML reads as a number", "name: g\nhealth: 9090\ntunnels: [{name: a, endpoint: 127.0.0.1:3000}]\n", "health must be a string, not the number 9090", 'health: "127.0.0.1:9090"'],
    // the list
    ["no tunnels", "name: g\n", "tunnels is missing: a group serves at least one tunnel", "list the services"],
    ["an empty tunnels", "name: g\ntunnels: []\n", "tunnels is empty: a group serves at least one tunnel", "list the services"],
    ["tunnels as a mapping", "name: g\ntunnels:\n  app: 127.0.0.1:3000\n", "tunnels must be a list of services, not a mapping", '"- name: app"'],
    ["a service that is a string", "name: g\ntunnels:\n  - app\n", "tunnels[0]: a service must be a mapping with name and endpoint, not a string", '"- name: app"'],
    // a service's keys
    ["a service's unknown key", SERVICE("  - name: app\n    endpont: 127.0.0.1:3000\n"), 'tunnels[0] (app): unknown key "endpont": did you mean endpoint?', "rename endpont to endpoint"],
    ["a service's key given twice", SERVICE("  - name: app\n    endpoint: 127.0.0.1:3000\n    endpoint: 127.0.0.1:3001\n"), "tunnels[0] (app): endpoint is given twice (lines 4 and 5); YAML would keep only the last", "keep one endpoint line"],
    ["a service without a name", SERVICE("  - endpoint: 127.0.0.1:3000\n"), "tunnels[0]: name is missing", "unique in the file"],
    ["a service name with capitals", SERVICE("  - name: API\n    endpoint: 127.0.0.1:3000\n"), `tunnels[0] (API): name "API" is invalid: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters (^[a-z0-9][a-z0-9-]{0,62}$)`, 'e.g. "api"'],
    ["a service name that is a number", SERVICE("  - name: 8080\n    endpoint: 127.0.0.1:8080\n"), "tunnels[0]: name must be a string, not the number 8080", "a name is lowercase"],
    ["two services of one name: both indexes", SERVICE("  - name: api\n    endpoint: 127.0.0.1:3000\n  - name: api\n    endpoint: 127.0.0.1:3001\n"), 'tunnels[1] (api): name "api" is already the name of tunnels[0]', "a name of its own"],
    ["a service without an endpoint", SERVICE("  - name: app\n"), "tunnels[0] (app): endpoint is missing", "e.g. endpoint: 127.0.0.1:3000"],
    ["an endpoint that YAML reads as a number", SERVICE("  - name: app\n    endpoint: 3000\n"), "tunnels[0] (app): endpoint must be a string, not the number 3000", 'endpoint: "127.0.0.1:3000"'],
    ["an endpoint that is a boolean", SERVICE("  - name: app\n    endpoint: true\n"), "tunnels[0] (app): endpoint must be a string, not the boolean true", "e.g. endpoint: 127.0.0.1:3000"],
    ["an endpoint out of range: the platform's words", SERVICE("  - name: app\n    endpoint: 127.0.0.1:3000\n  - name: api\n    endpoint: localhost:99999\n"), 'tunnels[1] (api): endpoint "localhost:99999": invalid port "99999": must be between 1 and 65535, inclusive', "e.g. 127.0.0.1:3000"],
    ["an endpoint with a path", SERVICE("  - name: app\n    endpoint: http://127.0.0.1:3000/app\n"), 'tunnels[0] (app): endpoint "http://127.0.0.1:3000/app": endpoint must not have a path component', "give only scheme://host:port"],
    ["an unspecified endpoint host", SERVICE("  - name: app\n    endpoint: 0.0.0.0:3000\n"), 'tunnels[0] (app): endpoint "0.0.0.0:3000": endpoint host may not be unspecified (0.0.0.0)', "use 127.0.0.1"],
    ["two services on one endpoint: both named", SERVICE("  - name: app\n    endpoint: 127.0.0.1:3000\n  - name: admin\n    endpoint: http://127.0.0.1:3000\n"), 'tunnels[1] (admin): endpoint "http://127.0.0.1:3000" is also the endpoint of tunnels[0] (app)', "give each its own host:port"],
    ["one origin by http and https", SERVICE("  - name: app\n    endpoint: localhost:8443\n  - name: tls\n    endpoint: https://localhost:8443\n"), 'tunnels[1] (tls): endpoint "https://localhost:8443" is also the endpoint of tunnels[0] (app)', "give each its own host:port"],
    ["one origin with and without the root dot", SERVICE("  - name: app\n    endpoint: api.example.com:8080\n  - name: api\n    endpoint: api.example.com.:8080\n"), 'tunnels[1] (api): endpoint "api.example.com.:8080" is also the endpoint of tunnels[0] (app)', "give each its own host:port"],
    ["an empty label", SERVICE('  - name: app\n    endpoint: 127.0.0.1:3000\n    label: "  "\n'), "tunnels[0] (app): label is an empty string", "give a label or remove the line"],
    ["a label on two lines", SERVICE("  - name: app\n    endpoint: 127.0.0.1:3000\n    label: |\n      Store\n      front\n"), 'tunnels[0] (app): label "Store\\nfront" must be one line, without control characters', "write the label on one line"],
    ["a label that YAML reads as a number", SERVICE("  - name: app\n    endpoint: 127.0.0.1:3000\n    label: 2024\n"), "tunnels[0] (app): label must be a string, not the number 2024", 'label: "2024"'],
  ];
  test.each(cases)("%s", (_what, text, message, hint) => {
    const err = failure(text);
    expect(err.exit).toBe(Exit.malformed);
    expect(err.message).toBe(`${FILE}: ${message}`);
    expect(err.hint).toContain(hint);
    expect(err.details?.split("\n")[0]).toBe(err.message);
  });
});

describe("every problem is reported, not just the first", () => {
  test("the details list them one per line, in the order the file is read", () => {
    const err = failure(`name: Web
projec: p
health: 9090
tunnels:
  - name: app
    endpoint: 127.0.0.1:3000
  - name: app
    endpoint: 3000
  - endpont: localhost:99999
  - name: db
    endpoint: http://127.0.0.1:3000/
`);
    expect(err.details?.split("\n")).toEqual([
      `${FILE}: unknown key "projec": did you mean project?`,
      `${FILE}: name "Web" is invalid: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters (^[a-z0-9][a-z0-9-]{0,62}$)`,
      `${FILE}: health must be a string, not the number 9090`,
      `${FILE}: tunnels[1] (app): name "app" is already the name of tunnels[0]`,
      `${FILE}: tunnels[1] (app): endpoint must be a string, not the number 3000`,
      `${FILE}: tunnels[2]: unknown key "endpont": did you mean endpoint?`,
      `${FILE}: tunnels[2]: name is missing`,
      `${FILE}: tunnels[2]: endpoint is missing`,
      `${FILE}: tunnels[3] (db): endpoint "http://127.0.0.1:3000/": endpoint must not have a path component`,
    ]);
    expect(err.message).toBe(`${FILE}: unknown key "projec": did you mean project?`);
    expect(err.hint).toContain("8 more problems in the file");
  });

  test("a single problem says no more", () => {
    expect(failure("name: g\ntunnels: []\n").hint).not.toContain("more problem");
  });
});

describe("readGroupFile", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "group-config-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test("a missing file is a usage error (exit 2) naming the path", async () => {
    const path = join(await tempDir(), DEFAULT_GROUP_FILE);
    const err = await readGroupFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exit).toBe(Exit.usage);
    expect((err as UsageError).message).toBe(`group file ${path} does not exist`);
    expect((err as UsageError).hint).toContain("-f FILE");
  });

  test("a directory is a usage error (exit 2)", async () => {
    const path = join(await tempDir(), "dir.yaml");
    await mkdir(path);
    const err = await readGroupFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(`group file ${path} is a directory`);
  });

  test("a bad file is Malformed (exit 65) naming the path", async () => {
    const path = join(await tempDir(), DEFAULT_GROUP_FILE);
    await writeFile(path, "name: g\ntunnels:\n  - name: app\n    endpoint: 3000\n");
    const err = await readGroupFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Malformed);
    expect((err as Malformed).exit).toBe(Exit.malformed);
    expect((err as Malformed).message).toBe(`${path}: tunnels[0] (app): endpoint must be a string, not the number 3000`);
  });

  test("a good file: the group and the text as it is", async () => {
    const path = join(await tempDir(), DEFAULT_GROUP_FILE);
    const text = "# mine\nname: g\ntunnels:\n  - name: app\n    endpoint: 127.0.0.1:3000\n";
    await writeFile(path, text);
    expect(await readGroupFile(path)).toEqual({
      group: { name: "g", project: null, session: null, health: null, services: [{ name: "app", endpoint: "http://127.0.0.1:3000", label: "g/app" }] },
      text,
    });
  });
});
