/**
 * URLs read the way the platform's Go code reads them (`net/url` `Parse` and `ParseRequestURI`),
 * which is laxer and stricter than WHATWG `new URL` in different places: `localhost:3000` parses
 * with scheme `localhost`, `127.0.0.1:3000` is an error ("first path segment in URL cannot contain
 * colon"), `http://h:3000/` has the path `/`, and a port must be digits. The HTTPProxy webhook and
 * the `isURL` rule both depend on exactly these answers.
 */

export interface GoUrl {
  readonly scheme: string;
  readonly opaque: string;
  /** Present when the authority has a `user[:password]@` part. */
  readonly username?: string;
  readonly host: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly fragment: string;
}

export type GoUrlResult = { readonly ok: true; readonly url: GoUrl } | { readonly ok: false; readonly error: string };

class ParseError extends Error {}

/** Go's `url.Parse`: a URL or a relative reference, with an optional `#fragment`. */
export function parseUrl(raw: string): GoUrlResult {
  const hash = raw.indexOf("#");
  const main = hash === -1 ? raw : raw.slice(0, hash);
  let url: Omit<GoUrl, "fragment">;
  try {
    url = parse(main, false);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { ok: false, error: `parse ${goQuote(main)}: ${err.message}` };
  }
  try {
    return { ok: true, url: { ...url, fragment: hash === -1 ? "" : unescape(raw.slice(hash + 1), false) } };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { ok: false, error: `parse ${goQuote(raw)}: ${err.message}` };
  }
}

/** Go's `url.ParseRequestURI`: an absolute URI or an absolute path, no fragment split. */
export function parseRequestUri(raw: string): GoUrlResult {
  try {
    return { ok: true, url: { ...parse(raw, true), fragment: "" } };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { ok: false, error: `parse ${goQuote(raw)}: ${err.message}` };
  }
}

/** The host without its port and IPv6 brackets (Go's `URL.Hostname`). */
export function hostnameOf(url: GoUrl): string {
  return splitHostPort(url.host).host;
}

/** The port digits, or `""` (Go's `URL.Port`). */
export function portOf(url: GoUrl): string {
  return splitHostPort(url.host).port;
}

function splitHostPort(hostPort: string): { host: string; port: string } {
  let host = hostPort;
  let port = "";
  const colon = host.lastIndexOf(":");
  if (colon !== -1 && validOptionalPort(host.slice(colon))) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
  }
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host, port };
}

function parse(raw: string, viaRequest: boolean): Omit<GoUrl, "fragment"> {
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new ParseError("net/url: invalid control character in URL");
  if (raw === "" && viaRequest) throw new ParseError("empty url");
  const empty = { scheme: "", opaque: "", host: "", path: "", rawQuery: "" };
  if (raw === "*") return { ...empty, path: "*" };

  const { scheme: rawScheme, rest: afterScheme } = splitScheme(raw);
  const scheme = rawScheme.toLowerCase();
  let rest = afterScheme;
  let rawQuery = "";
  if (rest.endsWith("?") && rest.split("?").length === 2) {
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf("?");
    if (q !== -1) {
      rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }

  if (!rest.startsWith("/")) {
    if (scheme !== "") return { ...empty, scheme, opaque: rest, rawQuery };
    if (viaRequest) throw new ParseError("invalid URI for request");
    const firstSegment = rest.split("/")[0] ?? "";
    if (firstSegment.includes(":")) throw new ParseError("first path segment in URL cannot contain colon");
  }

  let host = "";
  let username: string | undefined;
  if ((scheme !== "" || (!viaRequest && !rest.startsWith("///"))) && rest.startsWith("//")) {
    let authority = rest.slice(2);
    rest = "";
    const slash = authority.indexOf("/");
    if (slash !== -1) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const at = authority.lastIndexOf("@");
    host = parseHost(at === -1 ? authority : authority.slice(at + 1));
    if (at !== -1) {
      const userinfo = authority.slice(0, at);
      if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) throw new ParseError("net/url: invalid userinfo");
      const colon = userinfo.indexOf(":");
      username = unescape(colon === -1 ? userinfo : userinfo.slice(0, colon), false);
    }
  }
  const path = unescape(rest, false);
  return { ...empty, scheme, host, path, rawQuery, ...(username !== undefined ? { username } : {}) };
}

function splitScheme(raw: string): { scheme: string; rest: string } {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) return { scheme: "", rest: raw };
      continue;
    }
    if (c === ":") {
      if (i === 0) throw new ParseError("missing protocol scheme");
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    return { scheme: "", rest: raw };
  }
  return { scheme: "", rest: raw };
}

function parseHost(host: string): string {
  if (host.startsWith("[")) {
    const close = host.lastIndexOf("]");
    if (close === -1) throw new ParseError("missing ']' in host");
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort)) throw new ParseError(`invalid port ${goQuote(colonPort)} after host`);
  } else {
    const colon = host.lastIndexOf(":");
    if (colon !== -1) {
      const colonPort = host.slice(colon);
      if (!validOptionalPort(colonPort)) throw new ParseError(`invalid port ${goQuote(colonPort)} after host`);
    }
  }
  return unescape(host, true);
}

function validOptionalPort(port: string): boolean {
  return port === "" || /^:[0-9]*$/.test(port);
}

/** Characters a host may hold as they are (everything else must not appear unescaped). */
const HOST_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"%]$/;

function unescape(text: string, isHost: boolean): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new ParseError(`invalid URL escape ${goQuote(text.slice(i, i + 3))}`);
      // In a host, escapes are for non-ASCII bytes, and `%25` (a zone's `%`) only.
      if (isHost && Number.parseInt(hex, 16) < 0x80 && hex !== "25") throw new ParseError(`invalid URL escape ${goQuote(`%${hex}`)}`);
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
      continue;
    }
    if (isHost && c.charCodeAt(0) < 0x80 && !HOST_CHARS.test(c)) throw new ParseError(`invalid character ${goQuote(c)} in host name`);
    out += c;
  }
  return out;
}

/** Go's `%q` for the ASCII texts that reach these messages. */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}
