/**
 * A stand-in for `systemctl`, for end-to-end tests on a machine with no running systemd (never
 * the real one). Put first on PATH through a wrapper script, it records every argument vector in
 * `$FAKE_SYSTEMCTL_DIR/calls.jsonl` and plays the manager's part for the verbs the agent uses:
 *
 * - `start`: reads the unit from `$DATUM_CONNECT_UNIT_DIR`, splits `ExecStart=` and
 *   `Environment=` by systemd's quoting rules, and starts that command in the background with the
 *   unit's environment on top of its own (its PID in `<unit>.pid`);
 * - `stop`: SIGTERM to that PID, then waits (45 s, the unit's `TimeoutStopSec`) for it to exit;
 * - `enable` / `disable`: a marker file; `show`: the properties `tunnel status` asks for;
 * - `daemon-reload`, `reset-failed`: accepted.
 */
import { spawn } from "node:child_process";
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { running as alive } from "../../helpers/wait.ts";

const stateDir = process.env.FAKE_SYSTEMCTL_DIR as string;
const unitDir = process.env.DATUM_CONNECT_UNIT_DIR as string;
const argv = process.argv.slice(2);
appendFileSync(join(stateDir, "calls.jsonl"), `${JSON.stringify(argv)}\n`);

/** systemd's word splitting: blanks separate, double quotes group, C escapes inside quotes. */
function systemdWords(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === " " || value[i] === "\t") i++;
    if (i >= value.length) break;
    let word = "";
    if (value[i] === '"') {
      i++;
      while (i < value.length && value[i] !== '"') {
        if (value[i] === "\\") {
          const next = value[i + 1] ?? "";
          word += next === "n" ? "\n" : next === "t" ? "\t" : next;
          i += 2;
        } else word += value[i++];
      }
      i++;
    } else {
      while (i < value.length && value[i] !== " " && value[i] !== "\t") word += value[i++];
    }
    words.push(word);
  }
  return words;
}

const words = argv.filter((a, i) => !a.startsWith("-") && argv[i - 1] !== "-p");
const [verb, unit] = words;
const pidFile = unit ? join(stateDir, `${unit}.pid`) : "";
const enabledFile = unit ? join(stateDir, `${unit}.enabled`) : "";
const pid = pidFile && existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : 0;

switch (verb) {
  case "daemon-reload":
  case "reset-failed":
    process.exit(0);
    break;
  case "enable":
    writeFileSync(enabledFile, "");
    process.exit(0);
    break;
  case "disable":
    rmSync(enabledFile, { force: true });
    process.exit(0);
    break;
  case "start": {
    if (pid && alive(pid)) process.exit(0);
    const text = readFileSync(join(unitDir, unit as string), "utf8");
    const exec = /^ExecStart=(.*)$/m.exec(text)?.[1];
    if (!exec) {
      process.stderr.write(`Unit ${unit} has no ExecStart\n`);
      process.exit(1);
    }
    const unescape = (w: string, first: boolean) => (first ? w : w.replace(/\$\$/g, "$")).replace(/%%/g, "%");
    const command = systemdWords(exec as string).map((w, i) => unescape(w, i === 0));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "FAKE_SYSTEMCTL_DIR") env[k] = v;
    for (const m of text.matchAll(/^Environment=(.*)$/gm)) {
      for (const assignment of systemdWords(m[1] as string)) {
        const eq = assignment.indexOf("=");
        env[assignment.slice(0, eq)] = assignment.slice(eq + 1).replace(/%%/g, "%");
      }
    }
    const out = openSync(join(stateDir, `${unit}.out`), "a");
    const child = spawn(command[0] as string, command.slice(1), { detached: true, stdio: ["ignore", out, out], env, cwd: "/" });
    closeSync(out);
    writeFileSync(pidFile, String(child.pid));
    child.unref();
    process.exit(0);
    break;
  }
  case "stop": {
    if (pid && alive(pid)) {
      process.kill(pid, "SIGTERM");
      const deadline = Date.now() + 45_000;
      while (alive(pid) && Date.now() < deadline) await Bun.sleep(50);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
    rmSync(pidFile, { force: true });
    process.exit(0);
    break;
  }
  case "show": {
    const running = pid > 0 && alive(pid);
    const loaded = existsSync(join(unitDir, unit as string));
    process.stdout.write(
      [
        `ActiveState=${running ? "active" : "inactive"}`,
        `SubState=${running ? "running" : "dead"}`,
        "Result=success",
        "ExecMainStatus=0",
        `ExecMainPID=${running ? pid : 0}`,
        `UnitFileState=${existsSync(enabledFile) ? "enabled" : "disabled"}`,
        "NRestarts=0",
        `LoadState=${loaded ? "loaded" : "not-found"}`,
        "",
      ].join("\n"),
    );
    process.exit(0);
    break;
  }
  default:
    process.stderr.write(`fake systemctl: unsupported ${JSON.stringify(argv)}\n`);
    process.exit(1);
}
