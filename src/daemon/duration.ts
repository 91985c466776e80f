/** `--wait` values: `30s`, `2m`, `1m30s`, `500ms`, `1h`, or a bare number of seconds. */
import { UsageError } from "../errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string, flag = "--wait"): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1_000);
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== t) {
    throw new UsageError(`invalid ${flag} "${text}"`, "use a duration like 30s, 2m, 1m30s or 500ms");
  }
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] as string] as number), 0));
}
