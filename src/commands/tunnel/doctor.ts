import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { helperTimeoutMs } from "../../auth/credentials-helper.ts";
import { readDatumctlConfig } from "../../context/datumctl-config.ts";
import { resolveApiBase, resolveContext, resolveSession, type Env } from "../../context/resolve.ts";
import { ControlPlaneClient, type TokenProvider } from "../../controlplane/client.ts";
import { checkApi } from "../../doctor/api.ts";
import { checkCredentials } from "../../doctor/credentials.ts";
import { checkDataplane } from "../../doctor/dataplane.ts";
import { exitCodeOf, hop, renderTable, reportDocument, type Hop } from "../../doctor/report.ts";
import { checkState, dnsHop, edgeHop, objectsHop, originHop, publicUrl } from "../../doctor/tunnel.ts";
import { CliError } from "../../errors.ts";
import { proxySettingsFrom } from "../../net/proxy.ts";
import { emit, formatJson } from "../../output.ts";
import { assertSafeName, stateRoot, tunnelDir, tunnelFiles } from "../../state/paths.ts";
import { envWithSettings } from "../../state/tunnel-settings.ts";
import { TunnelService } from "../../tunnel/service.ts";
import { VERSION } from "../../version.ts";

interface Target {
  readonly project: string | null;
  readonly apiBase: string | null;
  readonly session: string | undefined;
  readonly sessionOrigin: string | undefined;
  readonly helper: string | undefined;
}

/** Where this run's project, API host, session and helper come from, as one hop. */
function resolveTarget(env: Env, recorded: { project: string; api_host: string; session: string | null; helper: string | null } | undefined): { hop: Hop; target: Target } {
  const envHelper = env.DATUM_CREDENTIALS_HELPER?.trim() || undefined;
  if (recorded) {
    // As `tunnel run` does: the helper recorded at install, the environment's when that went away.
    const helper = recorded.helper && existsSync(recorded.helper) ? recorded.helper : (envHelper ?? recorded.helper ?? undefined);
    return {
      hop: hop.pass("context", "credentials", "context", `project ${recorded.project}, API ${recorded.api_host} (from tunnel.yaml)`),
      target: { project: recorded.project, apiBase: recorded.api_host, session: recorded.session ?? undefined, sessionOrigin: recorded.session ? "tunnel.yaml" : undefined, helper },
    };
  }
  const config = readDatumctlConfig();
  try {
    const ctx = resolveContext({ env, config });
    return {
      hop: hop.pass("context", "credentials", "context", `project ${ctx.project} (${ctx.origins.project.detail}), API ${ctx.apiBase} (${ctx.origins.apiBase.detail})`),
      target: { project: ctx.project, apiBase: ctx.apiBase, session: ctx.session, sessionOrigin: ctx.origins.session?.detail, helper: envHelper },
    };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    const session = resolveSession({ env, config });
    let apiBase: string | null = null;
    try {
      apiBase = resolveApiBase({ env, config }, session?.value).value;
    } catch {
      // Said by the hop below.
    }
    return {
      hop: hop.fail("context", "credentials", "context", err.exit === 2 ? "usage" : err.exit === 65 ? "malformed" : "config", err.message, err.hint ?? "pass --project"),
      target: { project: null, apiBase, session: session?.value, sessionOrigin: session?.origin.detail, helper: envHelper },
    };
  }
}

