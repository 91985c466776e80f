/**
 * Kubernetes timestamps: `metav1.Time` is RFC 3339 with whole seconds (`creationTimestamp`,
 * `lastTransitionTime`); `metav1.MicroTime` has six fractional digits (Lease `renewTime`).
 */

export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

export function formatMicroTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-07-01T12:00:00.123Z
  return `${iso.slice(0, -1)}000Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Milliseconds since the epoch, or undefined when the text is not RFC 3339. Fractions beyond
 * milliseconds are truncated, as `Date` cannot hold them.
 */
export function parseTime(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const fraction = (m[3] ?? "").slice(0, 3).padEnd(3, "0");
  const zone = m[4] === "z" ? "Z" : m[4];
  const ms = Date.parse(`${m[1]}T${m[2]}.${fraction}${zone}`);
  return Number.isNaN(ms) ? undefined : ms;
}
