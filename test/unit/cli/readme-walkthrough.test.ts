/**
 * The walkthrough's reading of the README (test/helpers/readme-walkthrough.ts): markers, rules,
 * shell words and what each command line is. test/e2e/readme-walkthrough.test.ts runs the result.
 */
import { describe, expect, test } from "bun:test";
import {
  classify,
  commandLines,
  disabledServices,
  flagValue,
  parseWalkthrough,
  reloadSummary,
  runsUntilInterrupted,
  serviceUrlLines,
  shellWords,
  stripComment,
  yamlValues,
} from "../../helpers/readme-walkthrough.ts";

const fence = "```";

describe("stripComment", () => {
  test.each([
    ["datumctl connect tunnel ps", "datumctl connect tunnel ps"],
    ["curl -s 127.0.0.1:9464/readyz   # 200 only while ready", "curl -s 127.0.0.1:9464/readyz   "],
    ["# a whole-line comment", ""],
    ['echo "a # not a comment" # but this is', 'echo "a # not a comment" '],
    ["echo 'it''s #1' x", "echo 'it''s #1' x"],
    ["echo a#b", "echo a#b"],
    ["echo \\# kept", "echo \\# kept"],
  ])("%j", (line, want) => expect(stripComment(line)).toBe(want));
});

describe("shellWords", () => {
  test.each([
    ["a b  c", ["a", "b", "c"]],
    ['--label "staging api" --yes', ["--label", "staging api", "--yes"]],
    ["jq '.[].hostnames'", ["jq", ".[].hostnames"]],
    ['say "a \\"b\\" \\$c"', ["say", 'a "b" $c']],
    ["x|y", ["x", "|", "y"]],
    ["a && b || c; d &", ["a", "&&", "b", "||", "c", ";", "d", "&"]],
    ["pre'fix'\"ed\"", ["prefixed"]],
    ["back\\ slash", ["back slash"]],
  ])("%j", (text, want) => expect(shellWords(text)).toEqual(want));

  test("an unterminated quote is an error", () => {
    expect(() => shellWords("say 'oops")).toThrow("unterminated quote");
  });
});

describe("commandLines", () => {
  test("joins continuations, drops comments and blanks, keeps the first line's number", () => {
    const body = ["# comment", "datumctl connect tunnel install --name a \\", "    --session s   # trailing", "", "datumctl connect tunnel ps"];
    expect(commandLines(body, 10)).toEqual([
      { line: 11, text: "datumctl connect tunnel install --name a --session s" },
      { line: 14, text: "datumctl connect tunnel ps" },
    ]);
  });

  test("a here-document belongs to the command that opens it, verbatim: its # lines are not comments", () => {
    const body = [
      "cat > g.yaml <<'EOF'   # the file",
      "name: web   # kept",
      "# kept too",
      "",
      "  - name: app",
      "EOF",
      "datumctl connect tunnel up",
      'cat >> g.yaml <<"END"',
      "x: $HOME",
      "END",
      "cat > t.txt <<-EOF",
      "\tindented",
      "\tEOF",
    ];
    expect(commandLines(body, 1)).toEqual([
      { line: 1, text: "cat > g.yaml <<'EOF'", heredoc: "name: web   # kept\n# kept too\n\n  - name: app\n" },
      { line: 7, text: "datumctl connect tunnel up" },
      { line: 8, text: 'cat >> g.yaml <<"END"', heredoc: "x: $HOME\n" },
      { line: 11, text: "cat > t.txt <<-EOF", heredoc: "indented\n" },
    ]);
  });

  test.each([
    ["no closing delimiter", ["cat > f <<'EOF'", "a: 1"], "README.md:5: the here-document has no closing EOF line"],
    ["an unquoted delimiter over text the shell would expand", ["cat > f <<EOF", "a: $HOME", "EOF"], "quote its delimiter (<<'EOF')"],
  ])("%s is an error", (_what, body, message) => {
    expect(() => commandLines(body, 5)).toThrow(message);
  });

  test("an unquoted delimiter over plain text is as written", () => {
    expect(commandLines(["cat > f <<EOF", "a: 1", "EOF"], 1)).toEqual([{ line: 1, text: "cat > f <<EOF", heredoc: "a: 1\n" }]);
  });
});

