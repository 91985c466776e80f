/**
 * A group file (docs/groups.md#the-file): the group's name, its optional project, session and health
 * address, and its services, each a name, a local endpoint and a label. `parseGroupFile` is pure and checks
 * the whole document before returning: every problem is collected, each naming the service (`tunnels[1]
 * (api)`) and the field, and the lot is one `Malformed` (exit 65) whose message is the first problem and
 * whose details list them all, one per line.
 */
import { readFile } from "node:fs/promises";
import { closest } from "../commands/resolve.ts";
import { CliError, Malformed, UsageError } from "../errors.ts";
import { parseHealthAddress } from "../health/address.ts";
import { assertSafeName, TUNNEL_NAME_RULE } from "../state/paths.ts";
import { checkEndpoint } from "../tunnel/endpoint-rules.ts";
import { findDuplicateKeys, syntaxErrorLine } from "./yaml-text.ts";

export const DEFAULT_GROUP_FILE = "datum-tunnels.yaml";

export interface GroupService {
  readonly name: string;
  /** Normalized (`normalizeEndpoint`) and accepted by the platform's rules (src/tunnel/endpoint-rules.ts). */
  readonly endpoint: string;
  /** The file's label, else `${group}/${service}`. */
  readonly label: string;
}

export interface GroupFile {
  readonly name: string;
  readonly project: string | null;
  readonly session: string | null;
  readonly health: string | null;
  readonly services: readonly GroupService[];
}

const GROUP_KEYS = ["name", "project", "session", "health", "tunnels"] as const;
const SERVICE_KEYS = ["name", "endpoint", "label"] as const;
const DOCS = "README.md#groups";
const NAME_RULE = `lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters (${TUNNEL_NAME_RULE})`;

/** One thing wrong with the file: where (`tunnels[1] (api): endpoint …`), and what to do when there is more to say than the docs. */
interface Problem {
  readonly text: string;
  readonly hint?: string;
}

type YamlMap = { readonly [key: string]: unknown };

function isMapping(value: unknown): value is YamlMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a YAML value is, for "must be a string, not …". */
function describe(value: unknown): string {
  if (value === null) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "number") return `the number ${value}`;
  if (typeof value === "boolean") return `the boolean ${value}`;
  return `a ${typeof value}`;
}

export function parseGroupFile(text: string, file: string): GroupFile {
  const problems: Problem[] = [];
  const group = check(text, problems);
  if (problems.length > 0 || group === undefined) throw malformed(file, problems);
  return group;
}

function malformed(file: string, problems: readonly Problem[]): Malformed {
  const [first] = problems as [Problem];
  const more = problems.length > 1 ? `; ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""} in the file` : "";
  const hint = `${first.hint ?? `fix ${file}`}${more} (the file's keys: ${DOCS})`;
  return new Malformed(`${file}: ${first.text}`, hint, problems.map((p) => `${file}: ${p.text}`).join("\n"));
}

/** The group, or `undefined` with `problems` filled in. */
function check(text: string, problems: Problem[]): GroupFile | undefined {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (err) {
    const reason = lowerFirst(String((err as Error).message).replace(/^YAML Parse error:\s*/, ""));
    const line = syntaxErrorLine(text, (prefix) => Bun.YAML.parse(prefix));
    problems.push({ text: `${line === undefined ? "" : `line ${line}: `}not valid YAML: ${reason}` });
    return undefined;
  }
  if (doc === null || doc === undefined) {
    problems.push({ text: "the file is empty", hint: `give the group a name and its tunnels, e.g. "name: web-stack" and "tunnels: [{name: app, endpoint: 127.0.0.1:3000}]"` });
    return undefined;
  }
  if (Array.isArray(doc) && isMultiDocument(text)) {
    problems.push({ text: `the file holds ${doc.length} YAML documents (separated by ---): a group file is one document`, hint: "remove the --- lines, or split the groups into files of their own" });
    return undefined;
  }
  if (!isMapping(doc)) {
    problems.push({ text: `the top level must be a mapping (name:, tunnels:), not ${describe(doc)}` });
    return undefined;
  }

  for (const dup of findDuplicateKeys(text)) {
    const where = dup.item === undefined ? "" : `tunnels[${dup.item}]${dup.service === undefined ? "" : ` (${dup.service})`}: `;
    problems.push({
      text: `${where}${dup.key} is given twice (lines ${dup.lines[0]} and ${dup.lines[1]}); YAML would keep only the last`,
      hint: dup.key === "tunnels" ? "put every service in one tunnels list" : `keep one ${dup.key} line`,
    });
  }
  unknownKeys(doc, GROUP_KEYS, "", problems);

  const name = groupName(doc.name, problems);
  const project = optionalString(doc, "project", "", problems, (value) => {
    try {
      assertSafeName("project", value);
      return undefined;
    } catch (err) {
      return converted(err, `project "${value}" is invalid`);
    }
  });
  const session = optionalString(doc, "session", "", problems, () => undefined);
  const health = optionalString(doc, "health", "", problems, (value) => {
    try {
      parseHealthAddress(value);
      return undefined;
    } catch (err) {
      const message = err instanceof CliError ? err.message.replace(/^invalid --health address /, "") : String(err);
      return { text: `health ${message}`, hint: err instanceof CliError ? err.hint : undefined };
    }
  }, (value) => (typeof value === "number" ? `write the address in quotes, e.g. health: "127.0.0.1:${value}"` : undefined));
  const services = serviceList(doc.tunnels, name ?? "", problems);

  if (problems.length > 0 || name === undefined || services === undefined) return undefined;
  return { name, project, session, health, services };
}

