/**
 * The README's shell examples as a walkthrough (pure parsing; test/e2e/readme-walkthrough.test.ts
 * runs it). Every ```sh block in the README carries a marker, an HTML comment right before it, so
 * the README itself says what the test does with each example:
 *
 *     <!-- walkthrough: skip (needs systemd) -->          the whole block is left out, and why
 *
 *     <!-- walkthrough (a note for the reader)             every line runs, top to bottom, with
 *     `tunnel-7xk2p`: the tunnel of 127.0.0.1:3000         a placeholder resolved at first use
 *     `listen --endpoint`: Ctrl+C once ready               a foreground command, stopped once ready
 *     `listen --id`: in another terminal; Ctrl+C after `tunnel disable`
 *     `jq`: up to the pipe (jq is not among the test's tools)
 *     `curl "$(`: fetches the URL printed above
 *     `sudo`: skip (needs root)
 *     `tunnel logs --bogus`: exits 2
 *     -->
 *
 * A rule applies to the command lines that contain its backquoted text; for each line the first
 * matching step rule wins (placeholders apply to every line). The rules that say when to Ctrl+C
 * apply only to the lines that run until Ctrl+C, so `tunnel up` can name the foreground `up`
 * without also naming `tunnel up --detach`. A rule that matches no line is an error, so markers
 * cannot go stale silently.
 *
 * A here-document that writes a file (`cat > FILE <<'EOF'` ... `EOF`, or `cat >>` to append) is a
 * step of its own: the walkthrough writes its lines, as printed, into FILE in the session's
 * working directory. Its delimiter is quoted, as the shell would otherwise expand `$` in it.
 */

export type Directive =
  | { readonly kind: "skip"; readonly reason: string }
  | { readonly kind: "exits"; readonly code: number }
  /** A command that runs until Ctrl+C: stopped once ready (listen: its ready line; up: a `name URL` line per service; others: a first line). */
  | { readonly kind: "ctrl-c-once-ready" }
  /** A command that runs until Ctrl+C, kept running while later lines run; Ctrl+C after `after`, else at the block's end. */
  | { readonly kind: "another-terminal"; readonly after?: string }
  | { readonly kind: "up-to-pipe"; readonly reason: string }
  | { readonly kind: "printed-url" };

export interface Placeholder {
  readonly text: string;
  /** `host:port`: the placeholder stands for the id of the project's tunnel with this endpoint. */
  readonly endpoint: string;
}

export interface Step {
  /** 1-based line in the README where the command starts. */
  readonly line: number;
  /** The command as the README prints it, continuation lines joined, comment dropped. */
  readonly text: string;
  /** The lines of its here-document, verbatim, each ending in a newline. */
  readonly heredoc?: string;
  readonly directive?: Directive;
}

export interface Block {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** Set when the whole block is left out. */
  readonly skip?: string;
  readonly placeholders: readonly Placeholder[];
  readonly steps: readonly Step[];
}

export type Command =
  | { readonly kind: "cli"; readonly args: readonly string[] }
  | { readonly kind: "curl"; readonly url?: string }
  /** `cat > FILE <<'EOF'` (or `>>`, appending): write the here-document into FILE. */
  | { readonly kind: "write"; readonly file: string; readonly append: boolean; readonly text: string }
  | { readonly kind: "other" };

/** The ways the README invokes the CLI, longest first. */
export const CLI_PREFIXES = [["npx", "--", "datumctl-connect"], ["datumctl", "connect"], ["datumctl-connect"]] as const;

