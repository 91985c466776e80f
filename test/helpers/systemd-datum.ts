/**
 * The machine the real-systemd tests (test/system/) share: a Debian booted with systemd-nspawn
 * (systemd-machine.ts) holding the compiled executable (bound read-only) and the machine's Bun,
 * the local Datum as a unit of its own (`dev cloud` on fixed ports, a kept --dir, its exports in
 * /run/localdatum/env.sh, the datumctl double as the credentials helper), root's datumctl session
 * made a service account for `--system`, a lingering user `alice` for user units, and one origin
 * that logs every request it answers. Plus what the tests ask of it: the CLI as the README runs
 * it, `systemctl show` polled with a deadline, an HTTP GET from inside, and the local Datum's
 * request log, state and config.
 */
import { createHash } from "node:crypto";
import { ensureHostBinary } from "../../scripts/release/host-binary.ts";
import { datumctlConfigDocument, type ConfigSessionSpec } from "../../src/devcloud/datumctl-double/config-files.ts";
import { bootMachine, type ExecOptions, type ExecResult, type SystemdMachine } from "./systemd-machine.ts";

export const API_PORT = 18000;
export const EDGE_PORT = 18081;
export const ORIGIN_PORT = 18080;
export const ORIGIN_BODY = "origin in the machine";
export const EXE = "/usr/local/bin/datumctl-connect";
export const DATUM_ENV = "/run/localdatum/env.sh";
export const DATUM_DIR = "/var/lib/localdatum";
export const ORIGIN_LOG = "/var/lib/origin/requests.jsonl";
export const ALICE_UID = 1000;
export const ALICE_DOUBLE = "/home/alice/datumctl-double";
/** The local Datum's one datumctl session (the double's). */
export const SESSION = `dev@local.datum@127.0.0.1:${API_PORT}`;
export const USER_KEY = "dev@local.datum@auth.datum.net";
/** The local Datum's project (the double's context). */
export const PROJECT = "local-project";
/** The state roots of the two scopes (the default ones: the CLI runs with DATUM_CONNECT_DIR unset). */
export const SYSTEM_STATE = "/var/lib/datumctl/connect";
export const ALICE_STATE = "/home/alice/.local/share/datumctl/connect";

export const STATE = ["ActiveState", "SubState", "Result", "NRestarts", "MainPID", "ExecMainStatus", "ExecMainCode", "StatusText", "ActiveEnterTimestamp", "LoadState"];

export interface Scope {
  readonly scope: "system" | "user";
  readonly name: string;
  readonly user: string;
  readonly unit: string;
  /** `--system` or nothing. */
  readonly flag: string;
  /** `systemctl` or `systemctl --user`. */
  readonly systemctl: string;
  readonly journal: string;
  readonly as: ExecOptions;
}

export function scopeOf(scope: "system" | "user", name: string): Scope {
  const user = scope === "system" ? "root" : "alice";
  return {
    scope,
    name,
    user,
    unit: `datumctl-connect-${scope}-${name}.service`,
    flag: scope === "system" ? " --system" : "",
    systemctl: scope === "system" ? "systemctl" : "systemctl --user",
    journal: scope === "system" ? `journalctl --no-pager -o cat -u datumctl-connect-${scope}-${name}.service` : `journalctl --no-pager -o cat USER_UNIT=datumctl-connect-${scope}-${name}.service + _SYSTEMD_USER_UNIT=datumctl-connect-${scope}-${name}.service`,
    as:
      scope === "system"
        ? {}
        : { user, env: { XDG_RUNTIME_DIR: `/run/user/${ALICE_UID}`, DBUS_SESSION_BUS_ADDRESS: `unix:path=/run/user/${ALICE_UID}/bus` } },
  };
}

/** systemd's `us+utc` timestamp (`Mon 2026-12-07 13:09:13.123456 UTC`) in ms since the epoch. */
export function tsMs(text: string | undefined): number {
  const m_ = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? UTC/.exec(text ?? "");
  if (!m_) throw new Error(`not a us+utc timestamp: ${JSON.stringify(text)}`);
  return Date.parse(`${m_[1]}T${m_[2]}Z`) + (m_[3] ? Number(m_[3]) * 1000 : 0);
}

export interface OriginHit {
  readonly at: number;
  readonly headers: Record<string, string>;
}

