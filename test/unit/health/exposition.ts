/**
 * A strict line-by-line validator for Prometheus text exposition format 0.0.4, for tests only
 * (the product renders, it never parses). It throws on the first violation with the line number,
 * and returns the samples so tests can look values up.
 *
 * Checked: `# HELP` / `# TYPE` syntax and escapes; at most one of each per family, both before
 * that family's first sample (required here: our renderer always writes them); metric and label
 * name syntax; label values with only `\\`, `\"`, `\n` escapes; no repeated label name; float
 * values (Go `ParseFloat` forms, `NaN`, `±Inf`); optional integer timestamp; a family's samples
 * contiguous; no duplicate series; counter families named `*_total` with samples under exactly
 * that name and non-negative values; the text ends with a line feed.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly families: ReadonlyMap<string, { type: string; help: string }>;
  readonly samples: readonly Sample[];
  /** The value of the one series with exactly these labels, or undefined. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|NaN)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",")}}`;
}

function parseFloatValue(text: string): number {
  if (!FLOAT.test(text)) throw new Error(`bad value ${JSON.stringify(text)}`);
  if (/^[+-]?Inf$/.test(text)) return text.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (/^[+-]?NaN$/.test(text)) return Number.NaN;
  return Number(text);
}

/** The family a sample name belongs to (histogram/summary suffixes). */
function familyOf(name: string, families: ReadonlyMap<string, { type: string }>): string {
  if (families.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = families.get(base)?.type;
      if (t === "histogram" || (t === "summary" && suffix !== "_bucket")) return base;
    }
  }
  return name;
}

/** Parses `{a="x",b="y"}` starting at `line[start] === "{"`; returns the labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (line[i] === "}") return { labels, end: i + 1 };
    const nameMatch = /^[^=]*/.exec(line.slice(i));
    const name = nameMatch?.[0] ?? "";
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)}`);
    if (Object.hasOwn(labels, name)) throw new Error(`repeated label ${name}`);
    i += name.length;
    if (line[i] !== "=" || line[i + 1] !== '"') throw new Error(`label ${name}: expected ="`);
    i += 2;
    let value = "";
    for (;;) {
      const ch = line[i];
      if (ch === undefined) throw new Error(`label ${name}: unterminated value`);
      if (ch === '"') break;
      if (ch === "\\") {
        const next = line[i + 1];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else throw new Error(`label ${name}: bad escape \\${next ?? ""}`);
        i += 2;
        continue;
      }
      value += ch;
      i++;
    }
    labels[name] = value;
    i++;
    if (line[i] === ",") {
      i++;
      continue;
    }
    if (line[i] !== "}") throw new Error(`after label ${name}: expected , or }`);
  }
}

function checkHelpText(text: string): void {
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "\\") continue;
    const next = text[i + 1];
    if (next !== "\\" && next !== "n") throw new Error(`HELP: bad escape \\${next ?? ""}`);
    i++;
  }
}

export function parseExposition(text: string): Exposition {
  if (text !== "" && !text.endsWith("\n")) throw new Error("exposition does not end with a line feed");
  const families = new Map<string, { type: string; help: string; hasHelp: boolean; hasType: boolean; sampled: boolean }>();
  const samples: Sample[] = [];
  const series = new Map<string, number>();
  const closed = new Set<string>();
  let current: string | undefined;

  const enter = (family: string): void => {
    if (current === family) return;
    if (closed.has(family)) throw new Error(`family ${family} is not contiguous`);
    if (current !== undefined) closed.add(current);
    current = family;
  };
  const familyEntry = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { type: "untyped", help: "", hasHelp: false, hasType: false, sampled: false };
      families.set(name, f);
    }
    return f;
  };

  const lines = text.split("\n");
  lines.pop(); // the empty string after the final line feed
  lines.forEach((line, index) => {
    const at = `line ${index + 1}: ${JSON.stringify(line)}`;
    try {
      if (line.trim() === "") return;
      if (line.startsWith("#")) {
        const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
        if (!m) return; // any other comment
        const [, keyword, name = "", rest = ""] = m;
        if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
        enter(name);
        const f = familyEntry(name);
        if (f.sampled) throw new Error(`${keyword} for ${name} after its samples`);
        if (keyword === "HELP") {
          if (f.hasHelp) throw new Error(`second HELP for ${name}`);
          checkHelpText(rest);
          f.hasHelp = true;
          f.help = rest.replace(/\\(\\|n)/g, (_s, c: string) => (c === "n" ? "\n" : "\\"));
        } else {
          if (f.hasType) throw new Error(`second TYPE for ${name}`);
          if (!TYPES.has(rest)) throw new Error(`bad type ${JSON.stringify(rest)}`);
          if (rest === "counter" && !name.endsWith("_total")) throw new Error(`counter ${name} does not end in _total`);
          f.hasType = true;
          f.type = rest;
        }
        return;
      }

      const nameMatch = /^[^\s{]+/.exec(line);
      const name = nameMatch?.[0] ?? "";
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
      let i = name.length;
      let labels: Record<string, string> = {};
      if (line[i] === "{") ({ labels, end: i } = parseLabels(line, i));
      const tail = line.slice(i);
      const m = /^[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(tail);
      if (!m) throw new Error(`expected " value [timestamp]" after the series, got ${JSON.stringify(tail)}`);
      const value = parseFloatValue(m[1] ?? "");

      const familyName = familyOf(name, families);
      const family = families.get(familyName);
      if (!family?.hasHelp || !family.hasType) throw new Error(`sample of ${familyName} before its HELP and TYPE`);
      enter(familyName);
      if (family.type === "counter") {
        if (name !== familyName) throw new Error(`counter sample ${name} outside its family ${familyName}`);
        if (!(value >= 0)) throw new Error(`counter ${name} is ${value}`);
      }
      family.sampled = true;
      const key = seriesKey(name, labels);
      if (series.has(key)) throw new Error(`duplicate series ${key}`);
      series.set(key, value);
      samples.push({ name, labels, value });
    } catch (err) {
      throw new Error(`${at}: ${(err as Error).message}`);
    }
  });

  return {
    families: new Map([...families].map(([k, f]) => [k, { type: f.type, help: f.help }])),
    samples,
    value: (name, labels = {}) => series.get(seriesKey(name, labels)),
  };
}