describe("classify", () => {
  test.each([
    ["datumctl connect tunnel list", undefined, { kind: "cli", args: ["tunnel", "list"] }],
    ["datumctl-connect tunnel ps", undefined, { kind: "cli", args: ["tunnel", "ps"] }],
    ["npx -- datumctl-connect dev cloud --env-file f", undefined, { kind: "cli", args: ["dev", "cloud", "--env-file", "f"] }],
    ['datumctl connect tunnel update --id x --label "staging api"', undefined, { kind: "cli", args: ["tunnel", "update", "--id", "x", "--label", "staging api"] }],
    ["datumctl connect tunnel list -o json | jq '.[]'", undefined, { kind: "other" }],
    ["datumctl connect tunnel list -o json | jq '.[]'", { kind: "up-to-pipe", reason: "r" }, { kind: "cli", args: ["tunnel", "list", "-o", "json"] }],
    ["datumctl-connect dev cloud --env-file /tmp/datum.env &", undefined, { kind: "other" }],
    ["sudo -H datumctl connect tunnel stop --name p --system", undefined, { kind: "other" }],
    ["datumctl plugin install connect", undefined, { kind: "other" }],
    ["curl -s 127.0.0.1:9464/readyz", undefined, { kind: "curl", url: "http://127.0.0.1:9464/readyz" }],
    ["curl -fsS https://x.example/", undefined, { kind: "curl", url: "https://x.example/" }],
    ['curl "$(...the printed URL...)"', undefined, { kind: "other" }],
    ['curl "$(...the printed URL...)"', { kind: "printed-url" }, { kind: "curl" }],
  ] as const)("%j with %j", (text, directive, want) => expect(classify(text, directive)).toEqual(want));

  test.each([
    ["cat > datum-tunnels.yaml <<'EOF'", { kind: "write", file: "datum-tunnels.yaml", append: false, text: "a: 1\n" }],
    ["cat >> datum-tunnels.yaml <<'EOF'", { kind: "write", file: "datum-tunnels.yaml", append: true, text: "a: 1\n" }],
    ['cat > "my file.yaml" <<-EOF', { kind: "write", file: "my file.yaml", append: false, text: "a: 1\n" }],
    ["tee f.yaml <<'EOF'", { kind: "other" }],
    ["cat <<'EOF'", { kind: "other" }],
  ] as const)("%j with a here-document", (text, want) => expect(classify(text, undefined, "a: 1\n")).toEqual(want));

  test('"up to the pipe" on a line without one is an error', () => {
    expect(() => classify("datumctl connect tunnel list", { kind: "up-to-pipe", reason: "r" })).toThrow("without one");
  });
});

describe("runsUntilInterrupted", () => {
  test.each([
    [["tunnel", "listen", "--endpoint", "127.0.0.1:3000"], true],
    [["tunnel", "listen", "--id", "x", "-o", "json"], true],
    [["tunnel", "listen", "--detach", "--name", "a"], false],
    [["tunnel", "listen", "-d", "--name", "a"], false],
    [["tunnel", "logs", "--name", "a", "--follow"], true],
    [["tunnel", "logs", "--name", "a", "-f"], true],
    [["tunnel", "logs", "--name", "a"], false],
    [["tunnel", "list"], false],
    [["tunnel", "up"], true],
    [["tunnel", "up", "-f", "web.yaml"], true],
    [["tunnel", "up", "--detach"], false],
    [["tunnel", "up", "-f", "web.yaml", "-d"], false],
    [["tunnel", "reload", "--name", "web", "-f", "web.yaml"], false],
    [["tunnel", "install", "-f", "web.yaml"], false],
  ])("%j → %p", (args, want) => expect(runsUntilInterrupted(args)).toBe(want));
});

