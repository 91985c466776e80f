/**
 * Shared fixtures for the service tests: a tunnel.yaml-shaped config, specs for both scopes, and a
 * recording `CommandRunner` that answers manager commands from a script instead of running them.
 */
import type { Argv, CommandResult, CommandRunner } from "../../../src/service/manager.ts";
import { serviceSpec, type ServiceSpec } from "../../../src/service/spec.ts";
import type { TunnelConfig } from "../../../src/state/tunnel-config.ts";

export function tunnelConfig(over: Partial<TunnelConfig> = {}): TunnelConfig {
  return {
    name: "prod-app",
    label: "prod app",
    endpoint: "http://127.0.0.1:3000",
    project: "web",
    session: "ci-bot@example.com@api.datum.net",
    org: "acme",
    api_host: "https://api.datum.net",
    executable: "/usr/local/bin/datumctl-connect",
    helper: "/usr/bin/datumctl",
    created_at: "2026-01-02T03:04:05.000Z",
    scope: "user",
    health: null,
    ...over,
  };
}

export function userSpec(over: Partial<TunnelConfig> = {}): ServiceSpec {
  return serviceSpec(tunnelConfig(over), {
    stateRoot: "/home/alice/.local/share/datumctl/connect",
    tunnelDir: "/home/alice/.local/share/datumctl/connect/tunnels/prod-app",
  });
}

export function systemSpec(over: Partial<TunnelConfig> = {}): ServiceSpec {
  return serviceSpec(tunnelConfig({ scope: "system", ...over }), {
    stateRoot: "/var/lib/datumctl/connect",
    tunnelDir: "/var/lib/datumctl/connect/tunnels/prod-app",
    user: "root",
    home: "/root",
  });
}

export class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly answer: (argv: Argv) => Partial<CommandResult> = () => ({})) {}
  async run(argv: Argv): Promise<CommandResult> {
    this.calls.push([...argv]);
    return { code: 0, stdout: "", stderr: "", ...this.answer(argv) };
  }
}
