/**
 * The platform's rules for a tunnel endpoint (docs/wire-facts.md#platform-validation), one row per case:
 * what is accepted (and how it is split), and what is refused with which words and hint.
 */
import { describe, expect, test } from "bun:test";
import { Exit, Malformed, UsageError } from "../../../src/errors.ts";
import { checkEndpoint } from "../../../src/tunnel/endpoint-rules.ts";
import { originProbeUrl, parseTarget, validateEndpoint, validateStoredEndpoint } from "../../../src/tunnel/endpoint.ts";
import type { JsonObject } from "../../../src/devcloud/json.ts";
import { httpProxyWebhookViolations } from "../../../src/devcloud/validation/httpproxy-webhook.ts";
import { CONNECTOR, proxyObject, rejected as webhookRejected } from "../../helpers/httpproxy-webhook-cases.ts";

/** The local Datum's emulation of the platform's webhook, on the agent's HTTPProxy with this endpoint. */
function webhookCauses(endpoint: string): string[] {
  return httpProxyWebhookViolations(proxyObject({ backend: { endpoint, connector: { name: CONNECTOR } } }) as JsonObject).map((v) => `${v.field}: ${v.message}`);
}

describe("checkEndpoint accepts", () => {
  test.each([
    ["127.0.0.1:3000", "http://127.0.0.1:3000", "http", "127.0.0.1", 3000],
    ["  127.0.0.1:3000 \n", "http://127.0.0.1:3000", "http", "127.0.0.1", 3000],
    ["localhost:3000", "http://localhost:3000", "http", "localhost", 3000],
    ["http://localhost:3000", "http://localhost:3000", "http", "localhost", 3000],
    ["https://localhost:8443", "https://localhost:8443", "https", "localhost", 8443],
    ["https://api.example.com:8443", "https://api.example.com:8443", "https", "api.example.com", 8443],
    ["api.local:8443", "http://api.local:8443", "http", "api.local", 8443],
    ["https://api.local:8443", "https://api.local:8443", "https", "api.local", 8443],
    ["example.com.:8080", "http://example.com.:8080", "http", "example.com.", 8080],
    ["xn--bcher-kva.example:3000", "http://xn--bcher-kva.example:3000", "http", "xn--bcher-kva.example", 3000],
    ["HTTP://127.0.0.1:3000", "HTTP://127.0.0.1:3000", "http", "127.0.0.1", 3000],
    ["10.1.2.3:8080", "http://10.1.2.3:8080", "http", "10.1.2.3", 8080],
    ["192.168.1.20:65535", "http://192.168.1.20:65535", "http", "192.168.1.20", 65535],
    ["127.0.0.1:1", "http://127.0.0.1:1", "http", "127.0.0.1", 1],
    ["http://127.0.0.1:443", "http://127.0.0.1:443", "http", "127.0.0.1", 443],
    ["https://localhost:80", "https://localhost:80", "https", "localhost", 80],
    ["169.253.0.1:3000", "http://169.253.0.1:3000", "http", "169.253.0.1", 3000],
    ["224.0.1.1:3000", "http://224.0.1.1:3000", "http", "224.0.1.1", 3000],
  ])("%p → %p", (input, endpoint, scheme, host, port) => {
    const check = checkEndpoint(input);
    expect(check).toEqual({ ok: true, value: { endpoint, scheme, host, port } } as never);
    // What is accepted reads back the same through the stored-endpoint parser, and the platform takes it.
    expect(parseTarget(endpoint)).toEqual({ host, port });
    expect(webhookCauses(endpoint)).toEqual([]);
  });
});

