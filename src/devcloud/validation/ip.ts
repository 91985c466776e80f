/**
 * IP address text as the platform's Go code reads it: dotted-quad IPv4 without leading zeros, IPv6
 * with `::` and an optional IPv4 tail, no zone. Parsed into 16 bytes (IPv4 as IPv4-mapped IPv6),
 * so the classification below (unspecified, loopback, link-local) covers both families.
 */

export interface ParsedIP {
  readonly bytes: Uint8Array;
  /** Written as IPv4, or as IPv4-mapped IPv6 (`::ffff:a.b.c.d`). */
  readonly isV4: boolean;
  /** Written in IPv6 notation (also true for `::ffff:1.2.3.4`). */
  readonly writtenAsV6: boolean;
}

function parseV4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith("0"))) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseV6(text: string): number[] | undefined {
  if (text.includes("%")) return undefined;
  let head = text;
  let v4Tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseV4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    v4Tail = v4;
    // Two placeholder groups stand in for the dotted tail, so the group count works out below.
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const group of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      out.push(Number.parseInt(group, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] ?? "");
  const right = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  if (v4Tail.length === 4) bytes.splice(12, 4, ...v4Tail);
  return bytes;
}

export function parseIP(text: string): ParsedIP | undefined {
  const v4 = parseV4(text);
  if (v4) return { bytes: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]), isV4: true, writtenAsV6: false };
  if (!text.includes(":")) return undefined;
  const v6 = parseV6(text);
  if (!v6) return undefined;
  const bytes = Uint8Array.from(v6);
  return { bytes, isV4: isV4Mapped(bytes), writtenAsV6: true };
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

export function isUnspecified(ip: ParsedIP): boolean {
  if (ip.isV4) return ip.bytes.slice(12).every((b) => b === 0);
  return ip.bytes.every((b) => b === 0);
}

export function isLoopback(ip: ParsedIP): boolean {
  if (ip.isV4) return ip.bytes[12] === 127;
  return ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
}

export function isLinkLocalUnicast(ip: ParsedIP): boolean {
  if (ip.isV4) return ip.bytes[12] === 169 && ip.bytes[13] === 254;
  return ip.bytes[0] === 0xfe && ((ip.bytes[1] ?? 0) & 0xc0) === 0x80;
}

export function isLinkLocalMulticast(ip: ParsedIP): boolean {
  if (ip.isV4) return ip.bytes[12] === 224 && ip.bytes[13] === 0 && ip.bytes[14] === 0;
  return ip.bytes[0] === 0xff && ((ip.bytes[1] ?? 0) & 0x0f) === 0x02;
}

/**
 * The CRDs' `isIP(self)`: an IPv4 or IPv6 address without a zone, and not IPv4-mapped IPv6
 * (`::ffff:1.2.3.4` is refused, though plain Go parsing would take it).
 */
export function isStrictIP(text: string): boolean {
  const ip = parseIP(text);
  if (!ip) return false;
  return !(ip.writtenAsV6 && ip.isV4);
}
