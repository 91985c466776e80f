/**
 * The README's examples, run top to bottom as one session against a local Datum (issue 18): every
 * ```sh block is read from README.md at test time with its `<!-- walkthrough ... -->` marker (see
 * test/helpers/readme-walkthrough.ts), its `datumctl connect` / `datumctl-connect` /
 * `npx -- datumctl-connect` prefix becomes this checkout's CLI, and each command runs as a real
 * child process, all in one working directory of the session's own (where a here-document writes
 * its file, e.g. the group's `datum-tunnels.yaml`). A command that runs until Ctrl+C gets SIGINT
 * where its marker says. After every step, every tunnel started so far and not yet stopped
 * (Ctrl+C, `tunnel stop`, `tunnel disable`, `tunnel delete`) must still serve its public URL from
 * the right origin; a group's services count one by one (`up`'s `name URL` lines, and the services
 * `tunnel reload` says it added). Skipped blocks and lines are printed with the README's reason.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { BUN, CLI, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { killAllListens, startListen, type ListenProcess } from "../helpers/listen.ts";
import { startLocalDatum, type LocalDatum } from "../helpers/local-datum.ts";
import { classify, disabledServices, flagValue, parseWalkthrough, reloadSummary, runsUntilInterrupted, serviceUrlLines, yamlValues, type Block, type Step } from "../helpers/readme-walkthrough.ts";
import { DEFAULT_GROUP_FILE, readGroupFile, type GroupFile } from "../../src/group/config.ts";

const README = readFileSync(join(REPO_ROOT, "README.md"), "utf8");

let blocks: Block[] = [];
let parseError = "";
try {
  blocks = parseWalkthrough(README);
} catch (e) {
  parseError = (e as Error).message;
}
const walked = blocks.filter((b) => b.skip === undefined);

/** `host:port` → port, for every endpoint the walked examples name (flags, placeholders, files they write). */
function portOf(endpoint: string): number {
  const m = /:(\d+)\/?$/.exec(endpoint);
  if (!m) throw new Error(`no port in endpoint ${endpoint}`);
  return Number(m[1]);
}
const originPorts = new Set<number>();
const healthPorts = new Set<number>();
for (const block of walked) {
  for (const p of block.placeholders) originPorts.add(portOf(p.endpoint));
  for (const step of block.steps) {
    if (step.directive?.kind === "skip") continue;
    const cmd = classify(step.text, step.directive, step.heredoc);
    if (cmd.kind === "write") {
      for (const endpoint of yamlValues(cmd.text, "endpoint")) originPorts.add(portOf(endpoint));
      for (const health of yamlValues(cmd.text, "health")) healthPorts.add(portOf(health));
    }
    if (cmd.kind !== "cli") continue;
    const endpoint = flagValue(cmd.args, "--endpoint");
    if (endpoint) originPorts.add(portOf(endpoint));
    const health = flagValue(cmd.args, "--health");
    if (health) healthPorts.add(portOf(health));
  }
}

/** What the origin on `port` answers: the walkthrough checks each public URL reaches the right one. */
const originBody = (port: number) => `README walkthrough origin :${port}`;

// The README names fixed ports (3000, 8080, 4000, 9464). Inside scripts/netns.sh they are free; on a
// machine where one is taken the walkthrough cannot run, and says so instead of failing.
const origins: ReturnType<typeof Bun.serve>[] = [];
let unavailable = "";
for (const port of [...originPorts, ...healthPorts]) {
  try {
    const server = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response(originBody(port)) });
    if (healthPorts.has(port)) server.stop(true);
    else origins.push(server);
  } catch (e) {
    unavailable = `port ${port} is taken here (${(e as Error).message}); run it through scripts/test.sh (a private network namespace)`;
    break;
  }
}
// `localhost:8080` may resolve to ::1 first; serve there too where IPv6 loopback exists.
if (!unavailable) {
  for (const port of originPorts) {
    try {
      origins.push(Bun.serve({ hostname: "::1", port, fetch: () => new Response(originBody(port)) }));
    } catch {
      // no IPv6 loopback: 127.0.0.1 serves it
    }
  }
}
if (unavailable) console.log(`README walkthrough skipped: ${unavailable}`);

interface LiveTunnel {
  readonly url: string;
  readonly id: string;
  readonly endpoint: string;
  /** Where it was started: `README.md:N`. */
  readonly from: string;
  readonly name?: string;
  /** A group's service: its name in the group `name`. */
  readonly service?: string;
  readonly proc?: Background;
}

