/**
 * `/metrics`: a `RunState` rendered as Prometheus text exposition format 0.0.4. Pure: the same
 * state always renders the same text (families in a fixed order, targets and workers sorted).
 *
 * Every family has `# HELP` and `# TYPE` before its samples; a family with no samples (no target
 * seen yet, setup not finished) is left out entirely. Counters end in `_total` (0.0.4 keeps the
 * suffix in the TYPE line). Counter values are what the state holds: they restart from zero with
 * the process, which `process_start_time_seconds` lets Prometheus see.
 *
 * A group (docs/groups.md) adds one `datum_connect_service_info` and one `datum_connect_service_ready`
 * series per service, and its per-target series carry the `service` whose traffic they count
 * (target-services.ts); a target that belongs to no service has no `service` label.
 */
import type { RunPhase, RunState } from "../state/run-state.ts";
import { targetServices } from "./target-services.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsExtra {
  /** Build identity for `datum_connect_build_info`; omitted when not given. */
  readonly version?: string;
  readonly commit?: string;
}

type MetricType = "counter" | "gauge";
type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: readonly { readonly labels: Labels; readonly value: number }[];
}

const PHASES: readonly RunPhase[] = ["starting", "ready", "failed", "stopping", "stopped"];

/** Label values: backslash, double quote and line feed are escaped (0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text: backslash and line feed are escaped; a double quote is not. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return Object.is(n, -0) ? "0" : String(n);
}

function renderFamily(f: Family): string {
  let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  for (const s of f.samples) {
    const pairs = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    out += `${f.name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${formatValue(s.value)}\n`;
  }
  return out;
}

/** The `tunnel` label: the tunnel's local name, else its control-plane id (unnamed slot), else empty. */
export function tunnelLabel(state: RunState): string {
  return state.name ?? state.tunnelId ?? "";
}