function groupName(value: unknown, problems: Problem[]): string | undefined {
  if (value === undefined || value === null) {
    problems.push({ text: "name is missing", hint: `give the group a name (name: web-stack): it names the group's identity and state; ${NAME_RULE}` });
    return undefined;
  }
  return validName(value, "", problems);
}

/** A group or service name: a string that is a valid tunnel name. */
function validName(value: unknown, where: string, problems: Problem[]): string | undefined {
  if (typeof value !== "string") {
    problems.push({ text: `${where}name must be a string, not ${describe(value)}`, hint: `a name is ${NAME_RULE}` });
    return undefined;
  }
  try {
    return assertSafeName("tunnel name", value);
  } catch {
    problems.push({ text: `${where}name "${value}" is invalid: ${NAME_RULE}`, hint: `e.g. "${suggestName(value)}"` });
    return undefined;
  }
}

/** A name that follows the rule, made from one that does not (`Web_Stack` → `web-stack`). */
function suggestName(value: string): string {
  const made = value.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+/, "").slice(0, 63).replace(/-+$/, "");
  return made === "" ? "web-stack" : made;
}

/**
 * An optional string key of `owner`: absent or empty (`key:`) is null; anything else must be a non-empty
 * string, trimmed, that `validate` accepts.
 */
function optionalString(
  owner: YamlMap,
  key: string,
  where: string,
  problems: Problem[],
  validate: (value: string) => Problem | undefined,
  typeHint: (value: unknown) => string | undefined = quoteHint(key),
): string | null {
  const value = owner[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") {
    problems.push({ text: `${where}${key} must be a string, not ${describe(value)}`, hint: typeHint(value) });
    return null;
  }
  const trimmed = value.trim();
  if (trimmed === "") {
    problems.push({ text: `${where}${key} is an empty string`, hint: `give a ${key} or remove the line` });
    return null;
  }
  const problem = validate(trimmed);
  if (problem) problems.push({ text: `${where}${problem.text}`, hint: problem.hint });
  return trimmed;
}

function quoteHint(key: string): (value: unknown) => string | undefined {
  return (value) => (typeof value === "number" || typeof value === "boolean" ? `write it in quotes: ${key}: "${value}"` : undefined);
}

function converted(err: unknown, text: string): Problem {
  if (err instanceof CliError) return { text: err.hint ? `${text}: ${err.hint}` : text };
  return { text: `${text}: ${String(err)}` };
}

function unknownKeys(owner: YamlMap, known: readonly string[], where: string, problems: Problem[]): void {
  for (const key of Object.keys(owner)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    problems.push({
      text: `${where}unknown key "${key}"${near ? `: did you mean ${near}?` : ""}`,
      hint: near ? `rename ${key} to ${near}` : `the keys here are ${known.join(", ")}`,
    });
  }
}

/** `tunnels[1] (api)`, or `tunnels[1]` when the item has no usable name. */
function serviceWhere(tunnels: unknown, index: number): string {
  const item = Array.isArray(tunnels) ? tunnels[index] : undefined;
  const name = isMapping(item) && typeof item.name === "string" && item.name.trim() !== "" ? ` (${item.name})` : "";
  return `tunnels[${index}]${name}`;
}