describe("flagValue", () => {
  test.each([
    [["--name", "a"], "--name", "a"],
    [["--name=a"], "--name", "a"],
    [["--names", "a"], "--name", undefined],
    [["--name"], "--name", undefined],
  ])("%j %s → %p", (args, flag, want) => expect(flagValue(args, flag)).toBe(want));
});

describe("yamlValues", () => {
  const file = [
    "name: web-stack   # the group",
    "# health: 127.0.0.1:9464   # optional",
    "tunnels:",
    "  - name: app",
    "    endpoint: 127.0.0.1:3000    # the same rules as --endpoint",
    "  - endpoint: 'http://127.0.0.1:8080'",
    "    name: api",
  ].join("\n");
  test.each([
    ["endpoint", ["127.0.0.1:3000", "http://127.0.0.1:8080"]],
    ["name", ["web-stack", "app", "api"]],
    ["health", []],
  ])("%s", (key, want) => expect(yamlValues(file, key)).toEqual(want));
});

describe("what a group's commands print", () => {
  test("serviceUrlLines: the `name URL` lines, nothing else", () => {
    const stdout = "app http://a.localhost:1\napi https://b.example\nnot a line\nGroup web is ready\n";
    expect(serviceUrlLines(stdout)).toEqual(new Map([["app", "http://a.localhost:1"], ["api", "https://b.example"]]));
  });

  test.each([
    ["added: docs\nunchanged: 2\n", { added: ["docs"], removed: [], changed: [] }],
    ["added: a, b\nremoved (disabled, kept in Datum): c\ndeleted: d\nchanged: e\nunchanged: 0\n", { added: ["a", "b"], removed: ["c", "d"], changed: ["e"] }],
    ["unchanged: 3\n", { added: [], removed: [], changed: [] }],
  ])("reloadSummary %j", (stdout, want) => expect(reloadSummary(stdout)).toEqual(want));

  test("disabledServices: plain lines and tunnel_disabled events with their service", () => {
    const output = [
      "Disabling 3 tunnels...",
      "app: Tunnel disabled.",
      '{"service":"api","type":"tunnel_disabled","id":"tunnel-1"}',
      '{"type":"tunnel_ready","service":"db"}',
      "Tunnel disabled.",
      "{not json",
    ].join("\n");
    expect(disabledServices(output)).toEqual(new Set(["app", "api"]));
  });
});