interface Background {
  readonly pid: number;
  readonly from: string;
  readonly text: string;
  /** A foreground `tunnel listen`, a foreground `tunnel up` (a group), or another command. */
  readonly kind: "listen" | "up" | "other";
  /** For `up`: its group's services. */
  readonly services?: readonly string[];
  /** Ctrl+C it after the step containing this text; undefined: at the end of its block. */
  readonly after?: string;
  exitCode(): number | null;
  output(): string;
  stop(): Promise<{ code: number; output: string }>;
  kill(): void;
}

let datum: LocalDatum;
/** The session's working directory: every CLI step runs here, and here-documents write here. */
let cwd = "";
const started: Background[] = [];
const children = new Set<Subprocess>();

beforeAll(async () => {
  if (unavailable || parseError) return;
  cwd = mkdtempSync(join(tmpdir(), "readme-walkthrough-"));
  datum = await startLocalDatum();
});

afterAll(async () => {
  for (const b of started) b.kill();
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await killAllListens();
  // A detached tunnel the walkthrough left running (a failed `tunnel stop`) ends by its PID.
  if (datum) {
    const ps = await runCli(["tunnel", "ps", "-o", "json"], { env: datum.env, cwd }).catch(() => undefined);
    for (const t of ps && ps.code === 0 ? (JSON.parse(ps.stdout) as { pid: number | null; status: string }[]) : []) {
      if (t.pid && t.status !== "stopped" && t.status !== "dead") {
        try {
          process.kill(t.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }
  for (const o of origins) o.stop(true);
  await datum?.stop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

test("every sh block in the README has a walkthrough marker", () => {
  expect(parseError).toBe("");
  expect(walked.length).toBeGreaterThan(0);
});

test.skipIf(unavailable !== "" || parseError !== "")(
  "the README's examples, top to bottom, leave every tunnel serving until the step that stops it",
  async () => {
    const problems: string[] = [];
    const live: LiveTunnel[] = [];
    const resolved = new Map<string, string>();
    let printedUrl = "";
    const env = () => datum.env;

    const tunnels = async (): Promise<{ id: string; endpoint: string; hostnames: string[]; deleting: boolean }[]> => {
      const r = await runCli(["tunnel", "list", "-o", "json"], { env: env(), cwd });
      if (r.code !== 0) throw new Error(`tunnel list -o json exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    };
    const sameEndpoint = (a: string, b: string) => a.replace(/^https?:\/\//, "").replace(/\/$/, "") === b.replace(/^https?:\/\//, "").replace(/\/$/, "");

    /** Remember a tunnel that now serves `url`: its id and endpoint from the project's list. */
    const adopt = async (url: string, step: Step, extra: { name?: string; service?: string; proc?: Background } = {}) => {
      printedUrl = url;
      const host = new URL(url).hostname;
      const t = (await tunnels()).find((x) => x.hostnames.includes(host));
      if (!t) {
        problems.push(`README.md:${step.line} \`${step.text}\`: printed ${url}, but no tunnel in \`tunnel list\` has that hostname`);
        return;
      }
      live.push({ url, id: t.id, endpoint: t.endpoint, from: `README.md:${step.line}`, ...extra });
    };

    const checkServing = async (step: Step) => {
      for (const t of [...live]) {
        const expected = originBody(portOf(t.endpoint));
        let got: string;
        try {
          const res = await fetch(`${t.url}/`, { signal: AbortSignal.timeout(10_000), keepalive: false });
          const body = await res.text();
          if (res.status === 200 && body === expected) continue;
          got = `HTTP ${res.status} ${JSON.stringify(body.slice(0, 200))}`;
        } catch (e) {
          got = (e as Error).message;
        }
        problems.push(`after README.md:${step.line} \`${step.text}\`: the tunnel ${t.id} started at ${t.from} (${t.url}, endpoint ${t.endpoint}) no longer serves: ${got}, expected 200 ${JSON.stringify(expected)}`);
        live.splice(live.indexOf(t), 1); // reported once
      }
      for (const b of [...started]) {
        const code = b.exitCode();
        if (code !== null) {
          problems.push(`after README.md:${step.line} \`${step.text}\`: \`${b.text}\` (${b.from}) exited ${code} before its Ctrl+C\n${b.output()}`);
          started.splice(started.indexOf(b), 1);
        }
      }
    };

    const interrupt = async (b: Background, why: string) => {
      started.splice(started.indexOf(b), 1);
      const { code, output } = await b.stop();
      console.log(`  Ctrl+C ${b.from} \`${b.text}\` (${why}): exit ${code}`);
      for (const t of live.filter((x) => x.proc === b)) live.splice(live.indexOf(t), 1);
      if (code !== 0) problems.push(`Ctrl+C of ${b.from} \`${b.text}\` (${why}) exited ${code}, expected 0\n${output}`);
      // The README's promise for a listen: Ctrl+C disables the advertisement and says so.
      else if (b.kind === "listen" && !/Tunnel disabled\.|"type":\s*"tunnel_disabled"/.test(output)) {
        problems.push(`Ctrl+C of ${b.from} \`${b.text}\` (${why}) exited 0 without "Tunnel disabled." or a tunnel_disabled event\n${output}`);
      }
      // And for a group's `up`: Ctrl+C disables every service, each saying so.
      else if (b.kind === "up") {
        const said = disabledServices(output);
        const quiet = (b.services ?? []).filter((s) => !said.has(s));
        if (quiet.length > 0) problems.push(`Ctrl+C of ${b.from} \`${b.text}\` (${why}) exited 0 without "<service>: Tunnel disabled." for ${quiet.join(", ")}\n${output}`);
      }
    };

    /** A `tunnel listen` or `tunnel up` child as a command the walkthrough Ctrl+C's. */
    const background = (p: ListenProcess, kind: "listen" | "up", step: Step, after: string | undefined, services?: readonly string[]): Background => ({
      pid: p.pid,
      from: `README.md:${step.line}`,
      text: step.text,
      kind,
      services,
      after,
      exitCode: () => p.exitCode(),
      output: () => `--- stdout\n${p.stdout()}\n--- stderr\n${p.stderr()}`,
      stop: async () => {
        const exit = await p.stop("SIGINT", 20_000);
        return { code: exit.code, output: `--- stdout\n${exit.stdout}\n--- stderr\n${exit.stderr}` };
      },
      kill: () => p.kill(),
    });

    /** The group file a `tunnel up` reads: `-f FILE`, else `./datum-tunnels.yaml`, in the session's directory. */
    const groupFileOf = async (args: readonly string[]): Promise<GroupFile> =>
      (await readGroupFile(resolve(cwd, flagValue(args, "--file") ?? flagValue(args, "-f") ?? DEFAULT_GROUP_FILE))).group;

    /**
     * Start a command that runs until Ctrl+C; resolves once it is ready (listen: its public URL; up:
     * a `name URL` line for every service of its file; else its first line).
     */
    const startBackground = async (
      step: Step,
      args: readonly string[],
      after?: string,
    ): Promise<{ proc: Background; url?: string; group?: { name: string; urls: Map<string, string> } } | undefined> => {
      const from = `README.md:${step.line}`;
      if (args[0] === "tunnel" && args[1] === "listen") {
        let p: ListenProcess;
        try {
          p = await startListen(args.slice(2), { env: env(), cwd, readyTimeoutMs: 30_000 });
        } catch (e) {
          problems.push(`${from} \`${step.text}\`: ${(e as Error).message}`);
          return undefined;
        }
        return { proc: background(p, "listen", step, after), url: p.url };
      }
      if (args[0] === "tunnel" && args[1] === "up") {
        let p: ListenProcess | undefined;
        try {
          const group = await groupFileOf(args);
          const names = group.services.map((x) => x.name);
          const started = await startListen(args.slice(2), { env: env(), cwd, command: ["tunnel", "up"], waitForReady: false });
          p = started;
          const ready = () => names.every((n) => serviceUrlLines(started.stdout()).has(n));
          await started.waitFor(() => ready() || started.exitCode() !== null, 45_000, `a \`name URL\` line for each of ${names.join(", ")}`);
          if (!ready()) throw new Error(`exited ${started.exitCode()} before a \`name URL\` line for each of ${names.join(", ")}\n--- stdout\n${started.stdout()}\n--- stderr\n${started.stderr()}`);
          const urls = serviceUrlLines(started.stdout());
          return { proc: background(started, "up", step, after, names), group: { name: group.name, urls: new Map(names.map((n) => [n, urls.get(n) as string])) } };
        } catch (e) {
          p?.kill();
          problems.push(`${from} \`${step.text}\`: ${(e as Error).message}`);
          return undefined;
        }
      }
      const child = Bun.spawn([BUN, CLI, ...args], {
        env: { ...process.env, NO_COLOR: "1", ...env() },
        cwd,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      children.add(child);
      let out = "";
      let err = "";
      const decoder = () => new TextDecoder();
      const pump = (s: ReadableStream<Uint8Array>, add: (t: string) => void) =>
        (async () => {
          const d = decoder();
          for await (const chunk of s) add(d.decode(chunk, { stream: true }));
        })();
      const streams = Promise.all([pump(child.stdout, (t) => (out += t)), pump(child.stderr, (t) => (err += t))]);
      const proc: Background = {
        pid: child.pid,
        from,
        text: step.text,
        kind: "other",
        after,
        exitCode: () => child.exitCode,
        output: () => `--- stdout\n${out}\n--- stderr\n${err}`,
        stop: async () => {
          if (child.exitCode === null) child.kill("SIGINT");
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          const code = await child.exited;
          clearTimeout(timer);
          await streams.catch(() => undefined);
          return { code, output: `--- stdout\n${out}\n--- stderr\n${err}` };
        },
        kill: () => {
          if (child.exitCode === null) child.kill("SIGKILL");
        },
      };
      const deadline = performance.now() + 15_000;
      while (!out.includes("\n") && child.exitCode === null && performance.now() < deadline) await Bun.sleep(25);
      if (!out.includes("\n")) {
        proc.kill();
        problems.push(`${from} \`${step.text}\`: printed no line before ${child.exitCode === null ? "15 s" : `exiting ${child.exitCode}`}\n${proc.output()}`);
        return undefined;
      }
      return { proc };
    };

    for (const block of blocks) {
      if (block.skip !== undefined) {
        console.log(`README.md:${block.line}  skip block (${block.skip}): ${block.steps.map((s) => s.text).join(" ; ")}`);
        continue;
      }
      console.log(`README.md:${block.line}  block`);
      for (const step of block.steps) {
        const d = step.directive;
        if (d?.kind === "skip") {
          console.log(`README.md:${step.line}  skip (${d.reason}): ${step.text}`);
          continue;
        }
        // Placeholders stand for a tunnel that exists by now; resolved once, at first use.
        let text = step.text;
        for (const ph of block.placeholders) {
          if (!text.includes(ph.text)) continue;
          if (!resolved.has(ph.text)) {
            const matches = (await tunnels()).filter((t) => !t.deleting && sameEndpoint(t.endpoint, ph.endpoint));
            if (matches.length !== 1) {
              problems.push(`README.md:${step.line}: \`${ph.text}\` stands for the tunnel of ${ph.endpoint}, but the project has ${matches.length}: ${matches.map((t) => t.id).join(", ")}`);
            }
            resolved.set(ph.text, matches[0]?.id ?? ph.text);
          }
          text = text.split(ph.text).join(resolved.get(ph.text) as string);
        }
        const cmd = classify(text, d, step.heredoc);
        let onceReady: Background | undefined;
        console.log(`README.md:${step.line}  $ ${text}`);

        if (cmd.kind === "other") {
          problems.push(`README.md:${step.line} \`${step.text}\`: neither the CLI, curl nor a here-document into a file; mark it \`skip (why)\``);
          continue;
        }
        if (cmd.kind === "write") {
          const path = resolve(cwd, cmd.file);
          (cmd.append ? appendFileSync : writeFileSync)(path, cmd.text);
          console.log(`  ${cmd.append ? "appended" : "wrote"} ${cmd.text.split("\n").length - 1} lines ${cmd.append ? "to" : "into"} ${path}`);
        } else if (cmd.kind === "curl") {
          const url = cmd.url ?? printedUrl;
          try {
            const res = await fetch(url, { signal: AbortSignal.timeout(10_000), keepalive: false });
            const body = await res.text();
            console.log(`  HTTP ${res.status} ${body.slice(0, 120).split("\n")[0]}`);
            if (res.status !== 200) problems.push(`README.md:${step.line} \`${step.text}\`: HTTP ${res.status} ${body.slice(0, 300)}`);
            const tunnel = live.find((t) => t.url === url);
            if (tunnel && body !== originBody(portOf(tunnel.endpoint))) problems.push(`README.md:${step.line} \`${step.text}\`: ${url} answered ${JSON.stringify(body)}, not its origin ${tunnel.endpoint}`);
          } catch (e) {
            problems.push(`README.md:${step.line} \`${step.text}\`: ${(e as Error).message}`);
          }
        } else if (runsUntilInterrupted(cmd.args)) {
          if (d?.kind !== "ctrl-c-once-ready" && d?.kind !== "another-terminal") {
            problems.push(`README.md:${step.line} \`${step.text}\` runs until Ctrl+C: its marker must say when (\`Ctrl+C once ready\` or \`in another terminal; Ctrl+C ...\`)`);
            continue;
          }
          const bg = await startBackground(step, cmd.args, d.kind === "another-terminal" ? (d.after ?? "") : undefined);
          if (bg) {
            if (bg.url) await adopt(bg.url, step, { proc: bg.proc });
            for (const [service, url] of bg.group?.urls ?? []) await adopt(url, step, { proc: bg.proc, name: bg.group?.name, service });
            const urls = bg.url ? [bg.url] : [...(bg.group?.urls ?? [])].map(([service, url]) => `${service} ${url}`);
            console.log(`  ready${urls.length > 0 ? `: ${urls.join(", ")}` : ""} (PID ${bg.proc.pid})`);
            started.push(bg.proc);
            if (d.kind === "ctrl-c-once-ready") onceReady = bg.proc;
          }
        } else {
          const r = await runCli(cmd.args, { env: env(), cwd, timeoutMs: 60_000 });
          const expected = d?.kind === "exits" ? d.code : 0;
          console.log(`  exit ${r.code}${r.stdout.trim() ? `: ${r.stdout.trim().split("\n").slice(0, 3).join(" | ").slice(0, 200)}` : ""}`);
          if (r.code !== expected) {
            problems.push(`README.md:${step.line} \`${text}\`: exit ${r.code}, expected ${expected}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
          } else if (cmd.args[0] === "tunnel") {
            const verb = cmd.args[1];
            const name = flagValue(cmd.args, "--name");
            const id = flagValue(cmd.args, "--id");
            if (verb === "listen" && name && r.code === 0) {
              const url = r.stdout.trim().split("\n")[0] as string;
              await adopt(url, step, { name });
            }
            // `up --detach`: a `name URL` line per service of the file, each now a tunnel that serves.
            if (verb === "up" && r.code === 0) {
              const group = await groupFileOf(cmd.args);
              const urls = serviceUrlLines(r.stdout);
              for (const service of group.services) {
                const url = urls.get(service.name);
                if (url) await adopt(url, step, { name: group.name, service: service.name });
                else problems.push(`README.md:${step.line} \`${step.text}\`: exit 0 without a \`${service.name} URL\` line\n--- stdout\n${r.stdout}`);
              }
            }
            // `reload`: what it says it changed. Removed (or deleted) services stop serving; added ones,
            // and changed ones (at their new endpoint), serve from now on, at the URLs `ps` lists.
            if (verb === "reload" && name && r.code === 0) {
              const summary = reloadSummary(r.stdout);
              for (const service of [...summary.removed, ...summary.changed]) {
                for (const t of live.filter((x) => x.name === name && x.service === service)) live.splice(live.indexOf(t), 1);
              }
              const serving = [...summary.added, ...summary.changed];
              if (serving.length > 0) {
                const ps = await runCli(["tunnel", "ps", "-o", "json"], { env: env(), cwd });
                const entry = (JSON.parse(ps.stdout) as { name: string; services?: { name: string; url: string | null }[] }[]).find((e) => e.name === name);
                for (const service of serving) {
                  const url = entry?.services?.find((x) => x.name === service)?.url;
                  if (url) await adopt(url, step, { name, service });
                  else problems.push(`README.md:${step.line} \`${step.text}\`: reported ${service}, but \`tunnel ps -o json\` lists no URL for it\n${ps.stdout}`);
                }
              }
            }
            // The steps that stop a tunnel: it need not serve after them.
            if (verb === "stop" && name) for (const t of live.filter((x) => x.name === name)) live.splice(live.indexOf(t), 1);
            if ((verb === "disable" || verb === "delete") && id) for (const t of live.filter((x) => x.id === id)) live.splice(live.indexOf(t), 1);
          }
        }

        await checkServing(step);
        if (onceReady && started.includes(onceReady)) await interrupt(onceReady, "once ready");
        // Commands in another terminal whose marker says "Ctrl+C after" this step.
        for (const b of started.filter((x) => x.after && step.text.includes(x.after))) await interrupt(b, `after ${b.after}`);
        console.log(`  serving: ${live.map((t) => `${t.service ? `${t.name}/${t.service} ` : ""}${t.id} (${t.from})`).join(", ") || "none"}`);
      }
      for (const b of started.filter((x) => !x.after)) await interrupt(b, "end of its block");
    }
    for (const b of [...started]) await interrupt(b, "end of the walkthrough");

    expect(problems).toEqual([]);
  },
  120_000,
);