function serviceList(value: unknown, group: string, problems: Problem[]): GroupService[] | undefined {
  const example = `e.g. "tunnels: [{name: app, endpoint: 127.0.0.1:3000}]"`;
  if (value === undefined || value === null) {
    problems.push({ text: "tunnels is missing: a group serves at least one tunnel", hint: `list the services, each with a name and an endpoint, ${example}` });
    return undefined;
  }
  if (!Array.isArray(value)) {
    problems.push({ text: `tunnels must be a list of services, not ${describe(value)}`, hint: `write each service as a list item ("- name: app"), ${example}` });
    return undefined;
  }
  if (value.length === 0) {
    problems.push({ text: "tunnels is empty: a group serves at least one tunnel", hint: `list the services, each with a name and an endpoint, ${example}` });
    return undefined;
  }

  const services: GroupService[] = [];
  const byName = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  value.forEach((item: unknown, index) => {
    const where = `${serviceWhere(value, index)}: `;
    if (!isMapping(item)) {
      problems.push({ text: `${where}a service must be a mapping with name and endpoint, not ${describe(item)}`, hint: `write it as "- name: app" with "endpoint: 127.0.0.1:3000" under it` });
      return;
    }
    unknownKeys(item, SERVICE_KEYS, where, problems);

    let name: string | undefined;
    if (item.name === undefined || item.name === null) {
      problems.push({ text: `${where}name is missing`, hint: `give every service a name, unique in the file: ${NAME_RULE}` });
    } else {
      name = validName(item.name, where, problems);
      const earlier = name === undefined ? undefined : byName.get(name);
      if (name !== undefined && earlier !== undefined) {
        problems.push({ text: `${where}name "${name}" is already the name of tunnels[${earlier}]`, hint: "give every service a name of its own" });
        name = undefined;
      } else if (name !== undefined) {
        byName.set(name, index);
      }
    }

    const endpoint = serviceEndpoint(item.endpoint, where, problems);
    if (endpoint !== undefined) {
      const earlier = byOrigin.get(endpoint.origin);
      if (earlier !== undefined) {
        problems.push({
          text: `${where}endpoint "${endpoint.written}" is also the endpoint of ${serviceWhere(value, earlier)}`,
          hint: "two services cannot share a local origin: give each its own host:port, or keep one of them",
        });
      } else {
        byOrigin.set(endpoint.origin, index);
      }
    }

    const label = optionalString(item, "label", where, problems, (text) =>
      /[\u0000-\u001f\u007f]/.test(text) ? { text: `label ${JSON.stringify(text)} must be one line, without control characters`, hint: "write the label on one line" } : undefined,
    );
    if (name !== undefined && endpoint !== undefined) services.push({ name, endpoint: endpoint.endpoint, label: label ?? `${group}/${name}` });
  });
  return services;
}

interface ServiceEndpoint {
  /** As the user wrote it, for messages. */
  readonly written: string;
  /** Normalized, as stored. */
  readonly endpoint: string;
  /** host:port: two services on one are one origin, whatever the scheme or spelling. */
  readonly origin: string;
}

function serviceEndpoint(value: unknown, where: string, problems: Problem[]): ServiceEndpoint | undefined {
  if (value === undefined || value === null) {
    problems.push({ text: `${where}endpoint is missing`, hint: "give the local service as host:port or a URL with an explicit port, e.g. endpoint: 127.0.0.1:3000" });
    return undefined;
  }
  if (typeof value !== "string") {
    const hint =
      typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535
        ? `an endpoint names the host too: write it in quotes, e.g. endpoint: "127.0.0.1:${value}"`
        : "give the local service as host:port or a URL with an explicit port, e.g. endpoint: 127.0.0.1:3000";
    problems.push({ text: `${where}endpoint must be a string, not ${describe(value)}`, hint });
    return undefined;
  }
  const check = checkEndpoint(value);
  if (!check.ok) {
    problems.push({ text: `${where}endpoint "${value}": ${check.problem.message}`, hint: check.problem.hint });
    return undefined;
  }
  const host = check.value.host.replace(/\.$/, "");
  return { written: value.trim(), endpoint: check.value.endpoint, origin: `${host}:${check.value.port}` };
}

/** A top-level list that came from several `---` documents rather than a `- ` list. */
function isMultiDocument(text: string): boolean {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#") && !l.startsWith("%"));
  const markers = lines.filter((l) => /^---(\s|$)/.test(l)).length;
  return markers >= 2 || (markers === 1 && !/^---(\s|$)/.test(lines[0] ?? ""));
}

function lowerFirst(text: string): string {
  return text.length > 0 ? (text[0] as string).toLowerCase() + text.slice(1) : text;
}

/**
 * The file at `path` and what it says. A file that cannot be read is a usage error (exit 2): the
 * path is the user's; one that says something wrong is `Malformed` (exit 65) from `parseGroupFile`.
 */
export async function readGroupFile(path: string): Promise<{ group: GroupFile; text: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = `write the group's file (${DOCS}), or pass its path with -f FILE`;
    if (code === "ENOENT") throw new UsageError(`group file ${path} does not exist`, hint);
    if (code === "EISDIR") throw new UsageError(`group file ${path} is a directory`, hint);
    throw new UsageError(`group file ${path} cannot be read: ${(err as Error).message}`, code === "EACCES" ? "check the file's permissions" : hint);
  }
  return { group: parseGroupFile(text, path), text };
}
