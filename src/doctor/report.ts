/**
 * `tunnel doctor`'s report (docs/doctor.md): the hops from this machine to the public URL, in a
 * fixed order, each with a verdict, its timing, what was seen and a remedy. Pure: ordering, the
 * exit code (the class of the first failing hop, README.md#exit-codes), the table and the JSON document are
 * table-tested in test/unit/doctor/report.test.ts; the checks themselves live next to this file.
 */
import { Exit, type ExitCode } from "../errors.ts";

export type HopStatus = "pass" | "fail" | "warn" | "skip";

export type HopSection = "credentials" | "api" | "dataplane" | "tunnel";

/** The failure classes a hop can have, each one of our exit codes (README.md#exit-codes). */
export const HOP_CLASSES = {
  usage: Exit.usage,
  rejected: Exit.rejected,
  malformed: Exit.malformed,
  unreachable: Exit.unreachable,
  provisioning: Exit.provisioning,
  auth: Exit.noAuth,
  config: Exit.config,
  unexpected: Exit.runtime,
} as const satisfies Record<string, ExitCode>;
export type HopClass = keyof typeof HOP_CLASSES;

export interface Hop {
  /** Stable id, e.g. `api.tls`, `dataplane.relay`; several relays share one id, told apart by `target`. */
  readonly id: string;
  readonly section: HopSection;
  /** What is checked, e.g. "TLS handshake". */
  readonly title: string;
  /** What it was checked against (a host, URL, path), when there is one. */
  readonly target: string | null;
  readonly status: HopStatus;
  /** Milliseconds the check took; null when nothing was timed (skipped, or read from a file). */
  readonly ms: number | null;
  /** What was seen: the answer, the value, or the error. */
  readonly seen: string;
  /** What to do about a failure (or a warning); null when passing. */
  readonly remedy: string | null;
  /** Set on failures: which exit code the report ends with when this is the first failure. */
  readonly class: HopClass | null;
}

/** The order hops are reported in: from this machine outward, then the tunnel's own. */
export const HOP_ORDER: readonly string[] = [
  "context",
  "credentials.helper",
  "credentials.version",
  "credentials.session",
  "credentials.token",
  "credentials.expiry",
  "credentials.clock",
  "api.proxy",
  "api.dns",
  "api.tcp",
  "api.tls",
  "api.authenticated",
  "api.project",
  "api.httpproxies",
  "dataplane.native",
  "dataplane.udp",
  "dataplane.relay",
  "tunnel.objects",
  "tunnel.dns",
  "tunnel.edge",
  "tunnel.origin",
  "tunnel.state",
];

function rank(id: string): number {
  const at = HOP_ORDER.indexOf(id);
  return at === -1 ? HOP_ORDER.length : at;
}

/** Hops in report order; hops of the same id keep their given order (relays as configured). */
export function orderHops(hops: readonly Hop[]): Hop[] {
  return hops
    .map((hop, index) => ({ hop, index }))
    .sort((a, b) => rank(a.hop.id) - rank(b.hop.id) || a.index - b.index)
    .map(({ hop }) => hop);
}

export function firstFailure(hops: readonly Hop[]): Hop | undefined {
  return orderHops(hops).find((hop) => hop.status === "fail");
}

/** 0 when nothing failed, else the exit code of the first failing hop's class (1 when it has none). */
export function exitCodeOf(hops: readonly Hop[]): ExitCode {
  const first = firstFailure(hops);
  if (!first) return Exit.ok;
  return first.class ? HOP_CLASSES[first.class] : Exit.runtime;
}

const MARK: Record<HopStatus, string> = { pass: "✓", fail: "✗", warn: "!", skip: "-" };