export interface LoggedRequest {
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

/** The local Datum's objects of one project (`GET /_dev/state`), by resource (`httpproxies`, `connectoradvertisements`, …). */
export type ProjectObjects = Record<string, { metadata: { name: string } }[]>;

export interface DatumMachine {
  readonly m: SystemdMachine;
  /** The CLI as the README runs it: the local Datum's exports in the shell, the default state root. */
  cli(s: Scope, args: string, timeoutMs?: number): Promise<ExecResult>;
  show(s: Scope, props: string[]): Promise<Record<string, string>>;
  /** Poll `systemctl show` until `ok` holds (bounded); returns the last properties. */
  until(s: Scope, what: string, timeoutMs: number, props: string[], ok: (p: Record<string, string>) => boolean): Promise<Record<string, string>>;
  /** An HTTP GET from inside the machine (its loopback), through the machine's Bun. */
  get(url: string): Promise<{ status: number; body: string }>;
  /** What an origin logged (default: the shared origin's log). */
  originHits(path?: string): Promise<OriginHit[]>;
  requestLog(): Promise<LoggedRequest[]>;
  /** The local Datum's objects of `project`. */
  datumState(project?: string): Promise<ProjectObjects>;
  devConfig(patch: unknown): Promise<void>;
  /** Start the local Datum as a unit of its own, on fixed ports and a kept --dir, and wait for its exports. */
  startLocalDatum(): Promise<void>;
  stop(): Promise<void>;
}

function configYaml(): string {
  const s: ConfigSessionSpec = { name: SESSION, userKey: USER_KEY, email: "dev@local.datum", server: `http://127.0.0.1:${API_PORT}` };
  const doc = datumctlConfigDocument({
    sessions: [s],
    contexts: [{ session: s.name, org: "local-org" }, { session: s.name, org: "local-org", project: PROJECT }],
    currentContext: { session: s.name, org: "local-org", project: PROJECT },
    activeSession: s.name,
  });
  return Bun.YAML.stringify(doc, null, 2);
}

/** Boot the machine and bring up everything the tests share (see the top of this file). */
export async function bootDatumMachine(log: (line: string) => void): Promise<DatumMachine> {
  const started = performance.now();
  const host = await ensureHostBinary();
  log(`system: host executable ${host.cached ? "reused" : `built in ${(host.buildMs / 1000).toFixed(1)} s`}`);
  const m = await bootMachine({ bindReadOnly: [[host.path, EXE], [process.execPath, "/usr/local/bin/bun"]], log });

  const show = async (s: Scope, props: string[]): Promise<Record<string, string>> => {
    const out = await m.must(`${s.systemctl} show --timestamp=us+utc -p ${props.join(",")} ${s.unit}`, s.as);
    const r: Record<string, string> = {};
    for (const line of out.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) r[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return r;
  };

  const startLocalDatum = async (): Promise<void> => {
    await m.must(
      `mkdir -p /run/localdatum && rm -f ${DATUM_ENV} && systemctl reset-failed localdatum.service 2>/dev/null; ` +
        `systemd-run --unit=localdatum --property=Environment=HOME=/root ${EXE} dev cloud --dir ${DATUM_DIR} --env-file ${DATUM_ENV} --port ${API_PORT} --edge-port ${EDGE_PORT} --no-relay`,
    );
    await m.must(`i=0; until [ -s ${DATUM_ENV} ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`, { timeoutMs: 40_000 });
    // The lingering user reads the same exports, and runs a copy of the datumctl double of its own
    // (the double keeps private files; the local Datum admits any bearer token).
    await m.must(
      `chmod 755 /run/localdatum && chmod 644 ${DATUM_ENV} && rm -rf ${ALICE_DOUBLE} && cp -a ${DATUM_DIR}/datumctl ${ALICE_DOUBLE} && ` +
        `sed -i 's#${DATUM_DIR}/datumctl#${ALICE_DOUBLE}#g' ${ALICE_DOUBLE}/bin/datumctl && chown -R alice:alice ${ALICE_DOUBLE}`,
    );
  };

  const dm: DatumMachine = {
    m,
    cli(s, args, timeoutMs = 120_000) {
      const helper = s.scope === "user" ? ` && unset DATUMCTL_DOUBLE_STATE DATUMCTL_DOUBLE_LOG && export DATUM_CREDENTIALS_HELPER=${ALICE_DOUBLE}/bin/datumctl` : "";
      return m.sh(`. ${DATUM_ENV} && unset DATUM_CONNECT_DIR${helper} && exec ${EXE} ${args}`, { ...s.as, timeoutMs });
    },
    show,
    async until(s, what, timeoutMs, props, ok) {
      const deadline = Date.now() + timeoutMs;
      let last: Record<string, string> = {};
      for (;;) {
        last = await show(s, props);
        if (ok(last)) return last;
        if (Date.now() > deadline) {
          const journal = (await m.sh(`${s.journal} | tail -n 40`)).stdout;
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${s.unit}: ${what}; last: ${JSON.stringify(last)}\njournal:\n${journal}`);
        }
        await Bun.sleep(250);
      }
    },
    async get(url) {
      const out = await m.must(`exec bun -e 'const r = await fetch(process.argv[1], { signal: AbortSignal.timeout(10000) }); console.log(JSON.stringify({ status: r.status, body: await r.text() }))' '${url}'`, { timeoutMs: 20_000 });
      return JSON.parse(out.trim()) as { status: number; body: string };
    },
    async originHits(path = ORIGIN_LOG) {
      const text = (await m.sh(`cat ${path} 2>/dev/null`)).stdout;
      return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as OriginHit);
    },
    async requestLog() {
      const out = await m.must(`exec bun -e 'const r = await fetch("http://127.0.0.1:${API_PORT}/_dev/requests"); console.log(await r.text())'`, { timeoutMs: 20_000 });
      const doc = JSON.parse(out) as { items?: LoggedRequest[] } | LoggedRequest[];
      return Array.isArray(doc) ? doc : (doc.items ?? []);
    },
    async datumState(project = PROJECT) {
      const out = await m.must(`exec bun -e 'const r = await fetch("http://127.0.0.1:${API_PORT}/_dev/state"); if (!r.ok) process.exit(1); console.log(await r.text())'`, { timeoutMs: 20_000 });
      return (JSON.parse(out) as { projects: Record<string, ProjectObjects> }).projects[project] ?? {};
    },
    async devConfig(patch) {
      await m.must(`exec bun -e 'const r = await fetch("http://127.0.0.1:${API_PORT}/_dev/config", { method: "POST", headers: { "content-type": "application/json" }, body: process.argv[1] }); if (!r.ok) { console.error(r.status, await r.text()); process.exit(1); }' '${JSON.stringify(patch)}'`);
    },
    startLocalDatum,
    stop: () => m.stop(),
  };

  try {
    const yaml = configYaml();
    const keyDigest = createHash("sha256").update(USER_KEY).digest("hex");
    // root: the same session, made a service account by its key file (docs/wire-facts.md#session-type), for --system.
    // alice: an interactive login, lingering, for a user unit.
    await m.must(
      [
        "set -e",
        `mkdir -p /root/.datumctl /root/.config/datumctl/service-accounts`,
        `cat > /root/.datumctl/config <<'EOF'\n${yaml}\nEOF`,
        `printf '%s\\n' '-----BEGIN PRIVATE KEY-----' 'c3lzdGVtIHRlc3Qga2V5' '-----END PRIVATE KEY-----' > /root/.config/datumctl/service-accounts/${keyDigest}.pem`,
        `chmod 600 /root/.datumctl/config /root/.config/datumctl/service-accounts/${keyDigest}.pem`,
        `useradd -m -u ${ALICE_UID} alice`,
        `mkdir -p /home/alice/.datumctl && cp /root/.datumctl/config /home/alice/.datumctl/config && chown -R alice:alice /home/alice/.datumctl`,
        `mkdir -p /var/lib/origin`,
      ].join("\n"),
    );
    // The origin: answers every request and logs when and with which headers it was reached.
    await m.must(
      `systemd-run --unit=origin /usr/local/bin/bun -e 'const fs = require("node:fs"); Bun.serve({ hostname: "127.0.0.1", port: ${ORIGIN_PORT}, fetch(req) { fs.appendFileSync("${ORIGIN_LOG}", JSON.stringify({ at: Date.now(), headers: Object.fromEntries(req.headers) }) + "\\n"); return new Response("${ORIGIN_BODY}"); } })'`,
    );
    await startLocalDatum();
    await m.must(`loginctl enable-linger alice; i=0; until [ -S /run/user/${ALICE_UID}/bus ]; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.1; done`, { timeoutMs: 40_000 });
  } catch (err) {
    await m.stop();
    throw err;
  }
  log(`system: machine ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return dm;
}
