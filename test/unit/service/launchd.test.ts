/**
 * The launchd backend: the plist is well-formed XML (a strict checker below: one root, balanced
 * tags, quoted attributes, only the predefined and numeric entities, no stray `<` or `&`), it is a
 * property list with exactly the expected keys and values (parsed back to plain values), and the
 * `launchctl` argument vectors are exact. `plutil -lint` runs too where it exists (macOS).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  launchctlRestart,
  launchdBackend,
  launchdPlistDir,
  launchdState,
  parseLaunchctlPrint,
  parsePrintDisabled,
  renderLaunchdPlist,
  xmlText,
} from "../../../src/service/launchd.ts";
import { systemSpec, userSpec } from "./fixtures.ts";

// ---------- a strict little XML reader ----------

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_.:]*/;

function decodeEntities(text: string, at: number): string {
  return text.replace(/&([^;]*);?/g, (all, body: string) => {
    if (!all.endsWith(";")) throw new Error(`unterminated entity near offset ${at}`);
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (body in named) return named[body] as string;
    const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(body);
    if (num?.[1]) return String.fromCodePoint(num[1].startsWith("x") ? Number.parseInt(num[1].slice(1), 16) : Number(num[1]));
    throw new Error(`unknown entity &${body}; near offset ${at}`);
  });
}

