/**
 * The identities of this machine that are serving right now: every identity slot (a project's
 * unnamed slot, a named tunnel's directory) whose lock is held by a running process, with the
 * endpoint id of its key. `listen --endpoint` uses this so it never adopts a tunnel another
 * process of this machine serves (docs/adoption.md). Reads only; a slot it cannot read is skipped.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { LiveIdentity } from "../tunnel/adoption.ts";
import { endpointIdViaNodeCrypto, SECRET_KEY_LENGTH } from "./identity.ts";
import { liveLockHolder } from "./lock.ts";
import { slotFiles, stateRoot } from "./paths.ts";

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return []; // absent or unreadable (another scope's root): nothing running there that we can see
  }
}

async function endpointIdOf(dir: string): Promise<string | undefined> {
  try {
    const key = new Uint8Array(await readFile(slotFiles(dir).listenKey));
    return key.length === SECRET_KEY_LENGTH ? endpointIdViaNodeCrypto(key) : undefined;
  } catch {
    return undefined;
  }
}

/** Running identities under `roots`, except the slot at `exceptDir` (the caller's own). */
export async function liveIdentities(roots: readonly string[], exceptDir: string): Promise<LiveIdentity[]> {
  const own = resolve(exceptDir);
  const seen = new Set<string>();
  const found: LiveIdentity[] = [];
  for (const root of roots) {
    const slots = [
      ...(await subdirs(join(root, "tunnels"))).map((name) => ({ dir: join(root, "tunnels", name), what: `tunnel ${name}` })),
      ...(await subdirs(join(root, "projects"))).map((project) => ({ dir: join(root, "projects", project), what: `the listen of project ${project}` })),
    ];
    for (const slot of slots) {
      const dir = resolve(slot.dir);
      if (dir === own || seen.has(dir)) continue;
      seen.add(dir);
      const holder = liveLockHolder(slotFiles(dir).lock);
      if (!holder) continue;
      const endpointId = await endpointIdOf(dir);
      if (endpointId) found.push({ endpointId, description: `${slot.what} (PID ${holder.pid})` });
    }
  }
  return found;
}

/**
 * The running identities a slot must not take tunnels from: under its own state root (two levels
 * up) and both scopes' default roots, except itself.
 */
export function liveIdentitiesBeside(slotDir: string, env: Readonly<Record<string, string | undefined>>): Promise<LiveIdentity[]> {
  const roots = [...new Set([resolve(slotDir, "..", ".."), stateRoot("user", { env }), stateRoot("system", { env })])];
  return liveIdentities(roots, slotDir);
}