describe("checkEndpoint refuses", () => {
  test.each([
    // [input, message (exact or prefix …), hint contains]
    ["", "missing host", "127.0.0.1:3000"],
    ["   ", "missing host", "127.0.0.1:3000"],
    [":3000", "missing host", "127.0.0.1:3000"],
    ["http://:3000", "missing host", "127.0.0.1:3000"],
    ["://127.0.0.1:3000", "missing protocol scheme", "127.0.0.1:3000"],
    ["localhost", "missing port", "127.0.0.1:3000"],
    ["http://localhost", "missing port", "127.0.0.1:3000"],
    ["http://127.0.0.1:", "missing port", "127.0.0.1:3000"],
    ["127.0.0.1:80", "missing port: 80 is the default port of http…", "another port"],
    ["http://localhost:80", "missing port: 80 is the default port of http…", "http://localhost:8080"],
    ["https://api.example.com:443", "missing port: 443 is the default port of https…", "https://api.example.com:8443"],
    ["127.0.0.1:0", 'invalid port "0": must be between 1 and 65535, inclusive', "127.0.0.1:3000"],
    ["127.0.0.1:65536", 'invalid port "65536": must be between 1 and 65535, inclusive', "127.0.0.1:3000"],
    ["127.0.0.1:abc", 'invalid port "abc": must be between 1 and 65535, inclusive', "127.0.0.1:3000"],
    ["127.0.0.1:+80", 'invalid port "+80": must be between 1 and 65535, inclusive', "127.0.0.1:3000"],
    ["tcp://127.0.0.1:3000", 'unsupported endpoint scheme "tcp": supported values: "http", "https"', "http://host:port"],
    ["ftp://example.com:2121", 'unsupported endpoint scheme "ftp": supported values: "http", "https"', "http://host:port"],
    ["http://user:secret@127.0.0.1:3000", "endpoint must not have a userinfo component", "http://127.0.0.1:3000"],
    ["user@127.0.0.1:3000", "endpoint must not have a userinfo component", "http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000/", "endpoint must not have a path component", "drop the trailing slash: http://127.0.0.1:3000"],
    ["127.0.0.1:3000/", "endpoint must not have a path component", "drop the trailing slash: http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000/api", "endpoint must not have a path component", "give only scheme://host:port, e.g. http://127.0.0.1:3000"],
    ["https://api.example.com:8443/v1?x=1", "endpoint must not have a path component", "e.g. https://api.example.com:8443"],
    ["http://127.0.0.1:3000?debug=1", "endpoint must not have a query component", "e.g. http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000?", "endpoint must not have a query component", "e.g. http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000#top", "endpoint must not have a fragment component", "e.g. http://127.0.0.1:3000"],
    ["0.0.0.0:3000", "endpoint host may not be unspecified (0.0.0.0)", "use 127.0.0.1"],
    ["http://0.0.0.0:8080", "endpoint host may not be unspecified (0.0.0.0)", "use 127.0.0.1"],
    ["[::]:3000", "endpoint host may not be unspecified (::)", "127.0.0.1"],
    ["169.254.169.254:8080", "endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", "loopback"],
    ["[fe80::1]:3000", "endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", "loopback"],
    ["[fe80::1%25eth0]:3000", "endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", "loopback"],
    ["[febf::1]:3000", "endpoint host may not be in the link-local range (169.254.0.0/16, fe80::/10)", "loopback"],
    ["224.0.0.251:5353", "endpoint host may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)", "loopback"],
    ["[ff02::fb]:5353", "endpoint host may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)", "loopback"],
    ["[::1]:3000", "IPv6 origins are not supported: the platform dials the origin as host:port without brackets, so [::1] could never be reached", "listen on 127.0.0.1"],
    ["http://[::1]:9000", "IPv6 origins are not supported…", "127.0.0.1:3000"],
    ["[2001:db8::10]:8080", "IPv6 origins are not supported…", "127.0.0.1"],
    ["[::ffff:127.0.0.1]:3000", "IPv6 origins are not supported…", "127.0.0.1"],
    ["::1:3000", "IPv6 origins are not supported…", "127.0.0.1"],
    ["[::1", "invalid IPv6 address", "127.0.0.1:3000"],
    ["[nope]:80", "invalid IPv6 address", "127.0.0.1:3000"],
    ["[::1]9000", "invalid host", "127.0.0.1:3000"],
    ["[::1]", "missing port", "127.0.0.1:3000"],
    ["devbox:8080", 'endpoint host "devbox" must be a fully qualified domain name (at least two labels) or localhost', "use 127.0.0.1 or localhost"],
    ["my-laptop:3000", 'endpoint host "my-laptop" must be a fully qualified domain name (at least two labels) or localhost', "my-laptop.example.com"],
    ["localhost.:3000", 'endpoint host "localhost." must be a fully qualified domain name (at least two labels) or localhost', "127.0.0.1"],
    ["LOCALHOST:3000", 'endpoint host "LOCALHOST" must be lower case', "write it as localhost"],
    ["https://API.Example.com:8443", 'endpoint host "API.Example.com" must be lower case', "write it as api.example.com"],
    ["my_host.example.com:3000", 'endpoint host "my_host.example.com" is not a valid DNS name…', "127.0.0.1:3000"],
    ["-bad.example.com:3000", 'endpoint host "-bad.example.com" is not a valid DNS name…', "127.0.0.1:3000"],
    ["my host:80", 'endpoint host "my host" is not a valid DNS name…', "127.0.0.1:3000"],
    [`${"a".repeat(64)}.example.com:3000`, `endpoint host "${"a".repeat(64)}.example.com" is not a valid DNS name…`, "127.0.0.1:3000"],
    ["127.1:3000", 'invalid IPv4 address "127.1"', "four decimal numbers"],
    ["127.000.000.001:3000", 'invalid IPv4 address "127.000.000.001"', "four decimal numbers"],
    ["10.0.0.256:3000", 'invalid IPv4 address "10.0.0.256"', "four decimal numbers"],
    ["0x7f.1:3000", 'invalid IPv4 address "0x7f.1"', "four decimal numbers"],
    ["https://127.0.0.1:8443", "https to an IP address (127.0.0.1) needs a TLS server name, which datumctl-connect does not set", "use http:// to the local service (http://127.0.0.1:8443), or a DNS name for it (https://localhost:8443)"],
    ["https://10.0.0.5:9443", "https to an IP address (10.0.0.5) needs a TLS server name, which datumctl-connect does not set", "http://10.0.0.5:9443"],
  ])("%p: %p", (input, message, hint) => {
    const check = checkEndpoint(input);
    if (check.ok) throw new Error(`accepted ${input}`);
    if (message.endsWith("…")) expect(check.problem.message.startsWith(message.slice(0, -1))).toBe(true);
    else expect(check.problem.message).toBe(message);
    expect(check.problem.hint).toContain(hint);
  });
});