const MARKER = /^<!--\s*walkthrough\b:?[ \t]*([\s\S]*?)\s*-->$/;
const RULE = /^`([^`]+)`:\s*(.+)$/;

function parseDirective(text: string, where: string): Directive | Placeholder["endpoint"] {
  const t = text.trim();
  let m = /^skip \((.+)\)$/.exec(t);
  if (m) return { kind: "skip", reason: m[1] as string };
  m = /^exits (\d+)$/.exec(t);
  if (m) return { kind: "exits", code: Number(m[1]) };
  if (t === "Ctrl+C once ready") return { kind: "ctrl-c-once-ready" };
  m = /^in another terminal; Ctrl\+C (?:after `([^`]+)`|at the end of the block)$/.exec(t);
  if (m) return m[1] !== undefined ? { kind: "another-terminal", after: m[1] } : { kind: "another-terminal" };
  m = /^up to the pipe \((.+)\)$/.exec(t);
  if (m) return { kind: "up-to-pipe", reason: m[1] as string };
  if (t === "fetches the URL printed above") return { kind: "printed-url" };
  m = /^the tunnel of (\S+:\d+)$/.exec(t);
  if (m) return m[1] as string;
  throw new Error(`${where}: unknown walkthrough rule "${t}"`);
}

/** A command line that ends in a here-document operator: `<<'EOF'`, `<<"EOF"`, `<<EOF`, `<<-EOF`. */
const HEREDOC = /<<(-?)[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2$/;

/**
 * Join `\` continuations and drop comments and blank lines: one entry per command, with its line.
 * A here-document's lines, up to its delimiter, belong to the command that opens it (verbatim:
 * nothing in them is a comment).
 */
export function commandLines(body: readonly string[], firstLine: number): { line: number; text: string; heredoc?: string }[] {
  const out: { line: number; text: string; heredoc?: string }[] = [];
  let pending: { line: number; text: string } | undefined;
  for (let i = 0; i < body.length; i++) {
    const text = stripComment(body[i] as string).trimEnd();
    const continued = text.endsWith("\\");
    const piece = (continued ? text.slice(0, -1) : text).trim();
    if (pending) pending.text += ` ${piece}`;
    else if (piece !== "") pending = { line: firstLine + i, text: piece };
    if (continued || !pending) continue;
    const command = { line: pending.line, text: pending.text.trim() };
    pending = undefined;
    const doc = HEREDOC.exec(command.text);
    if (!doc) {
      out.push(command);
      continue;
    }
    const [, dash, quote, delimiter] = doc;
    const lines: string[] = [];
    for (i++; i < body.length && (dash ? (body[i] as string).replace(/^\t+/, "") : body[i]) !== delimiter; i++) {
      lines.push(dash ? (body[i] as string).replace(/^\t+/, "") : (body[i] as string));
    }
    if (i >= body.length) throw new Error(`README.md:${command.line}: the here-document has no closing ${delimiter} line`);
    const heredoc = lines.map((l) => `${l}\n`).join("");
    if (!quote && /[$`\\]/.test(heredoc)) {
      throw new Error(`README.md:${command.line}: an unquoted here-document with $, \` or \\ in it: quote its delimiter (<<'${delimiter}') so it is written as printed`);
    }
    out.push({ ...command, heredoc });
  }
  if (pending) out.push(pending);
  return out;
}

/** Drop a `#` comment that starts a word outside quotes. */
export function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1] as string))) return line.slice(0, i);
  }
  return line;
}

/** Split a command into words as sh would for plain words and quotes; operators (`|`, `&`, `;`, `&&`) are words of their own. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const push = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (/\s/.test(c)) push();
    else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${text}`);
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let acc = "";
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && /["\\$`]/.test(text[j + 1] ?? "")) j++;
        acc += text[j];
      }
      if (j >= text.length) throw new Error(`unterminated quote in: ${text}`);
      word = (word ?? "") + acc;
      i = j;
    } else if (c === "\\") {
      word = (word ?? "") + (text[i + 1] ?? "");
      i++;
    } else if (c === "|" || c === ";" || c === "&") {
      push();
      const op = text[i + 1] === c && c !== ";" ? c + c : c;
      words.push(op);
      i += op.length - 1;
    } else word = (word ?? "") + c;
  }
  push();
  return words;
}

const OPERATORS = new Set(["|", "||", "&", "&&", ";"]);

/**
 * What a command line is to the walkthrough: the CLI (with its arguments), curl, a file written
 * from its here-document, or something else.
 */
