import { createInterface } from "node:readline/promises";
import { defineCommand } from "citty";
import { childFailure, startDetached } from "../../daemon/detach.ts";
import { parseDuration } from "../../daemon/duration.ts";
import { namedTunnel } from "../../daemon/inventory.ts";
import { Rejected, StillProvisioning, UsageError } from "../../errors.ts";
import { runForeground } from "../../listen/foreground.ts";
import { checkListenFlags } from "../../listen/session.ts";
import { say } from "../../log.ts";
import { emit, formatJson } from "../../output.ts";
import type { RunState } from "../../state/run-state.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { readTunnelConfig, singleEndpoint, writeTunnelConfig, type TunnelConfig } from "../../state/tunnel-config.ts";
import { normalizeEndpoint, validateEndpoint, validateStoredEndpoint } from "../../tunnel/endpoint.ts";
import { readDatumctlConfig } from "../../context/datumctl-config.ts";
import { resolveContext } from "../../context/resolve.ts";
import { projectArg, sessionArg } from "../_args.ts";
import { settingsFromEnv } from "../../state/tunnel-settings.ts";
import { onPath } from "../../service/executable.ts";

/** Ask on the terminal; anything but y/Y is no (upstream `[y/N]`). */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * A named tunnel's config: the existing `tunnel.yaml`, or a new one from the flags and the current
 * context. `--project` and `--endpoint` may not contradict a persisted tunnel
 * (docs/architecture.md#services: its project is the one in its YAML).
 */
async function namedConfig(name: string, args: { endpoint?: string | undefined; label?: string | undefined; project?: string | undefined; session?: string | undefined; health?: string | undefined }): Promise<{ config: TunnelConfig; created: boolean }> {
  const dir = tunnelDir(stateRoot("user"), name);
  const path = tunnelFiles(dir).config;
  const existing = await readTunnelConfig(path);
  if (existing) {
    const endpoint = singleEndpoint(existing, path, validateStoredEndpoint);
    if (args.project && args.project !== existing.project) {
      throw new Rejected(`tunnel "${name}" belongs to project ${existing.project}, not ${args.project}`, "a named tunnel keeps its project; use another --name for another project");
    }
    if (args.endpoint && normalizeEndpoint(args.endpoint) !== normalizeEndpoint(endpoint)) {
      throw new Rejected(
        `tunnel "${name}" serves ${existing.endpoint}, not ${normalizeEndpoint(args.endpoint)}`,
        `use another --name, or change it with 'tunnel update' and edit ${path}`,
      );
    }
    return { config: existing, created: false };
  }
  if (!args.endpoint) throw new UsageError(`tunnel "${name}" does not exist yet: --endpoint is required to create it`);
  const context = resolveContext({ flags: { project: args.project, session: args.session }, env: process.env, config: readDatumctlConfig() });
  const config: TunnelConfig = {
    name,
    label: args.label ?? args.endpoint.trim(),
    endpoint: normalizeEndpoint(args.endpoint),
    project: context.project,
    session: context.session ?? null,
    org: context.org ?? null,
    api_host: context.apiBase,
    executable: onPath("datumctl-connect"),
    helper: context.helper ? (onPath("datumctl") ?? context.helper) : null,
    created_at: new Date().toISOString(),
    scope: "user",
    health: args.health ?? null,
    ...settingsFromEnv(process.env),
  };
  return { config, created: true };
}

/** `listen --detach -o json`: one document about the background tunnel (the `tunnel_ready` event's fields). */
function detachedDoc(name: string, status: "ready" | "provisioning", pid: number, state: RunState | undefined): Record<string, unknown> {
  return {
    name,
    status,
    pid,
    id: state?.tunnelId ?? null,
    label: state?.label ?? null,
    endpoint: state?.endpoint ?? null,
    hostnames: state?.hostnames ?? [],
    urls: state?.publicUrls ?? [],
    endpoint_id: state?.endpointId ?? null,
  };
}

export const listen = defineCommand({
  meta: {
    name: "listen",
    description: "Expose a local service at a public Datum hostname until Ctrl+C (or in the background with --detach)",
  },
  args: {
    endpoint: { type: "string", description: "Local service to expose, e.g. 127.0.0.1:3000", valueHint: "host:port" },
    id: { type: "string", description: "Listen for an existing tunnel (its endpoint is inherited)", valueHint: "id" },
    label: { type: "string", description: "Display name (default: the endpoint)", valueHint: "label" },
    name: { type: "string", description: "A named tunnel: its own identity and state under tunnels/<name>/", valueHint: "name" },
    detach: { type: "boolean", alias: "d", description: "Run in the background; return once the public URL answers" },
    wait: { type: "string", description: "With --detach: how long to wait for ready before exiting 75", default: "30s", valueHint: "duration" },
    health: { type: "string", description: "Serve /livez, /readyz and /metrics on this address, e.g. 127.0.0.1:9090", valueHint: "host:port" },
    yes: { type: "boolean", alias: "y", description: "Change an existing tunnel's label without asking" },
    ...projectArg,
    ...sessionArg,
    output: { type: "enum", alias: "o", description: "Output format (json: one event per line)", options: ["table", "json"], default: "table" },
    "log-format": {
      type: "enum",
      description: "json: log JSON lines (the tunnel log's format) to stdout instead of text to stderr, e.g. in a container",
      options: ["text", "json"],
      default: "text",
    },
  },
  async run({ args }) {
    const name = args.name !== undefined ? assertSafeName("tunnel name", args.name) : undefined;
    if (args.detach && name === undefined) throw new UsageError("--detach needs --name", "e.g. tunnel listen --detach --name dev-app --endpoint 127.0.0.1:3000");
    const waitMs = parseDuration(args.wait);
    const jsonLogs = args["log-format"] === "json";
    if (jsonLogs && (args.detach || args.output === "json")) {
      throw new UsageError(`--log-format json cannot be combined with ${args.detach ? "--detach" : "-o json"}`, "--log-format json already writes one JSON object per line to stdout");
    }
    if (args.health !== undefined) (await import("../../health/address.ts")).parseHealthAddress(args.health);
    // What the platform would refuse is refused here, before anything is written or requested.
    if (args.endpoint !== undefined) validateEndpoint(args.endpoint);
    const named = name !== undefined ? await namedConfig(name, args) : undefined;
    checkListenFlags({ endpoint: args.endpoint ?? named?.config.endpoint ?? undefined, id: args.id });

    if (args.detach && name !== undefined && named) {
      const existing = await namedTunnel(stateRoot("user"), name);
      if (existing?.running && existing.run) {
        throw new Rejected(`tunnel "${name}" is already running (PID ${existing.run.pid})`, `stop it first: tunnel stop --name ${name}`, "conflict");
      }
      const dir = tunnelDir(stateRoot("user"), name);
      if (named.created) await writeTunnelConfig(tunnelFiles(dir).config, named.config);
      const childArgs = ["tunnel", "_daemon", "--name", name];
      if (args.id) childArgs.push("--id", args.id);
      if (args.label) childArgs.push("--label", args.label);
      const health = args.health ?? named.config.health ?? undefined;
      if (health) childArgs.push("--health", health);
      const outcome = await startDetached({ args: childArgs, env: process.env, runPath: tunnelFiles(dir).run, logDir: tunnelFiles(dir).logs, waitMs });
      switch (outcome.outcome) {
        case "ready":
          if (args.output === "json") emit(formatJson(detachedDoc(name, "ready", outcome.pid, outcome.state)));
          else for (const url of outcome.state.publicUrls) emit(url);
          say(`Tunnel ${name} is ready in the background (PID ${outcome.pid}). Logs: tunnel logs --name ${name} --follow; stop: tunnel stop --name ${name}`);
          return;
        case "provisioning": {
          const host = outcome.state?.hostnames[0];
          if (args.output === "json") emit(formatJson(detachedDoc(name, "provisioning", outcome.pid, outcome.state)));
          else if (host) emit(host);
          throw new StillProvisioning(
            `tunnel ${name}${host ? ` (${host})` : ""} is still provisioning after ${args.wait}; it keeps running in the background (PID ${outcome.pid})`,
            `check it with 'tunnel status --name ${name}', or wait longer with --wait`,
          );
        }
        case "failed":
          throw childFailure(outcome);
      }
    }

    return runForeground({
      name,
      config: named?.config,
      configCreated: named?.created === true,
      scope: "user",
      endpoint: args.endpoint,
      id: args.id,
      label: args.label,
      yes: args.yes === true,
      project: args.project,
      session: args.session,
      health: args.health ?? null,
      output: args.output as "table" | "json",
      fileLogs: false,
      stdoutLogs: jsonLogs,
      confirm: process.stdin.isTTY && process.stderr.isTTY ? confirm : undefined,
    });
  },
});