export const doctor = defineCommand({
  meta: { name: "doctor", description: "Check every hop from this machine to the public URL and name the first broken one" },
  args: {
    name: { type: "string", description: "Also check this named tunnel: its objects, hostname, edge, origin and state files", valueHint: "name" },
    output: { type: "enum", alias: "o", description: "Output format", options: ["table", "json"], default: "table" },
  },
  async run({ args }) {
    const env: Env = process.env;
    const proxy = proxySettingsFrom(env);
    const name = args.name ? assertSafeName("tunnel name", args.name) : undefined;
    const hops: Hop[] = [];

    const dir = name ? tunnelDir(stateRoot("user"), name) : undefined;
    const state = name && dir ? await checkState(name, dir) : undefined;
    if (state) hops.push(state.hop);
    const recorded = state?.state?.config;
    const { hop: contextHop, target } = resolveTarget(env, recorded);
    hops.push(contextHop);
    // A named tunnel runs with the settings it recorded (public URL, relays, placeholder).
    const tunnelEnv = envWithSettings(env, recorded);

    const credentials = await checkCredentials({ helper: target.helper, session: target.session, sessionOrigin: target.sessionOrigin, env, timeoutMs: helperTimeoutMs(env) });
    hops.push(...credentials.hops);

    let apiOk = false;
    if (target.apiBase) {
      const api = await checkApi({ apiBase: target.apiBase, project: target.project, token: credentials.token, proxy });
      hops.push(...api.hops);
      apiOk = api.hops.find((h) => h.id === "api.httpproxies")?.status === "pass";
    } else {
      hops.push(hop.fail("api.dns", "api", "API host", "config", "no API host could be resolved", "set DATUM_API_HOST or run 'datumctl login'"));
    }

    hops.push(...(await checkDataplane({ env: tunnelEnv, proxy })));

    if (name && state) {
      const s = state.state;
      if (!s) {
        for (const [id, title] of [
          ["tunnel.objects", "tunnel objects"],
          ["tunnel.dns", "public hostname resolves"],
          ["tunnel.edge", "edge answers"],
          ["tunnel.origin", "origin answers"],
        ] as const) hops.push(hop.skip(id, "tunnel", title, "the tunnel's state could not be read"));
      } else {
        const one = async (id: string | undefined, recordedHostnames: readonly string[], endpoint: string | undefined): Promise<Hop[]> => {
          const out: Hop[] = [];
          let hostnames = [...recordedHostnames];
          if (id === undefined) out.push(objectsHop(undefined, undefined, name));
          else if (!apiOk || !credentials.token || !target.apiBase || !target.project) {
            out.push(hop.skip("tunnel.objects", "tunnel", "tunnel objects", "the API is not usable (see above)", { target: id }));
          } else {
            const token = credentials.token;
            const tokens: TokenProvider = { token: async () => token, invalidate: async () => token };
            const client = new ControlPlaneClient({ apiBase: target.apiBase, project: target.project, tokens, proxy, budget: { attempts: 1, spacingMs: 0 }, notice: () => undefined });
            const service = new TunnelService({ client, endpointId: s.identity?.endpointIdHex ?? "", allowListPath: tunnelFiles(dir as string).allowList });
            const progress = await service.progress(id, { advertisement: true }).catch((err: unknown) => {
              if (err instanceof CliError) return err;
              throw err;
            });
            out.push(objectsHop(id, progress, name));
            if (progress && !(progress instanceof CliError) && progress.hostnames.length > 0) hostnames = progress.hostnames;
          }
          const origin = endpoint ? await originHop(endpoint) : hop.skip("tunnel.origin", "tunnel", "origin answers", "no endpoint recorded");
          const hostname = hostnames[0];
          if (hostname) {
            const url = publicUrl(hostname, tunnelEnv);
            out.push(await dnsHop(hostname, url, proxy));
            out.push(await edgeHop(url, proxy, s.running, name, origin.status === "fail"));
          } else {
            out.push(hop.skip("tunnel.dns", "tunnel", "public hostname resolves", "no hostname yet"));
            out.push(hop.skip("tunnel.edge", "tunnel", "edge answers", "no hostname yet"));
          }
          out.push(origin);
          return out;
        };
        const services = s.run?.services;
        if (services && services.length > 0) {
          // A group (docs/groups.md): every service's hops, each titled with its name.
          for (const svc of services) {
            for (const h of await one(svc.tunnelId ?? undefined, svc.hostnames, svc.endpoint ?? undefined)) hops.push({ ...h, title: `${svc.name}: ${h.title}` });
          }
        } else {
          hops.push(...(await one(s.run?.tunnelId ?? undefined, s.run?.hostnames ?? [], s.config?.endpoint ?? s.run?.endpoint ?? undefined)));
        }
      }
    }

    if (args.output === "json") {
      emit(formatJson(reportDocument(hops, { version: VERSION, platform: `${process.platform}-${process.arch}`, generatedAt: new Date().toISOString(), tunnel: name ?? null })));
    } else {
      emit(renderTable(hops));
    }
    const code = exitCodeOf(hops);
    if (code !== 0) process.exitCode = code;
  },
});