describe("parseWalkthrough", () => {
  const walked = [
    "intro",
    "<!-- walkthrough (a note)",
    "`tunnel-abc`: the tunnel of 127.0.0.1:3000",
    "`listen --endpoint`: Ctrl+C once ready",
    "`listen --id`: in another terminal; Ctrl+C after `tunnel disable`",
    "`bogus`: exits 2",
    "-->",
    `${fence}sh`,
    "datumctl connect tunnel listen --endpoint 127.0.0.1:3000",
    "datumctl connect tunnel listen --id tunnel-abc   # runs on",
    "datumctl connect tunnel bogus",
    "datumctl connect tunnel disable --id tunnel-abc",
    fence,
    "",
    "<!-- walkthrough: skip (needs systemd) -->",
    "",
    `${fence}sh`,
    "sudo systemctl start x",
    fence,
    `${fence}ini`,
    "[Unit]",
    fence,
    fence,
    "no language: not an example",
    fence,
  ].join("\n");

  test("every sh block with its marker, rules resolved per line; other blocks ignored", () => {
    expect(parseWalkthrough(walked)).toEqual([
      {
        line: 8,
        placeholders: [{ text: "tunnel-abc", endpoint: "127.0.0.1:3000" }],
        steps: [
          { line: 9, text: "datumctl connect tunnel listen --endpoint 127.0.0.1:3000", directive: { kind: "ctrl-c-once-ready" } },
          { line: 10, text: "datumctl connect tunnel listen --id tunnel-abc", directive: { kind: "another-terminal", after: "tunnel disable" } },
          { line: 11, text: "datumctl connect tunnel bogus", directive: { kind: "exits", code: 2 } },
          { line: 12, text: "datumctl connect tunnel disable --id tunnel-abc" },
        ],
      },
      { line: 17, skip: "needs systemd", placeholders: [], steps: [{ line: 18, text: "sudo systemctl start x" }] },
    ]);
  });

  test("a Ctrl+C rule names only the lines that run until Ctrl+C; a here-document is a step", () => {
    const readme = [
      "<!-- walkthrough",
      "`tunnel up`: Ctrl+C once ready",
      "-->",
      `${fence}sh`,
      "cat > datum-tunnels.yaml <<'EOF'",
      "name: web   # datumctl connect tunnel up",
      "EOF",
      "datumctl connect tunnel up           # foreground",
      "datumctl connect tunnel up --detach  # background",
      fence,
    ].join("\n");
    expect(parseWalkthrough(readme)).toEqual([
      {
        line: 4,
        placeholders: [],
        steps: [
          { line: 5, text: "cat > datum-tunnels.yaml <<'EOF'", heredoc: "name: web   # datumctl connect tunnel up\n" },
          { line: 8, text: "datumctl connect tunnel up", directive: { kind: "ctrl-c-once-ready" } },
          { line: 9, text: "datumctl connect tunnel up --detach" },
        ],
      },
    ]);
  });

  test.each([
    ["a Ctrl+C rule for a command that exits by itself", `<!-- walkthrough\n\`tunnel ps\`: Ctrl+C once ready\n-->\n${fence}sh\ndatumctl connect tunnel ps\n${fence}`, "match no command of the block: `tunnel ps`"],
    ["a sh block without a marker", `text\n${fence}sh\nls\n${fence}`, "README.md:2: a sh block without a <!-- walkthrough ... --> marker"],
    ["another comment before it", `<!-- note -->\n${fence}sh\nls\n${fence}`, "is not a walkthrough marker"],
    ["an unknown rule", `<!-- walkthrough\n\`ls\`: run it twice\n-->\n${fence}sh\nls\n${fence}`, 'unknown walkthrough rule "run it twice"'],
    ["a rule that is not `text`: what", `<!-- walkthrough\nls: skip (x)\n-->\n${fence}sh\nls\n${fence}`, "a rule is `text`: what to do"],
    ["a rule that matches nothing", `<!-- walkthrough\n\`gone\`: skip (x)\n-->\n${fence}sh\nls\n${fence}`, "match no command of the block: `gone`"],
    ["a placeholder that matches nothing", `<!-- walkthrough\n\`t-1\`: the tunnel of 127.0.0.1:1\n-->\n${fence}sh\nls\n${fence}`, "`t-1`"],
    ["a Ctrl+C after a step that is not there", `<!-- walkthrough\n\`ls\`: in another terminal; Ctrl+C after \`stop\`\n-->\n${fence}sh\nls\n${fence}`, "`stop`"],
    ["a skipped block with rules", `<!-- walkthrough: skip (x)\n\`ls\`: exits 1\n-->\n${fence}sh\nls\n${fence}`, "a skipped block takes no rules"],
    ["a block head other than skip", `<!-- walkthrough: exits 1 -->\n${fence}sh\nls\n${fence}`, 'takes only "skip (reason)"'],
    ["an unclosed block", `<!-- walkthrough -->\n${fence}sh\nls\n`, "unclosed code block"],
  ])("%s is an error", (_what, readme, message) => {
    expect(() => parseWalkthrough(readme)).toThrow(message);
  });
});
