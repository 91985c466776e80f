/**
 * Test helper for the service end-to-end tests: a private HOME with a `~/.datumctl/config`, state
 * and unit directories (`DATUM_CONNECT_DIR`, `DATUM_CONNECT_UNIT_DIR`), and a bin directory first
 * on PATH whose `systemctl` is `fake-systemctl.ts` — so no test can ever reach the real one.
 * `cleanup()` ends the agents the fake manager started, by the PIDs it recorded.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDatumctlConfig, type ConfigSessionSpec } from "../../../src/devcloud/datumctl-double/config-files.ts";
import { tunnelDir, tunnelFiles } from "../../../src/state/paths.ts";
import { writeTunnelConfig } from "../../../src/state/tunnel-config.ts";
import { BUN } from "../../helpers/cli.ts";
import type { LocalDatum } from "../../helpers/local-datum.ts";

export interface ServiceHarness {
  readonly dir: string;
  readonly home: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly unitDir: string;
  readonly fakeDir: string;
  /** The environment for the CLI: `base` plus the private directories and the fake systemctl first on PATH. */
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** Argument vectors the fake systemctl received, in order (without the program name). */
  systemctlCalls(): string[][];
  /** Files in the unit directory. */
  units(): string[];
  cleanup(): void;
}

export interface HarnessOptions {
  readonly base: Record<string, string | undefined>;
  readonly sessions: ConfigSessionSpec[];
  readonly org: string;
  readonly project: string;
}

export function serviceHarness(o: HarnessOptions): ServiceHarness {
  const dir = mkdtempSync(join(tmpdir(), "service-e2e-"));
  const home = join(dir, "home");
  const configDir = join(dir, "config");
  const stateDir = join(dir, "state");
  const unitDir = join(dir, "units");
  const fakeDir = join(dir, "fake-systemctl");
  const bin = join(dir, "bin");
  for (const d of [home, configDir, unitDir, fakeDir, bin]) mkdirSync(d, { recursive: true });
  const first = o.sessions[0] as ConfigSessionSpec;
  writeDatumctlConfig(home, {
    sessions: o.sessions,
    contexts: o.sessions.flatMap((s) => [{ session: s.name, org: o.org }, { session: s.name, org: o.org, project: o.project }]),
    currentContext: { session: first.name, org: o.org, project: o.project },
    activeSession: first.name,
  });
  const fake = join(import.meta.dir, "fake-systemctl.ts");
  const wrapper = join(bin, "systemctl");
  writeFileSync(wrapper, `#!/bin/sh\nexec '${BUN}' --no-env-file '${fake}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  writeFileSync(join(fakeDir, "calls.jsonl"), "");
  return {
    dir,
    home,
    configDir,
    stateDir,
    unitDir,
    fakeDir,
    env(extra = {}) {
      return {
        ...o.base,
        HOME: home,
        XDG_CONFIG_HOME: configDir,
        DATUM_CONNECT_DIR: stateDir,
        DATUM_CONNECT_UNIT_DIR: unitDir,
        FAKE_SYSTEMCTL_DIR: fakeDir,
        PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        ...extra,
      };
    },
    systemctlCalls() {
      return readFileSync(join(fakeDir, "calls.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]);
    },
    units() {
      return existsSync(unitDir) ? readdirSync(unitDir) : [];
    },
    cleanup() {
      for (const f of existsSync(fakeDir) ? readdirSync(fakeDir) : []) {
        if (!f.endsWith(".pid")) continue;
        const pid = Number(readFileSync(join(fakeDir, f), "utf8"));
        try {
          if (pid > 0) process.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A harness signed in to `datum`'s session, with one user-scope tunnel `name` already configured
 * for `endpoint`, as `tunnel install` leaves it (what `tunnel run` then loads).
 */
export async function harnessWithTunnel(
  datum: LocalDatum,
  t: { project: string; name: string; label: string; endpoint: string },
): Promise<{ h: ServiceHarness; files: ReturnType<typeof tunnelFiles> }> {
  const session = datum.env.DATUM_SESSION as string;
  const h = serviceHarness({ base: {}, sessions: [{ name: session, userKey: "dev@local.datum@auth.datum.net", server: datum.apiUrl }], org: "local-org", project: t.project });
  const files = tunnelFiles(tunnelDir(h.stateDir, t.name));
  await writeTunnelConfig(files.config, {
    name: t.name,
    label: t.label,
    endpoint: t.endpoint,
    project: t.project,
    session,
    org: "local-org",
    api_host: datum.apiUrl,
    executable: process.execPath,
    helper: datum.env.DATUM_CREDENTIALS_HELPER as string,
    created_at: new Date().toISOString(),
    scope: "user",
    health: null,
  });
  return { h, files };
}
