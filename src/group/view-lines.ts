/**
 * The exact lines and JSON objects a group's views print about the group itself (docs/groups.md#output),
 * as pure functions. What each service prints is the single tunnel's wording (src/listen/lines.ts,
 * src/listen/reporter.ts), prefixed with the service's name.
 */
import type { GroupMember, ListenEvent, ReloadSummary, ServiceOutcome } from "../listen/events.ts";
import { displayWidth } from "../listen/live-region.ts";

/** `<service>: <line>` for each line of `text` (a message may span lines); blank lines stay blank. */
export function prefixLines(service: string | undefined, text: string): string[] {
  return text.split("\n").map((line) => (service === undefined || line === "" ? line : `${service}: ${line}`));
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Enough of an endpoint id to tell two apart at a glance. */
export function shortEndpointId(id: string): string {
  return id.length > 10 ? `${id.slice(0, 10)}…` : id;
}

/** The live view's first line: `web-stack · endpoint 3f2a9c1e4b… · 3 services`. */
export function headerLine(group: string, endpointId: string | undefined, services: number): string {
  return [group, ...(endpointId ? [`endpoint ${shortEndpointId(endpointId)}`] : []), plural(services, "service")].join(" · ");
}

/** The plain view's line for the group's members at start: `Group web-stack: 3 services: app, api, admin`. */
export function groupLine(group: string, members: readonly GroupMember[]): string {
  return `Group ${group}: ${plural(members.length, "service")}: ${members.map((m) => m.name).join(", ")}`;
}

/** A verified service on stdout (data only): `<name> <url>`. */
export function serviceUrlLine(name: string, url: string): string {
  return `${name} ${url}`;
}

export function degradedLine(name: string, reason: string): string {
  return `${name}: degraded: ${reason}`;
}

export function readyAgainLine(name: string): string {
  return `${name}: ready again`;
}

export function readyCountLine(outcomes: readonly ServiceOutcome[]): string {
  return `Ready: ${outcomes.filter((o) => o.ready).length} of ${plural(outcomes.length, "service")} verified`;
}

/** `reloaded: +api2 -old -gone(deleted) ~api (unchanged: 17)`; `reloaded: no changes (unchanged: 20)`. */
export function reloadedLine(s: ReloadSummary): string {
  const parts = [
    ...s.added.map((n) => `+${n}`),
    ...s.removed.map((n) => `-${n}`),
    ...s.deleted.map((n) => `-${n}(deleted)`),
    ...s.changed.map((n) => `~${n}`),
  ];
  return `reloaded: ${parts.length > 0 ? parts.join(" ") : "no changes"} (unchanged: ${s.unchanged.length})`;
}

export function reloadRefusedLine(message: string): string {
  return `reload refused: ${message}`;
}

export function disablingLine(tunnels: number): string {
  return `Disabling ${plural(tunnels, "tunnel")}...`;
}

const segmenter = new Intl.Segmenter();

/** `line` cut to at most `columns` terminal columns, ending in "…" when cut; unknown width: as is. */
export function truncateToWidth(line: string, columns: number | undefined): string {
  if (!columns || columns <= 0 || displayWidth(line) <= columns) return line;
  let kept = "";
  let width = 0;
  for (const { segment } of segmenter.segment(line)) {
    const w = displayWidth(segment);
    if (width + w > columns - 1) break;
    kept += segment;
    width += w;
  }
  return `${kept}…`;
}

/** The group's own events as `-o json` objects (docs/groups.md#output); undefined for any other event. */
export function groupEventJson(e: ListenEvent, endpointId: string | undefined): Record<string, unknown> | undefined {
  switch (e.type) {
    case "group":
      return {
        type: "group",
        name: e.name,
        endpoint_id: endpointId ?? null,
        services: e.members.map((m) => ({ name: m.name, endpoint: m.endpoint, label: m.label })),
      };
    case "settled":
      return {
        type: "group_settled",
        ready: e.services.filter((s) => s.ready).length,
        total: e.services.length,
        services: e.services.map((s) => ({
          name: s.name,
          status: s.ready ? "ready" : "degraded",
          urls: s.urls,
          reason: s.ready ? null : s.reason,
        })),
      };
    case "reloaded":
      return {
        type: "group_reloaded",
        source: e.summary.source,
        added: e.summary.added,
        removed: e.summary.removed,
        deleted: e.summary.deleted,
        changed: e.summary.changed,
        unchanged: e.summary.unchanged,
      };
    case "reload_rejected":
      return { type: "group_reload_rejected", source: e.source, message: e.message };
    default:
      return undefined;
  }
}

/** A single tunnel's JSON event (src/listen/reporter.ts JsonReporter) with the service's name after its type. */
export function withService(json: string, service: string): string {
  const { type, ...rest } = JSON.parse(json) as Record<string, unknown>;
  return JSON.stringify({ type, service, ...rest });
}