describe("whatever the platform's webhook refuses in an endpoint through a connector is refused first", () => {
  // Stored forms only: what the user types without a scheme is stored with `http://` in front.
  const endpointCases = webhookRejected.filter((c) => c.field.includes(".endpoint") && c.shape.backend?.connector?.name === CONNECTOR && c.shape.backend.endpoint?.includes("://"));
  test("the webhook table has endpoint cases", () => {
    expect(endpointCases.length).toBeGreaterThan(10);
  });
  test.each(endpointCases.map((c) => [c.name, c.shape.backend?.endpoint as string] as const))("%s (%p)", (_name, endpoint) => {
    expect(webhookCauses(endpoint)).not.toEqual([]);
    expect(checkEndpoint(endpoint).ok).toBe(false);
  });
});

describe("validateEndpoint and validateStoredEndpoint", () => {
  test("a flag the platform refuses is misuse (2) with the rule's words and hint", () => {
    let caught: unknown;
    try {
      validateEndpoint("http://127.0.0.1:3000/api");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exit).toBe(Exit.usage);
    expect((caught as UsageError).message).toBe("endpoint must not have a path component");
    expect((caught as UsageError).hint).toContain("http://127.0.0.1:3000");
    expect(validateEndpoint("127.0.0.1:3000").endpoint).toBe("http://127.0.0.1:3000");
  });

  test("a stored endpoint the platform refuses is malformed data (65) naming the file", () => {
    let caught: unknown;
    try {
      validateStoredEndpoint("http://[::1]:3000", "/state/tunnels/app/tunnel.yaml");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Malformed);
    expect((caught as Malformed).exit).toBe(Exit.malformed);
    expect((caught as Malformed).message).toStartWith("/state/tunnels/app/tunnel.yaml: endpoint 'http://[::1]:3000' is not one the platform accepts: IPv6 origins are not supported");
    expect((caught as Malformed).hint).toContain("fix the endpoint in /state/tunnels/app/tunnel.yaml");
  });
});

describe("originProbeUrl", () => {
  test.each([
    ["http://127.0.0.1:3000", "http://127.0.0.1:3000/"],
    ["127.0.0.1:3000", "http://127.0.0.1:3000/"],
    // Stored before paths were refused: the probe asks `/`, where public traffic goes, not `/api`.
    ["http://127.0.0.1:3000/api", "http://127.0.0.1:3000/"],
    ["http://127.0.0.1:3000/api?x=1#f", "http://127.0.0.1:3000/"],
    ["https://localhost:8443/", "https://localhost:8443/"],
    ["HTTPS://localhost:8443", "https://localhost:8443/"],
    ["http://user:pw@127.0.0.1:3000", "http://127.0.0.1:3000/"],
    ["http://[::1]:9000", "http://[::1]:9000/"],
    ["http://localhost", null],
    ["", null],
  ])("%p → %p", (endpoint, url) => {
    expect(originProbeUrl(endpoint)).toBe(url);
  });
});
