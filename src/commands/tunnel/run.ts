/**
 * `tunnel run --name N [--system]`: what a service unit executes. It loads the tunnel's
 * `tunnel.yaml` and runs the tunnel in the foreground until SIGTERM, logging JSON lines to the
 * tunnel's log. Under systemd it speaks `sd_notify` (READY=1 at verified ready, STATUS=,
 * STOPPING=1, WATCHDOG=1 while the data plane answers). Exit 0 on a clean stop, non-zero on a
 * fatal error so the manager restarts it (README.md#exit-codes). A group's unit runs the group
 * (docs/groups.md); `systemctl reload` (SIGHUP) converges it to its file.
 */
import { defineCommand } from "citty";
import { Rejected } from "../../errors.ts";
import { describeFailure } from "../../failure.ts";
import { runForeground } from "../../listen/foreground.ts";
import { checkPath } from "../../service/executable.ts";
import { notifierFromEnv } from "../../service/sd-notify.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { readTunnelConfig, singleEndpoint } from "../../state/tunnel-config.ts";
import { validateStoredEndpoint } from "../../tunnel/endpoint.ts";

export const run = defineCommand({
  meta: { name: "run", description: "Run a named tunnel in the foreground from its tunnel.yaml (what its service unit executes)" },
  args: {
    name: { type: "string", description: "Tunnel name", valueHint: "name", required: true },
    system: { type: "boolean", description: "A system-scope tunnel (installed with --system)" },
  },
  async run({ args }) {
    const name = assertSafeName("tunnel name", args.name);
    const scope = args.system === true ? "system" : "user";
    const path = tunnelFiles(tunnelDir(stateRoot(scope), name)).config;
    // Read (and cleared from the environment) first, so no child ever inherits NOTIFY_SOCKET.
    const notifier = notifierFromEnv(process.env);
    // The watchdog is fed from this first moment; setup hands it the data plane's check later.
    notifier?.startWatchdog(async () => ({ ping: true, reason: null }));
    try {
      const config = await readTunnelConfig(path);
      if (!config) {
        throw new Rejected(
          `no tunnel named "${name}"${scope === "system" ? " in system scope" : ""}: ${path} does not exist`,
          `install it with 'tunnel install --name ${name} ...${scope === "system" ? " --system" : ""}'`,
          "not_found",
        );
      }
      if (config.endpoint !== null) singleEndpoint(config, path, validateStoredEndpoint);
      // The helper recorded at install is the one that was validated; DATUM_CREDENTIALS_HELPER
      // (set by the unit, or by datumctl) stands in only when the recorded path went away.
      const helper = checkPath(config.helper).resolves ? config.helper : (process.env.DATUM_CREDENTIALS_HELPER?.trim() || config.helper);
      if (helper) process.env.DATUM_CREDENTIALS_HELPER = helper;
      // The foreground's close() ends the watchdog; the socket stays open for a last STATUS=.
      const managed = notifier && {
        ready: (urls: readonly string[]) => notifier.ready(urls),
        status: (text: string) => notifier.status(text),
        stopping: () => notifier.stopping(),
        startWatchdog: (healthy: Parameters<typeof notifier.startWatchdog>[0]) => notifier.startWatchdog(healthy),
        close: () => notifier.stopWatchdog(),
      };
      if (config.endpoint === null) {
        // A group (`install -f`): its services from the copy of its file in its state (docs/groups.md).
        const { runGroup } = await import("../../group/foreground.ts");
        await runGroup({ name, scope, source: config.group_file ?? null, watchSource: false, prune: false, output: "table", fileLogs: true, notifier: managed });
        return;
      }
      await runForeground({
        name,
        config,
        configCreated: false,
        scope,
        yes: true,
        health: null,
        output: "table",
        fileLogs: true,
        notifier: managed,
      });
    } catch (err) {
      // `systemctl status` shows the last STATUS= line: make it the reason.
      notifier?.status(`failed: ${describeFailure(err).lines[0]?.replace(/^error: /, "") ?? "error"}`);
      throw err;
    } finally {
      notifier?.close();
    }
  },
});