/** Restarts and deaths per worker name, sorted; a repeated name is summed so no series is duplicated. */
function perWorker(workers: RunState["workers"]): { name: string; restarts: number; deaths: number }[] {
  const byName = new Map<string, { name: string; restarts: number; deaths: number }>();
  for (const w of workers) {
    const seen = byName.get(w.name);
    if (seen) {
      seen.restarts += w.restarts;
      seen.deaths += w.deaths;
    } else byName.set(w.name, { name: w.name, restarts: w.restarts, deaths: w.deaths });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function renderMetrics(state: RunState, extra: MetricsExtra = {}): string {
  const tunnel = tunnelLabel(state);
  const targets = Object.entries(state.counters.targets).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const services = [...(state.services ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const serviceOf = targetServices(services, targets.map(([key]) => key));
  /** The per-target labels: the tunnel, the target, and for a group the service it belongs to. */
  const at = (target: string): Labels => {
    const service = serviceOf.get(target);
    return service === undefined ? { tunnel, target } : { tunnel, target, service };
  };
  const workers = perWorker(state.workers);
  const started = Date.parse(state.startedAt);

  const families: Family[] = [
    {
      name: "datum_connect_build_info",
      type: "gauge",
      help: "Always 1; labelled with the agent's version and commit.",
      samples: extra.version !== undefined ? [{ labels: { version: extra.version, commit: extra.commit ?? "" }, value: 1 }] : [],
    },
    {
      name: "datum_connect_info",
      type: "gauge",
      help: "Always 1; labelled with the tunnel's name, project, control-plane id and endpoint id.",
      samples: [{ labels: { tunnel, project: state.project, tunnel_id: state.tunnelId ?? "", endpoint_id: state.endpointId ?? "" }, value: 1 }],
    },
    {
      name: "datum_connect_ready",
      type: "gauge",
      help: "1 while the tunnel is verified ready (the same answer as /readyz), else 0.",
      samples: [{ labels: {}, value: state.readiness.ready ? 1 : 0 }],
    },
    {
      name: "datum_connect_service_info",
      type: "gauge",
      help: "Always 1; one per service of a group, labelled with its name, control-plane id and endpoint.",
      samples: services.map((s) => ({ labels: { service: s.name, tunnel_id: s.tunnelId ?? "", endpoint: s.endpoint ?? "" }, value: 1 })),
    },
    {
      name: "datum_connect_service_ready",
      type: "gauge",
      help: "1 while the group's service is verified ready, else 0 (its reason is in tunnel status).",
      samples: services.map((s) => ({ labels: { service: s.name }, value: s.readiness.ready ? 1 : 0 })),
    },
    {
      name: "datum_connect_phase",
      type: "gauge",
      help: "1 for the run phase the agent is in, 0 for the others.",
      samples: PHASES.map((phase) => ({ labels: { phase }, value: state.phase === phase ? 1 : 0 })),
    },
    {
      name: "datum_connect_setup_duration_seconds",
      type: "gauge",
      help: "Seconds from the start of setup to verified ready.",
      samples: state.setupMs !== null ? [{ labels: {}, value: state.setupMs / 1000 }] : [],
    },
    {
      name: "process_start_time_seconds",
      type: "gauge",
      help: "Start time of the process since unix epoch in seconds.",
      samples: Number.isFinite(started) ? [{ labels: {}, value: started / 1000 }] : [],
    },
    {
      name: "datum_connect_bytes_total",
      type: "counter",
      help: "Bytes forwarded to and from the origin, per target.",
      samples: targets.flatMap(([target, c]) => [
        { labels: { ...at(target), direction: "to_origin" }, value: c.bytesToOrigin },
        { labels: { ...at(target), direction: "from_origin" }, value: c.bytesFromOrigin },
      ]),
    },
    {
      name: "datum_connect_requests_total",
      type: "counter",
      help: "Requests per target by outcome: accepted (allowed and forwarded), completed, failed, denied (not on the allow-list, never accepted).",
      samples: targets.flatMap(([target, c]) => [
        { labels: { ...at(target), outcome: "accepted" }, value: c.accepted },
        { labels: { ...at(target), outcome: "completed" }, value: c.completed },
        { labels: { ...at(target), outcome: "failed" }, value: c.failed },
        { labels: { ...at(target), outcome: "denied" }, value: c.denied },
      ]),
    },
    {
      name: "datum_connect_active_requests",
      type: "gauge",
      help: "Requests in flight per target (accepted, not yet completed or failed).",
      samples: targets.map(([target, c]) => ({ labels: at(target), value: c.active })),
    },
    {
      name: "datum_connect_connections_total",
      type: "counter",
      help: "Connections from the edge by outcome: accepted, completed.",
      samples: [
        { labels: { tunnel, outcome: "accepted" }, value: state.counters.connectionsAccepted },
        { labels: { tunnel, outcome: "completed" }, value: state.counters.connectionsCompleted },
      ],
    },
    {
      name: "datum_connect_token_refreshes_total",
      type: "counter",
      help: "Access-token refreshes by outcome: refreshed (new token), same_token, failed.",
      samples: [
        { labels: { outcome: "refreshed" }, value: state.auth.refreshes.refreshed },
        { labels: { outcome: "same_token" }, value: state.auth.refreshes.same_token },
        { labels: { outcome: "failed" }, value: state.auth.refreshes.refresh_failed },
      ],
    },
    {
      name: "datum_connect_heartbeat_renewals_total",
      type: "counter",
      help: "Connector lease renewals that succeeded.",
      samples: [{ labels: {}, value: state.heartbeat.renewals }],
    },
    {
      name: "datum_connect_heartbeat_failures_total",
      type: "counter",
      help: "Connector lease renewals that failed.",
      samples: [{ labels: {}, value: state.heartbeat.failures }],
    },
    {
      name: "datum_connect_worker_restarts_total",
      type: "counter",
      help: "Times the supervisor restarted a worker thread, per worker.",
      samples: workers.map((w) => ({ labels: { worker: w.name }, value: w.restarts })),
    },
    {
      name: "datum_connect_worker_deaths_total",
      type: "counter",
      help: "Times a worker thread died, per worker.",
      samples: workers.map((w) => ({ labels: { worker: w.name }, value: w.deaths })),
    },
  ];

  return families
    .filter((f) => f.samples.length > 0)
    .map(renderFamily)
    .join("");
}