function timing(ms: number | null): string {
  if (ms === null) return "";
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * The table: one line per hop (mark, title, target, timing, what was seen), the remedy indented
 * under a failure or warning, a blank line between sections, and a last line naming the first
 * broken hop.
 */
export function renderTable(hops: readonly Hop[]): string {
  const ordered = orderHops(hops);
  const titleWidth = Math.max(0, ...ordered.map((h) => (h.title + (h.target ? ` ${h.target}` : "")).length));
  const lines: string[] = [];
  let section: HopSection | undefined;
  for (const hop of ordered) {
    if (section !== undefined && hop.section !== section) lines.push("");
    section = hop.section;
    const what = (hop.title + (hop.target ? ` ${hop.target}` : "")).padEnd(titleWidth);
    lines.push(`${MARK[hop.status]} ${what}  ${timing(hop.ms).padStart(5)}  ${hop.seen}`.trimEnd());
    if (hop.remedy && (hop.status === "fail" || hop.status === "warn")) lines.push(`    → ${hop.remedy}`);
  }
  const first = firstFailure(ordered);
  lines.push("");
  lines.push(first ? `first broken hop: ${first.title}${first.target ? ` ${first.target}` : ""} (exit ${exitCodeOf(ordered)})` : "every hop passed");
  return `${lines.join("\n")}\n`;
}

export interface ReportMeta {
  readonly version: string;
  readonly platform: string;
  readonly generatedAt: string;
  readonly tunnel: string | null;
}

/** Bumped on any incompatible change of the JSON document. */
export const REPORT_SCHEMA = 1;

/**
 * The JSON report: stable keys, hops in report order, nothing secret (no token, no proxy
 * credentials), so a user can attach it to a bug report.
 */
export function reportDocument(hops: readonly Hop[], meta: ReportMeta): Record<string, unknown> {
  const ordered = orderHops(hops);
  const first = firstFailure(ordered);
  return {
    schema: REPORT_SCHEMA,
    tool: "datumctl-connect",
    version: meta.version,
    platform: meta.platform,
    generatedAt: meta.generatedAt,
    tunnel: meta.tunnel,
    ok: first === undefined,
    exitCode: exitCodeOf(ordered),
    firstFailure: first ? first.id : null,
    hops: ordered.map((h) => ({
      id: h.id,
      section: h.section,
      title: h.title,
      target: h.target,
      status: h.status,
      ms: h.ms === null ? null : Math.round(h.ms),
      seen: h.seen,
      remedy: h.remedy,
      class: h.class,
    })),
  };
}

/** Constructors that keep checks short. */
export const hop = {
  pass: (id: string, section: HopSection, title: string, seen: string, o: { target?: string | null; ms?: number | null; remedy?: string | null } = {}): Hop => ({
    id,
    section,
    title,
    target: o.target ?? null,
    status: "pass",
    ms: o.ms ?? null,
    seen,
    remedy: o.remedy ?? null,
    class: null,
  }),
  warn: (id: string, section: HopSection, title: string, seen: string, remedy: string, o: { target?: string | null; ms?: number | null } = {}): Hop => ({
    id,
    section,
    title,
    target: o.target ?? null,
    status: "warn",
    ms: o.ms ?? null,
    seen,
    remedy,
    class: null,
  }),
  fail: (id: string, section: HopSection, title: string, cls: HopClass, seen: string, remedy: string, o: { target?: string | null; ms?: number | null } = {}): Hop => ({
    id,
    section,
    title,
    target: o.target ?? null,
    status: "fail",
    ms: o.ms ?? null,
    seen,
    remedy,
    class: cls,
  }),
  skip: (id: string, section: HopSection, title: string, why: string, o: { target?: string | null } = {}): Hop => ({
    id,
    section,
    title,
    target: o.target ?? null,
    status: "skip",
    ms: null,
    seen: why,
    remedy: null,
    class: null,
  }),
};

/** The class a `CliError`'s exit code falls in. */
export function classOfExit(exit: number): HopClass {
  for (const [cls, code] of Object.entries(HOP_CLASSES) as [HopClass, number][]) if (code === exit) return cls;
  return "unexpected";
}