/** Parse `xml` strictly; throws on anything not well-formed. Returns the root element. */
function parseXml(xml: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (why: string): never => {
    throw new Error(`${why} at offset ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  if (xml.startsWith("<?xml")) {
    const end = xml.indexOf("?>");
    if (end < 0) fail("unterminated XML declaration");
    if (!/^<\?xml version="1\.0"( encoding="UTF-8")?\?>$/.test(xml.slice(0, end + 2))) fail("bad XML declaration");
    i = end + 2;
  }
  while (i < xml.length) {
    if (xml.startsWith("<!--", i)) {
      const end = xml.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      if (xml.slice(i + 4, end).includes("--")) fail("'--' inside a comment");
      i = end + 3;
    } else if (xml.startsWith("<!DOCTYPE", i)) {
      if (root || stack.length) fail("DOCTYPE after the root element");
      const end = xml.indexOf(">", i);
      if (end < 0) fail("unterminated DOCTYPE");
      i = end + 1;
    } else if (xml.startsWith("</", i)) {
      const m = NAME.exec(xml.slice(i + 2));
      if (!m) fail("bad end tag");
      const name = (m as RegExpExecArray)[0];
      i += 2 + name.length;
      while (/\s/.test(xml[i] ?? "")) i++;
      if (xml[i] !== ">") fail("bad end tag");
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) fail(`</${name}> does not close <${open?.name ?? "nothing"}>`);
    } else if (xml[i] === "<") {
      const m = NAME.exec(xml.slice(i + 1));
      if (!m) fail("bad start tag");
      const el: XmlElement = { name: (m as RegExpExecArray)[0], attrs: {}, children: [] };
      i += 1 + el.name.length;
      for (;;) {
        const ws = /^\s*/.exec(xml.slice(i))?.[0].length ?? 0;
        i += ws;
        if (xml.startsWith("/>", i) || xml[i] === ">") break;
        if (ws === 0) fail("attributes must be separated by blanks");
        const a = /^([A-Za-z_:][-A-Za-z0-9_.:]*)="([^"<]*)"/.exec(xml.slice(i));
        if (!a?.[1]) fail("bad attribute (unquoted, or '<' inside)");
        const [all, key, value] = a as RegExpExecArray;
        if ((key as string) in el.attrs) fail(`duplicate attribute ${key}`);
        el.attrs[key as string] = decodeEntities(value as string, i);
        i += all.length;
      }
      const selfClosing = xml.startsWith("/>", i);
      i += selfClosing ? 2 : 1;
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) fail("a second root element");
      else root = el;
      if (!selfClosing) stack.push(el);
    } else {
      const next = xml.indexOf("<", i);
      const raw = xml.slice(i, next < 0 ? xml.length : next);
      if (raw.includes(">") && raw.includes("]]>")) fail("']]>' in text");
      const text = decodeEntities(raw, i);
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(text);
      else if (text.trim() !== "") fail("text outside the root element");
      i += raw.length;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]?.name}>`);
  if (!root) throw new Error("no root element");
  return root;
}

type Plist = string | number | boolean | Plist[] | { [key: string]: Plist };

function elements(el: XmlElement): XmlElement[] {
  for (const c of el.children) if (typeof c === "string" && c.trim() !== "") throw new Error(`stray text in <${el.name}>: ${JSON.stringify(c)}`);
  return el.children.filter((c): c is XmlElement => typeof c !== "string");
}

function text(el: XmlElement): string {
  if (el.children.some((c) => typeof c !== "string")) throw new Error(`<${el.name}> holds elements`);
  return el.children.join("");
}

/** A plist value element → a plain value (the subset launchd job plists use). */
function plistValue(el: XmlElement): Plist {
  switch (el.name) {
    case "string":
      return text(el);
    case "integer":
      if (!/^-?\d+$/.test(text(el))) throw new Error(`bad integer ${text(el)}`);
      return Number(text(el));
    case "true":
    case "false":
      if (el.children.length) throw new Error(`<${el.name}/> must be empty`);
      return el.name === "true";
    case "array":
      return elements(el).map(plistValue);
    case "dict": {
      const kids = elements(el);
      const out: Record<string, Plist> = {};
      for (let k = 0; k < kids.length; k += 2) {
        const key = kids[k] as XmlElement;
        const value = kids[k + 1];
        if (key.name !== "key" || !value) throw new Error("a <dict> alternates <key> and a value");
        if (text(key) in out) throw new Error(`duplicate key ${text(key)}`);
        out[text(key)] = plistValue(value);
      }
      return out;
    }
    default:
      throw new Error(`unexpected <${el.name}> in a plist`);
  }
}

function parsePlist(xml: string): Plist {
  const root = parseXml(xml);
  if (root.name !== "plist" || root.attrs.version !== "1.0") throw new Error("root must be <plist version=\"1.0\">");
  const [only, ...more] = elements(root);
  if (!only || more.length) throw new Error("<plist> holds exactly one value");
  return plistValue(only);
}

// ---------- tests ----------

describe("the XML checker itself", () => {
  test.each([
    ["<a><b></a></b>", /does not close/],
    ["<a>1 < 2</a>", /bad start tag/],
    ["<a>AT&T</a>", /entity/],
    ["<a x=1></a>", /bad attribute/],
    ["<a></a><b/>", /second root/],
    ["<a>", /unclosed/],
    ["<a>&bogus;</a>", /unknown entity/],
  ])("rejects %p", (xml, why) => {
    expect(() => parseXml(xml)).toThrow(why);
  });
  test("accepts escaped text and reads it back", () => {
    expect(parseXml('<a k="&quot;">x &amp; &lt;y&gt; &#65;&#x42;</a>')).toEqual({ name: "a", attrs: { k: '"' }, children: ["x & <y> AB"] });
  });
});

describe("the plist", () => {
  test("user LaunchAgent: well-formed, exactly the expected keys and values", () => {
    const xml = renderLaunchdPlist(userSpec());
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN"')).toBe(true);
    expect(parsePlist(xml)).toEqual({
      Label: "datumctl-connect-user-prod-app",
      ProgramArguments: ["/usr/local/bin/datumctl-connect", "tunnel", "run", "--name", "prod-app"],
      EnvironmentVariables: {
        DATUM_CREDENTIALS_HELPER: "/usr/bin/datumctl",
        DATUM_CONNECT_DIR: "/home/alice/.local/share/datumctl/connect",
      },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 5,
      ExitTimeOut: 45,
      ProcessType: "Background",
      StandardOutPath: "/home/alice/.local/share/datumctl/connect/tunnels/prod-app/logs/launchd.stdout.log",
      StandardErrorPath: "/home/alice/.local/share/datumctl/connect/tunnels/prod-app/logs/launchd.stderr.log",
    });
  });

  test("system LaunchDaemon: --system, UserName and HOME", () => {
    const doc = parsePlist(renderLaunchdPlist(systemSpec())) as Record<string, Plist>;
    expect(doc.Label).toBe("datumctl-connect-system-prod-app");
    expect(doc.ProgramArguments).toEqual(["/usr/local/bin/datumctl-connect", "tunnel", "run", "--name", "prod-app", "--system"]);
    expect(doc.UserName).toBe("root");
    expect((doc.EnvironmentVariables as Record<string, Plist>).HOME).toBe("/root");
  });

  test("markup in paths and labels is escaped, and reads back unchanged", () => {
    const spec = userSpec({ executable: "/opt/a&b <c> \"d\" 'e'/datumctl-connect", endpoint: "http://127.0.0.1:3000" });
    const doc = parsePlist(renderLaunchdPlist(spec)) as Record<string, Plist>;
    expect((doc.ProgramArguments as Plist[])[0]).toBe("/opt/a&b <c> \"d\" 'e'/datumctl-connect");
    expect(() => xmlText("bell\u0007")).toThrow(/property list/);
  });

  const plutil = Bun.which("plutil");
  if (!plutil) console.log("skip: plutil not found (macOS only); the plist is checked by the strict XML reader instead");
  test.skipIf(!plutil)("plutil -lint accepts it", () => {
    const dir = mkdtempSync(join(tmpdir(), "plist-"));
    try {
      const file = join(dir, "job.plist");
      writeFileSync(file, renderLaunchdPlist(systemSpec()));
      const r = Bun.spawnSync([plutil as string, "-lint", file]);
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("launchctl", () => {
  const b = launchdBackend({ env: {}, home: "/Users/alice", uid: 501 });
  test("paths", () => {
    expect(b.unitPath("user", "prod-app")).toBe("/Users/alice/Library/LaunchAgents/datumctl-connect-user-prod-app.plist");
    expect(b.unitPath("system", "prod-app")).toBe("/Library/LaunchDaemons/datumctl-connect-system-prod-app.plist");
    expect(launchdPlistDir("user", { env: { DATUM_CONNECT_UNIT_DIR: "/tmp/u" }, home: "/Users/alice", uid: 501 })).toBe("/tmp/u");
  });

  test("argument vectors, user (gui/<uid>) and system domains", () => {
    expect(b.installPlan(userSpec())).toEqual([
      ["launchctl", "enable", "gui/501/datumctl-connect-user-prod-app"],
      ["launchctl", "bootstrap", "gui/501", "/Users/alice/Library/LaunchAgents/datumctl-connect-user-prod-app.plist"],
    ]);
    expect(b.installPlan(systemSpec())).toEqual([
      ["launchctl", "enable", "system/datumctl-connect-system-prod-app"],
      ["launchctl", "bootstrap", "system", "/Library/LaunchDaemons/datumctl-connect-system-prod-app.plist"],
    ]);
    expect(b.startPlan("user", "prod-app")).toEqual([["launchctl", "kickstart", "gui/501/datumctl-connect-user-prod-app"]]);
    expect(launchctlRestart("system", "prod-app", 0)).toEqual(["launchctl", "kickstart", "-k", "system/datumctl-connect-system-prod-app"]);
    expect(b.stopPlan("system", "prod-app")).toEqual([["launchctl", "kill", "SIGTERM", "system/datumctl-connect-system-prod-app"]]);
    expect(b.removePlan("user", "prod-app")).toEqual([["launchctl", "bootout", "gui/501/datumctl-connect-user-prod-app"]]);
    expect(b.queryPlan("user", "prod-app")).toEqual([
      ["launchctl", "print", "gui/501/datumctl-connect-user-prod-app"],
      ["launchctl", "print-disabled", "gui/501"],
    ]);
  });

  test("launchctl print / print-disabled are parsed", () => {
    const print = [
      "gui/501/datumctl-connect-user-prod-app = {",
      "\tactive count = 1",
      "\tpath = /Users/alice/Library/LaunchAgents/datumctl-connect-user-prod-app.plist",
      "\tstate = running",
      "",
      "\tprogram = /usr/local/bin/datumctl-connect",
      "\truns = 4",
      "\tpid = 812",
      "\tlast exit code = 69",
      "\tenvironment = {",
      "\t\tstate = nested-ignored",
      "\t}",
      "}",
    ].join("\n");
    expect(parseLaunchctlPrint(print)).toMatchObject({ state: "running", pid: "812", runs: "4", "last exit code": "69" });
    expect(parsePrintDisabled('disabled services = {\n\t"datumctl-connect-user-prod-app" => disabled\n}', "datumctl-connect-user-prod-app")).toBe(true);
    expect(parsePrintDisabled('\t"datumctl-connect-user-prod-app" => enabled', "datumctl-connect-user-prod-app")).toBe(false);
    const state = b.parseQuery([{ code: 0, stdout: print, stderr: "" }, { code: 0, stdout: "", stderr: "" }], "user", "prod-app");
    expect(state).toMatchObject({ reachable: true, loaded: true, enabled: true, active: "active", sub: "running", exitStatus: 69, pid: 812, restarts: 4 });
    expect(launchdState({ code: 113, stdout: "", stderr: "Could not find service" }, undefined, "x")).toMatchObject({ loaded: false, active: "inactive" });
  });
});
