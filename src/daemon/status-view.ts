/**
 * `tunnel status` for humans: runtime, auth, control plane, data plane and the last log lines,
 * rendered from what the tunnel wrote about itself (`run.json`), its config and its log. Pure, so
 * the layout is tested with fixed states.
 *
 * A group (docs/groups.md) adds its file and last reload, and one block per service (status, URL,
 * endpoint, tunnel id, and the reason when it is not ready); its traffic lines name the service.
 */
import { describePaths } from "../dataplane/path-kind.ts";
import { targetServices } from "../health/target-services.ts";
import { EXITED_UNEXPECTEDLY, observedReadiness } from "../listen/readiness.ts";
import type { ServiceStatus } from "../service/inspect.ts";
import type { RunState } from "../state/run-state.ts";
import type { TunnelConfig } from "../state/tunnel-config.ts";
import { readyCount, type EntryStatus, type GroupEntry } from "./group-entry.ts";
import { formatDuration } from "./uptime.ts";

export interface StatusInput {
  readonly name: string;
  readonly status: EntryStatus;
  readonly running: boolean;
  readonly config: TunnelConfig | undefined;
  readonly run: RunState | undefined;
  /** The OS service side (installed, manager state, recorded paths), when it was inspected. */
  readonly service?: ServiceStatus | undefined;
  /** Rendered log lines, oldest first. */
  readonly logTail: readonly string[];
  readonly now: number;
  /** Set for a group: its file, last reload and services (inventory.ts). */
  readonly group?: GroupEntry | undefined;
}

function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  return Number.isFinite(t) ? `${iso} (${formatDuration(now - t)} ago)` : iso;
}

