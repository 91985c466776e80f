/**
 * The live view of a group (docs/groups.md#output): one row per service saying what it is doing
 * now, folded from the listen's events and drawn as lines no wider than the terminal. Pure: the
 * time comes in with each event and each draw, the terminal's width with each draw.
 */
import type { ListenEvent } from "../listen/events.ts";
import { originProblem, publicAnswer, secs1 } from "../listen/lines.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import { headerLine, truncateToWidth } from "./view-lines.ts";

export type RowState =
  | { readonly kind: "pending" }
  | { readonly kind: "setup"; readonly since: number; readonly step: string | undefined; readonly detail: string | undefined }
  | { readonly kind: "verifying"; readonly since: number; readonly url: string | undefined; readonly answer: string | undefined }
  | { readonly kind: "ready"; readonly urls: readonly string[] }
  | { readonly kind: "degraded"; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string }
  | { readonly kind: "disabled" }
  | { readonly kind: "removed" };

interface Row {
  state: RowState;
  /** Why the origin probe did not count the origin as up (null: up, or not probed yet). */
  originDown: string | null;
  urls: readonly string[];
}

export interface DrawOptions {
  readonly now: number;
  /** The spinner's frame. */
  readonly frame: number;
  /** The terminal's width now; undefined: unknown (nothing is cut). */
  readonly columns: number | undefined;
  /** The last draw: no spinner, nothing moving. */
  readonly final: boolean;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** The step being waited on, as the single tunnel's view picks it (an absent optional step is not waited on). */
function pendingStep(progress: TunnelProgress): { step: string; detail: string | undefined } | undefined {
  const step = progress.steps.find((s) => s.status !== "ready" && !(s.step === "connector_metadata_programmed" && s.status === "unknown"));
  return step ? { step: step.label, detail: step.message ?? step.reason } : undefined;
}

export class GroupBoard {
  name: string | undefined;
  endpointId: string | undefined;
  /** Services in the group's order; removed ones stay listed (as removed) until the view ends. */
  readonly #rows = new Map<string, Row>();

  /** How many services the group serves now (removed ones not counted). */
  get serving(): number {
    return [...this.#rows.values()].filter((r) => r.state.kind !== "removed").length;
  }

  #row(service: string): Row {
    let row = this.#rows.get(service);
    if (!row) {
      row = { state: { kind: "pending" }, originDown: null, urls: [] };
      this.#rows.set(service, row);
    }
    return row;
  }

  /** Fold one event in; `now` in ms on the view's clock. */
  apply(e: ListenEvent, now: number): void {
    if (e.type === "endpoint_id") this.endpointId = e.endpointId;
    if (e.type === "group") {
      this.name = e.name;
      const names = new Set(e.members.map((m) => m.name));
      for (const [name, row] of this.#rows) if (!names.has(name)) row.state = { kind: "removed" };
      for (const m of e.members) {
        const row = this.#row(m.name);
        if (row.state.kind === "removed") row.state = { kind: "pending" };
      }
      return;
    }
    if (e.type === "settled") {
      for (const o of e.services) {
        const row = this.#row(o.name);
        if (o.ready) row.urls = o.urls;
        // A service that failed to start says so, not just "degraded".
        if (!o.ready && row.state.kind === "failed") continue;
        row.state = o.ready ? { kind: "ready", urls: o.urls } : { kind: "degraded", reason: o.reason };
      }
      return;
    }
    if (e.service === undefined) return;
    const row = this.#row(e.service);
    const s = row.state;
    switch (e.type) {
      case "tunnel":
      case "setting_up":
        if (s.kind !== "setup") row.state = { kind: "setup", since: now, step: undefined, detail: undefined };
        return;
      case "progress": {
        const pending = pendingStep(e.progress);
        row.state = { kind: "setup", since: s.kind === "setup" ? s.since : now, step: pending?.step, detail: pending?.detail };
        return;
      }
      case "verifying":
        row.state = { kind: "verifying", since: now, url: undefined, answer: undefined };
        return;
      case "probe_attempt":
        if (e.target === "public" && s.kind === "verifying") {
          row.state = { ...s, url: e.url, answer: publicAnswer(e.status, e.error, row.originDown !== null) };
        }
        return;
      case "probed":
        if (e.target === "origin") row.originDown = e.result.up ? null : originProblem(e.result.status, e.result.error);
        return;
      case "ready":
        row.urls = e.urls;
        row.originDown = null;
        row.state = { kind: "ready", urls: e.urls };
        return;
      case "readiness_changed":
        row.state = e.readiness.ready ? { kind: "ready", urls: row.urls } : { kind: "degraded", reason: e.readiness.reason };
        return;
      case "ended":
        row.state = { kind: "failed", reason: e.message.trim().split("\n")[0] ?? e.message };
        return;
      case "disabled":
        row.state = { kind: "disabled" };
        return;
      default:
        return;
    }
  }

  /** The block to draw: a header and one row per service, none wider than `columns`. */
  lines(o: DrawOptions): string[] {
    const names = [...this.#rows.keys()];
    const longest = Math.max(0, ...names.map((n) => n.length));
    // A long name must leave room for what the service is doing.
    const nameWidth = o.columns ? Math.min(longest, Math.max(8, Math.floor(o.columns * 0.3))) : longest;
    const header = headerLine(this.name ?? "group", this.endpointId, this.serving);
    const rows = [...this.#rows].map(([name, row]) => {
      const shown = name.length > nameWidth ? truncateToWidth(name, nameWidth) : name.padEnd(nameWidth);
      return `  ${shown}  ${this.#glyph(row, o)} ${this.#doing(row, o.now)}`;
    });
    return [header, ...rows].map((line) => truncateToWidth(line, o.columns));
  }

  #glyph(row: Row, o: DrawOptions): string {
    switch (row.state.kind) {
      case "pending":
        return "·";
      case "setup":
      case "verifying":
        if (row.originDown !== null) return "!";
        return o.final ? "·" : (SPINNER[o.frame % SPINNER.length] ?? "*");
      case "ready":
        return "✓";
      case "degraded":
        return "!";
      case "failed":
        return "✗";
      case "disabled":
      case "removed":
        return "-";
    }
  }

  #doing(row: Row, now: number): string {
    const s = row.state;
    switch (s.kind) {
      case "pending":
        return "waiting to start";
      case "setup":
        return `${s.step ?? "setting up"} (${secs1(now - s.since)}s)${s.detail ? ` — ${s.detail}` : ""}`;
      case "verifying": {
        // A down origin says more than the public URL's 502 does.
        const why = row.originDown !== null ? `origin ${row.originDown}` : s.answer;
        return `verifying ${s.url ?? "the public URL"} (${secs1(now - s.since)}s)${why ? ` — ${why}` : ""}`;
      }
      case "ready":
        return s.urls.join(" ") || "ready";
      case "degraded":
        return `degraded: ${s.reason}`;
      case "failed":
        return `failed: ${s.reason}`;
      case "disabled":
        return "disabled";
      case "removed":
        return "removed";
    }
  }
}
