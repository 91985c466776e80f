/**
 * `services.json` of a group (docs/groups.md#state): which tunnel serves which service, by name.
 * A service found here is the group's own tunnel, taken back on every start and reload, so its
 * hostname survives restarts and a service removed and added again. It holds no secret.
 */
import * as v from "valibot";
import { Malformed } from "../errors.ts";
import { writeFileAtomic } from "../state/atomic-write.ts";
import { oneAtATime } from "../state/one-at-a-time.ts";
import { readTextIfExists } from "../state/read-optional.ts";

const ServiceIds = v.record(v.pipe(v.string(), v.minLength(1)), v.pipe(v.string(), v.minLength(1)));
export type ServiceIds = Readonly<Record<string, string>>;

export async function readServiceIds(path: string): Promise<ServiceIds> {
  const text = await readTextIfExists(path);
  if (text === undefined) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Malformed(`corrupt group state ${path}`, "delete the file: the group finds its tunnels again by endpoint on the next start", String(err));
  }
  const parsed = v.safeParse(ServiceIds, doc);
  if (!parsed.success) throw new Malformed(`corrupt group state ${path}`, "delete the file: the group finds its tunnels again by endpoint on the next start", v.summarize(parsed.issues));
  return parsed.output;
}

/** Read, apply `edit`, write back atomically (services start side by side: one edit at a time). */
export function updateServiceIds(path: string, edit: (ids: Record<string, string>) => Record<string, string>): Promise<ServiceIds> {
  return oneAtATime(path, async () => {
    const next = edit({ ...(await readServiceIds(path)) });
    await writeFileAtomic(path, `${JSON.stringify(next, null, 2)}\n`);
    return next;
  });
}