function until(iso: string | null | undefined, now: number): string {
  if (!iso) return "unknown (opaque token)";
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  return t >= now ? `${iso} (in ${formatDuration(t - now)})` : `${iso} (expired ${formatDuration(now - t)} ago)`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const STEP_MARK: Record<string, string> = { ready: "✓", pending: "…", unknown: "?" };

function yesNo(value: boolean | null): string {
  return value === null ? "unknown" : value ? "yes" : "no";
}

function renderService(v: ServiceStatus, kv: (key: string, value: string) => void, lines: string[], group: boolean): void {
  lines.push("Service:");
  if (!v.installed) {
    kv(
      "installed",
      group
        ? "no (a service starts at boot: 'tunnel install -f FILE'; in the background now: 'tunnel up -f FILE --detach')"
        : "no (a service starts at boot: 'tunnel install'; in the background now: 'tunnel listen --detach')",
    );
    return;
  }
  kv("installed", `yes, ${v.managerName} ${v.unit}`);
  if (v.unitPath) kv("unit file", v.unitPath);
  kv("enabled", yesNo(v.enabled));
  const m = v.state;
  if (!m.reachable) kv("manager", `unknown${m.detail ? ` (${m.detail})` : ""}`);
  else {
    const extra = [m.pid ? `PID ${m.pid}` : "", m.restarts !== null ? `${m.restarts} restarts` : ""].filter(Boolean).join(", ");
    kv("manager", `${m.active}${m.sub ? ` (${m.sub})` : ""}${extra ? `; ${extra}` : ""}`);
  }
  if (v.lastExit) {
    const e = v.lastExit;
    const head = [e.code !== null ? `status ${e.code}` : "", e.reason ? `(${e.reason})` : ""].filter(Boolean).join(" ");
    kv("last exit", `${[head, e.message ?? ""].filter(Boolean).join(": ") || "unknown"}${e.at ? ` at ${e.at}` : ""}`);
  }
  const path = (c: ServiceStatus["executable"]) => (c.path === null ? "none recorded" : c.resolves ? `${c.path} (resolves)` : `${c.path} — DOES NOT RESOLVE: ${c.problem}`);
  kv("executable", path(v.executable));
  kv("helper", path(v.helper));
}

type LastReload = NonNullable<GroupEntry["lastReload"]>;

/** `2025-… (5m ago), ok: added admin; changed api`, or `…, rejected: <why>`. */
export function describeReload(last: LastReload, now: number): string {
  if (!last.ok) return `${ago(last.at, now)}, rejected: ${last.message ?? "no reason recorded"}`;
  const parts = (
    [
      ["added", last.added],
      ["removed", last.removed],
      ["deleted", last.deleted],
      ["changed", last.changed],
    ] as const
  )
    .filter(([, names]) => names.length > 0)
    .map(([what, names]) => `${what} ${names.join(", ")}`);
  return `${ago(last.at, now)}, ok: ${parts.length > 0 ? parts.join("; ") : "nothing changed"}`;
}

function renderGroup(g: GroupEntry, now: number, kv: (key: string, value: string) => void, lines: string[]): void {
  lines.push("Group:");
  kv("file", g.file);
  if (g.source) kv("copied from", g.source);
  kv("last reload", g.lastReload ? describeReload(g.lastReload, now) : "never");
  lines.push(`Services:       ${readyCount(g)}`);
  const width = Math.max(12, ...g.services.map((x) => x.name.length + 2));
  const sub = (key: string, value: string) => lines.push(`    ${`${key}:`.padEnd(12)}${value}`);
  for (const x of g.services) {
    lines.push(`  ${x.name.padEnd(width)}${x.status}`);
    if (x.urls.length === 0) sub("URL", "-");
    for (const url of x.urls) sub("URL", url);
    sub("endpoint", x.endpoint ?? "-");
    sub("tunnel", x.tunnelId ? `${x.tunnelId}${x.label ? ` "${x.label}"` : ""}` : `- (not created yet)${x.label ? ` "${x.label}"` : ""}`);
    if (x.readiness && !x.readiness.ready) sub("reason", x.readiness.reason);
    if (x.record?.lastError) sub("last error", `${x.record.lastError.message} (${ago(x.record.lastError.at, now)})`);
  }
}

export function renderStatus(s: StatusInput): string {
  const r = s.run;
  const g = s.group;
  const lines: string[] = [`${g ? "Group" : "Tunnel"} ${s.name}`];
  const kv = (key: string, value: string) => lines.push(`  ${`${key}:`.padEnd(14)}${value}`);

  lines.push("Runtime:");
  const uptime = r && s.running ? `, up ${formatDuration(s.now - Date.parse(r.startedAt))}` : "";
  kv("status", `${s.status}${r ? ` (PID ${r.pid}${uptime})` : ""}`);
  if (r?.readyAt) kv("ready", `${ago(r.readyAt, s.now)}${r.setupMs !== null ? `, setup took ${(r.setupMs / 1000).toFixed(1)}s` : ""}`);
  // The recorded verdict while the process runs; once it is gone, how it ended (readiness.ts).
  const readiness = r ? observedReadiness(r, s.running) : undefined;
  if (readiness) kv("readiness", readiness.ready ? "ready" : `not ready (${readiness.state}): ${readiness.reason}`);
  // A group's URLs are listed with its services.
  if (!g) for (const url of r?.publicUrls ?? []) kv("public URL", url);
  if (r?.health) kv("health", `http://${r.health}/readyz`);
  if (r?.lastError) kv("last error", `${r.lastError.message}${r.lastError.hint ? ` (hint: ${r.lastError.hint})` : ""} at ${r.lastError.at}`);
  else if (s.status === "dead") kv("last error", `${EXITED_UNEXPECTEDLY}; last recorded ${r?.updatedAt ?? "never"}`);
  if (r?.disableError) kv("advertisement", `may still be up: could not disable the tunnel (${r.disableError.message}) at ${r.disableError.at}`);
  if (r && r.exitCode !== null && !s.running) kv("exit code", String(r.exitCode));

  if (g) renderGroup(g, s.now, kv, lines);

  if (s.service) renderService(s.service, kv, lines, g !== undefined);

  lines.push("Auth:");
  kv("session", r?.auth.session ?? s.config?.session ?? "(none: datumctl's active user)");
  if (s.config?.helper) kv("helper", s.config.helper);
  if (r) {
    kv("last refresh", ago(r.auth.lastRefreshAt, s.now));
    kv("token expiry", until(r.auth.expiresAt, s.now));
    kv("refreshes", `${r.auth.refreshes.refreshed} new, ${r.auth.refreshes.same_token} unchanged, ${r.auth.refreshes.refresh_failed} failed`);
    if (r.auth.lastError) {
      kv("auth error", `${r.auth.lastError.message} (${ago(r.auth.lastError.at, s.now)})`);
      if (r.auth.lastError.hint) kv("remedy", r.auth.lastError.hint);
    }
  }

  lines.push("Control plane:");
  kv("project", r?.project ?? s.config?.project ?? "-");
  if (s.config?.api_host) kv("API", s.config.api_host);
  if (!g) {
    kv("tunnel", r?.tunnelId ? `${r.tunnelId}${r.label ? ` "${r.label}"` : ""} → ${r.endpoint ?? s.config?.endpoint ?? "?"}` : (s.config?.endpoint ?? "-"));
    for (const h of r?.hostnames ?? []) kv("hostname", h);
  }
  if (r) {
    kv(
      "connector",
      `${r.heartbeat.connector ?? "-"}, lease renewed ${ago(r.heartbeat.lastRenewalAt, s.now)}; ${r.heartbeat.renewals} renewals, ${r.heartbeat.failures} failures`,
    );
    if (r.heartbeat.lastError) kv("heartbeat", `last failure: ${r.heartbeat.lastError.message} (${ago(r.heartbeat.lastError.at, s.now)})`);
    if (r.conditions.length > 0) {
      lines.push("  conditions:");
      for (const c of r.conditions) {
        const detail = [c.reason, c.message].filter((x) => x).join(": ");
        lines.push(`    ${STEP_MARK[c.status] ?? "?"} ${c.step.padEnd(30)}${c.status.padEnd(8)}${c.resource ?? ""}${detail ? `  ${detail}` : ""}`);
      }
    }
  }

  lines.push("Data plane:");
  if (r) {
    kv("endpoint id", r.endpointId ?? "-");
    kv("addresses", r.addresses.map((a) => (a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`)).join(", ") || "-");
    kv("home relay", r.homeRelay ?? "no relay yet");
    if (r.counters.paths) kv("path", describePaths(r.counters.paths));
    const targets = Object.entries(r.counters.targets);
    const serviceOf = g ? targetServices(g.services, targets.map(([key]) => key)) : new Map<string, string>();
    if (targets.length === 0) kv("traffic", "no requests yet");
    for (const [target, c] of targets) {
      const service = serviceOf.get(target);
      kv(
        "traffic",
        `${target}${service !== undefined ? ` (${service})` : ""}: ${c.accepted} requests (${c.completed} completed, ${c.failed} failed, ${c.denied} denied, ${c.active} active), ${bytes(c.bytesToOrigin)} to / ${bytes(c.bytesFromOrigin)} from origin`,
      );
    }
    for (const w of r.workers) {
      kv("worker", `${w.name}: ${w.state}, ${w.restarts} restarts${w.lastDeath ? `, last death ${w.lastDeath.at}: ${w.lastDeath.reason}` : ""}`);
    }
  } else kv("state", "never started");

  if (s.logTail.length > 0) {
    lines.push("Recent log:");
    for (const l of s.logTail) lines.push(`  ${l}`);
  }
  return lines.join("\n");
}