export function classify(text: string, directive?: Directive, heredoc?: string): Command {
  if (heredoc !== undefined) {
    const words = shellWords(text.replace(HEREDOC, ""));
    if (words.length === 3 && words[0] === "cat" && (words[1] === ">" || words[1] === ">>")) {
      return { kind: "write", file: words[2] as string, append: words[1] === ">>", text: heredoc };
    }
    return { kind: "other" };
  }
  let words = shellWords(text);
  if (directive?.kind === "up-to-pipe") {
    const pipe = words.indexOf("|");
    if (pipe < 0) throw new Error(`"up to the pipe" on a line without one: ${text}`);
    words = words.slice(0, pipe);
  }
  if (words.some((w) => OPERATORS.has(w))) return { kind: "other" };
  for (const prefix of CLI_PREFIXES) {
    if (prefix.every((p, i) => words[i] === p)) return { kind: "cli", args: words.slice(prefix.length) };
  }
  if (words[0] === "curl") {
    if (directive?.kind === "printed-url") return { kind: "curl" };
    const url = words.slice(1).find((w) => !w.startsWith("-"));
    if (url === undefined || url.includes("$(")) return { kind: "other" };
    return { kind: "curl", url: /^https?:\/\//.test(url) ? url : `http://${url}` };
  }
  return { kind: "other" };
}

/**
 * A CLI command that runs until Ctrl+C: a foreground `tunnel listen` or `tunnel up`, `tunnel logs
 * --follow` (`-f`), or anything else with `--follow`.
 */
export function runsUntilInterrupted(args: readonly string[]): boolean {
  const detached = args.includes("--detach") || args.includes("-d");
  if (args[0] === "tunnel" && (args[1] === "listen" || args[1] === "up")) return !detached;
  if (args[0] === "tunnel" && args[1] === "logs" && args.includes("-f")) return true;
  return args.includes("--follow");
}

/** The values of `key:` in a YAML text written as the README writes it (`key: v`, `- key: v`), comments dropped. */
export function yamlValues(text: string, key: string): string[] {
  const values: string[] = [];
  const pattern = new RegExp(`^\\s*(?:-\\s+)?${key}:\\s*(\\S.*?)\\s*$`);
  for (const line of text.split("\n")) {
    const m = pattern.exec(stripComment(line));
    if (m?.[1]) values.push(m[1].replace(/^(['"])(.*)\1$/, "$2"));
  }
  return values;
}

/** The value of `--flag V` or `--flag=V` in `args`. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i]?.startsWith(`${flag}=`)) return args[i]?.slice(flag.length + 1);
  }
  return undefined;
}

/** The rules that say when a command that runs until Ctrl+C gets it. */
function saysWhenToStop(d: Directive): boolean {
  return d.kind === "ctrl-c-once-ready" || d.kind === "another-terminal";
}

/**
 * Every ```sh block of `readme` with its marker, in order. Throws naming the line of a block with
 * no marker, an unknown rule, or a rule that matches no command of its block.
 */
export function parseWalkthrough(readme: string): Block[] {
  const lines = readme.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```(\S*)/.exec(lines[i] as string);
    if (!fence) continue;
    const close = lines.findIndex((l, j) => j > i && /^\s*```\s*$/.test(l));
    if (close < 0) throw new Error(`README.md:${i + 1}: unclosed code block`);
    const lang = fence[2];
    const body = lines.slice(i + 1, close);
    const fenceLine = i + 1;
    i = close;
    if (lang !== "sh") continue;

    // The marker: the HTML comment that ends on the line before the fence (blank lines allowed).
    let end = fenceLine - 2;
    while (end >= 0 && (lines[end] as string).trim() === "") end--;
    if (end < 0 || !(lines[end] as string).trim().endsWith("-->")) throw new Error(`README.md:${fenceLine}: a sh block without a <!-- walkthrough ... --> marker`);
    let start = end;
    while (start > 0 && !(lines[start] as string).includes("<!--")) start--;
    const comment = lines.slice(start, end + 1).join("\n").trim();
    const m = MARKER.exec(comment);
    if (!m) throw new Error(`README.md:${fenceLine}: the comment before this sh block is not a walkthrough marker`);
    const [head = "", ...ruleLines] = (m[1] as string).split("\n").map((l) => l.trim());
    const where = `README.md:${start + 1}`;

    // The head is empty, a note in parentheses for the reader, or "skip (reason)".
    const blockDirective = head === "" || /^\(.*\)$/.test(head) ? undefined : parseDirective(head, where);
    if (typeof blockDirective === "string" || (blockDirective && blockDirective.kind !== "skip")) {
      throw new Error(`${where}: a block marker takes only "skip (reason)"`);
    }
    const commands = commandLines(body, fenceLine + 1);
    if (blockDirective) {
      if (ruleLines.some((l) => l !== "")) throw new Error(`${where}: a skipped block takes no rules`);
      blocks.push({ line: fenceLine, skip: blockDirective.reason, placeholders: [], steps: commands });
      continue;
    }

    const placeholders: Placeholder[] = [];
    const rules: { pattern: string; directive: Directive; used: boolean }[] = [];
    for (const rule of ruleLines) {
      if (rule === "") continue;
      const r = RULE.exec(rule);
      if (!r) throw new Error(`${where}: a rule is \`text\`: what to do, not "${rule}"`);
      const d = parseDirective(r[2] as string, where);
      if (typeof d === "string") placeholders.push({ text: r[1] as string, endpoint: d });
      else rules.push({ pattern: r[1] as string, directive: d, used: false });
    }
    const steps = commands.map((c): Step => {
      const interrupted = () => {
        const cmd = classify(c.text, undefined, c.heredoc);
        return cmd.kind === "cli" && runsUntilInterrupted(cmd.args);
      };
      const rule = rules.find((r) => c.text.includes(r.pattern) && (!saysWhenToStop(r.directive) || interrupted()));
      if (!rule) return c;
      rule.used = true;
      return { ...c, directive: rule.directive };
    });
    const stale = [
      ...rules.filter((r) => !r.used).map((r) => r.pattern),
      ...placeholders.filter((p) => !commands.some((c) => c.text.includes(p.text))).map((p) => p.text),
    ];
    for (const r of rules) {
      if (r.directive.kind === "another-terminal" && r.directive.after !== undefined) {
        const after = r.directive.after;
        if (!commands.some((c) => c.text.includes(after))) stale.push(after);
      }
    }
    if (stale.length > 0) throw new Error(`${where}: walkthrough rules that match no command of the block: ${stale.map((s) => `\`${s}\``).join(", ")}`);
    blocks.push({ line: fenceLine, placeholders, steps });
  }
  return blocks;
}

/** The `name URL` lines `tunnel up` prints on stdout once its group has settled (docs/groups.md#output). */
export function serviceUrlLines(stdout: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const m = /^([a-z0-9][a-z0-9-]*) (https?:\/\/\S+)$/.exec(line.trim());
    if (m?.[1] && m[2]) lines.set(m[1], m[2]);
  }
  return lines;
}

/** The services `tunnel reload` says it added, removed (disabled or deleted) and changed. */
export function reloadSummary(stdout: string): { added: string[]; removed: string[]; changed: string[] } {
  const names = (label: RegExp) => {
    const line = stdout.split("\n").find((l) => label.test(l));
    return line ? line.replace(label, "").split(",").map((n) => n.trim()).filter((n) => n !== "") : [];
  };
  return {
    added: names(/^added:/),
    removed: [...names(/^removed \([^)]*\):/), ...names(/^deleted:/)],
    changed: names(/^changed:/),
  };
}

/** The services a group's output says it disabled: `app: Tunnel disabled.`, or a `tunnel_disabled` event with `"service": "app"`. */
export function disabledServices(output: string): Set<string> {
  const services = new Set<string>();
  for (const line of output.split("\n")) {
    const plain = /^([a-z0-9][a-z0-9-]*): Tunnel disabled\.$/.exec(line.trim());
    if (plain?.[1]) services.add(plain[1]);
    if (!line.startsWith("{")) continue;
    try {
      const event = JSON.parse(line) as { type?: unknown; service?: unknown };
      if (event.type === "tunnel_disabled" && typeof event.service === "string") services.add(event.service);
    } catch {
      // not an event line
    }
  }
  return services;
}
