/**
 * What Bun's YAML parser does not say about a group file (docs/groups.md#the-file), read from the text:
 * on which line a syntax error is (its errors carry no position), and which mapping keys are given twice
 * (it keeps the last silently, so a second `tunnels:` would hide the first list). Pure.
 */

/**
 * The 1-based line from which `text` no longer parses: one past the longest prefix of whole lines that
 * `parse` accepts. Undefined when the text parses, or is too long to search (it is parsed once per line).
 */
export function syntaxErrorLine(text: string, parse: (text: string) => unknown, maxLines = 2000): number | undefined {
  const lines = text.split(/\r?\n/);
  if (lines.length > maxLines || parses(text, parse)) return undefined;
  for (let n = lines.length - 1; n > 0; n--) {
    if (parses(lines.slice(0, n).join("\n"), parse)) return n + 1;
  }
  return 1;
}

function parses(text: string, parse: (text: string) => unknown): boolean {
  try {
    parse(text);
    return true;
  } catch {
    return false;
  }
}

export interface DuplicateKey {
  readonly key: string;
  /** Where it is first given and where again (1-based). */
  readonly lines: readonly [number, number];
  /** The index in `tunnels` of the service it is in; undefined at the top level. */
  readonly item?: number;
  /** That service's name as the text gives it (YAML keeps only the last `tunnels`, so the parsed list may not have it). */
  readonly service?: string;
}

/** A plain or quoted key at the start of a block-mapping line, with what follows its colon. */
const KEY_LINE = /^(?:([A-Za-z_][\w-]*)|"([^"\\]*)"|'([^']*)')[ \t]*:(?:[ \t]+(.*))?$/;
const DASH = /^-(?:[ \t]+|$)/;

/**
 * Keys given twice at the top level, and within one block-style item of `tunnels`. Flow-style mappings
 * (`{name: a}`) are not read; block scalars (`label: |`) are skipped, so their lines are never keys.
 */
export function findDuplicateKeys(text: string): DuplicateKey[] {
  const found: DuplicateKey[] = [];
  const top = new Map<string, number>();
  let inTunnels = false;
  let dashIndent = -1;
  let item = -1;
  let itemKeys: Map<string, number> | undefined;
  let itemIndent = -1;
  /** The service of the current item, its name filled in when the text gives it. */
  let service: { name?: string | undefined } = {};
  const itemDuplicates: { key: string; lines: [number, number]; item: number; service: { name?: string | undefined } }[] = [];
  /** Lines indented more than this belong to a block scalar. */
  let scalarAbove: number | undefined;

  const see = (keys: Map<string, number>, key: string, line: number, value?: string, at?: number) => {
    const first = keys.get(key);
    if (at !== undefined && key === "name" && first === undefined) service.name = scalarText(value);
    if (first === undefined) keys.set(key, line);
    else if (at === undefined) found.push({ key, lines: [first, line] });
    else itemDuplicates.push({ key, lines: [first, line], item: at, service });
  };

  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.trimStart();
    if (content === "" || content.startsWith("#")) return;
    const indent = raw.length - content.length;
    if (scalarAbove !== undefined) {
      if (indent > scalarAbove) return;
      scalarAbove = undefined;
    }
    if (indent === 0 && /^(---|\.\.\.)(\s|$)/.test(content)) return;

    const dash = DASH.exec(content);
    if (dash && inTunnels && (dashIndent === -1 || indent === dashIndent)) {
      dashIndent = indent;
      item += 1;
      itemKeys = new Map();
      service = {};
      itemIndent = indent + dash[0].length;
      const key = KEY_LINE.exec(content.slice(dash[0].length));
      if (key) {
        see(itemKeys, keyOf(key), line, key[4], item);
        if (isBlockScalar(key[4])) scalarAbove = itemIndent;
      }
      return;
    }
    const key = KEY_LINE.exec(content);
    if (indent === 0 && !dash) {
      if (!key) return;
      see(top, keyOf(key), line);
      inTunnels = keyOf(key) === "tunnels";
      dashIndent = -1;
      item = -1;
      itemKeys = undefined;
      if (isBlockScalar(key[4])) scalarAbove = 0;
      return;
    }
    if (key && itemKeys && indent === itemIndent) {
      see(itemKeys, keyOf(key), line, key[4], item);
      if (isBlockScalar(key[4])) scalarAbove = indent;
    }
  });
  for (const { service: { name }, ...d } of itemDuplicates) found.push(name === undefined ? d : { ...d, service: name });
  return found;
}

/** A plain or quoted one-line scalar without its comment; undefined for anything else. */
function scalarText(value: string | undefined): string | undefined {
  const text = value?.replace(/\s+#.*$/, "").trim();
  if (!text) return undefined;
  const quoted = /^"([^"\\]*)"$|^'([^']*)'$/.exec(text);
  if (quoted) return quoted[1] ?? quoted[2];
  return /^[\w.-]+$/.test(text) ? text : undefined;
}

function keyOf(match: RegExpExecArray): string {
  return (match[1] ?? match[2] ?? match[3]) as string;
}

/** `|`, `>-`, `|2+`…, optionally followed by a comment. */
function isBlockScalar(value: string | undefined): boolean {
  return value !== undefined && /^[|>][-+0-9]*(\s+#.*)?\s*$/.test(value);
}
