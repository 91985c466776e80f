/**
 * A worker's requests follow the proxy settings main hands it (workers/messages.ts), and nothing
 * else: Bun's fetch would otherwise also apply the proxy variables of the process's original
 * environment on its own, even to a worker started with a minimal one. Deleting them from the
 * worker's `process.env` turns that off for the worker (measured on Bun 1.4).
 */
import { PROXY_ENV_NAMES } from "./proxy.ts";

export function forgetInheritedProxyEnv(env: Record<string, string | undefined> = process.env): void {
  for (const name of PROXY_ENV_NAMES) delete env[name];
}
