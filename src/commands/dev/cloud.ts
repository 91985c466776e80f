import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { defineCommand } from "citty";
import { UsageError } from "../../errors.ts";
import { say } from "../../log.ts";
import { emit } from "../../output.ts";
import { writeFileAtomic } from "../../state/atomic-write.ts";
import { pidAlive } from "../../state/process-identity.ts";

/** `export NAME='value'` lines, single-quoted so any value survives `. file` in a POSIX shell. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join("\n");
}

function parsePort(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid ${flag} "${value}"`, "a port is 0–65535 (0 picks a free one)");
  return port;
}

export const cloud = defineCommand({
  meta: {
    name: "cloud",
    description: "Run a local Datum (control plane, controllers, edge, gateway, datumctl double) on loopback",
  },
  args: {
    port: { type: "string", description: "Control-plane port (default: the one this --dir used before, else a free one)", valueHint: "port" },
    "edge-port": { type: "string", description: "Edge port for public URLs (default: the one this --dir used before, else a free one)", valueHint: "port" },
    dir: {
      type: "string",
      description: "Where it keeps its state; started again on the same --dir it is the same cloud: ports, objects, sessions (default: a temp dir removed on exit)",
      valueHint: "dir",
    },
    "env-file": { type: "string", description: "Also write the export lines to this file once ready", valueHint: "file" },
    project: { type: "string", description: "Project id to export as DATUM_PROJECT", default: "local-project" },
    "gateway-bind": { type: "string", description: "Address the gateway's iroh endpoint binds (default 127.0.0.1:0; 0.0.0.0:0 reaches devices on other test hosts)", valueHint: "addr:port" },
    "relay-bin": {
      type: "string",
      description: "The iroh-relay binary to run on loopback (default: the one scripts/build-relay.sh cached; without one, a placeholder relay URL)",
      valueHint: "path",
    },
    "no-relay": { type: "boolean", description: "Run no relay: devices publish the placeholder relay URL" },
    "parent-pid": { type: "string", description: "Stop when this process exits (for scripts and tests)", valueHint: "pid" },
    login: {
      type: "string",
      description:
        "Also log in, as datumctl login would, under this home directory: HOME/.datumctl/config with the README's user and service-account sessions (and the key file), served by the datumctl double; the export lines then set HOME (when it is not yours), PATH and DATUMCTL_TRUSTED_PLUGINS",
      valueHint: "home",
    },
    force: { type: "boolean", description: "With --login: replace an existing HOME/.datumctl/config (kept as config.before-dev-cloud)" },
  },
  async run({ args }) {
    const port = parsePort(args.port, "--port");
    const edgePort = parsePort(args["edge-port"], "--edge-port");
    if (args.login !== undefined && args.login.trim() === "") {
      throw new UsageError("--login needs a directory", "name the home to log in under, e.g. --login /tmp/datum-home (or --login ~ for your own ~/.datumctl)");
    }
    if (args.force && args.login === undefined) throw new UsageError("--force only goes with --login");
    const ownDir = args.dir === undefined;
    const dir = args.dir !== undefined ? resolve(args.dir) : mkdtempSync(join(tmpdir(), "datum-local-"));
    const { startLocalDatum } = await import("../../devcloud/local-datum.ts");
    const { relayBinary } = await import("../../devcloud/relay-server.ts");
    const relay = relayBinary({ flag: args["relay-bin"] !== undefined ? resolve(args["relay-bin"]) : undefined, disabled: noRelay(args), env: process.env });
    const datum = await startLocalDatum({
      dir,
      project: args.project,
      ...(port !== undefined ? { port } : {}),
      ...(edgePort !== undefined ? { edgePort } : {}),
      ...(args["gateway-bind"] ? { gatewayBind: args["gateway-bind"] } : {}),
      relay,
      log: say,
    });
    let env = datum.env();
    if (args.login !== undefined) {
      const { logIn, LOGIN_ACCOUNTS } = await import("../../devcloud/login.ts");
      const { LOCAL_ORG } = await import("../../devcloud/local-datum.ts");
      let login;
      try {
        login = logIn({ home: args.login, force: args.force === true, double: datum.double, server: datum.controlPlane.url, org: LOCAL_ORG, project: args.project, env: process.env });
      } catch (err) {
        await datum.stop();
        if (ownDir) rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      env = { ...env, ...login.env };
      const what = login.decision === "unchanged" ? "kept" : login.decision === "replace" ? `replaced (the old one is ${login.backup})` : "wrote";
      say(`logged in: ${what} ${login.configPath} with ${LOGIN_ACCOUNTS.map((a) => `${a.session} (${a.type === "service_account" ? `service account, key ${login.keyPath}` : "user"})`).join(", ")}`);
    }
    const lines = exportLines(env);
    // The file is private; the directory is the user's (maybe /tmp): its mode is not ours to change.
    if (args["env-file"]) await writeFileAtomic(resolve(args["env-file"]), `${lines}\n`, 0o600, { privateDir: false });
    emit(lines);
    say(`local Datum ready: API ${datum.controlPlane.url}${datum.edge ? `, edge ${datum.edge.url}` : ""}${datum.relay ? `, relay ${datum.relay.url}` : ""} (Ctrl+C to stop)`);

    const parent = args["parent-pid"] !== undefined ? Number(args["parent-pid"]) : undefined;
    await new Promise<void>((done) => {
      const finish = () => done();
      process.once("SIGINT", finish);
      process.once("SIGTERM", finish);
      // A script or test that dies without stopping us must not leave a local Datum behind.
      if (parent !== undefined && Number.isInteger(parent) && parent > 0) {
        const watch = setInterval(() => {
          if (!pidAlive(parent)) {
            clearInterval(watch);
            say(`parent process ${parent} is gone`);
            done();
          }
        }, 500);
      }
    });
    say("stopping local Datum");
    await datum.stop();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  },
});

/** citty reads `--no-relay` as the negation of a `relay` flag (`relay: false`), not as `no-relay: true`. */
function noRelay(args: Record<string, unknown>): boolean {
  return args["no-relay"] === true || args.relay === false;
}
