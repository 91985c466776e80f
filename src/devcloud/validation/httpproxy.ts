/**
 * HTTPProxy (`networking.datumapis.com/v1alpha`): hostnames and rules that route public HTTP to a
 * backend endpoint, reached through a Connector for a tunnel. Matches and filters follow the
 * Gateway API's HTTPRoute. The platform's admission webhook adds its own checks on top of these
 * (`httpproxy-webhook.ts`).
 */
import {
  DNS_SUBDOMAIN,
  HEADER_NAME,
  URL_PATH,
  WILDCARD_HOSTNAME,
  conditions,
  typeMeta,
  waitingFor,
} from "./common.ts";
import { filters } from "./http-filters.ts";
import { type Rule, array, integer, object, rule, string } from "./schema.ts";

const headerName = string({ minLength: 1, maxLength: 256, pattern: HEADER_NAME });
const hostname = string({ minLength: 1, maxLength: 253, pattern: WILDCARD_HOSTNAME });

/** Rules on an `Exact` or `PathPrefix` path: an absolute, normalized path. */
const EXACT_OR_PREFIX: ReadonlyArray<readonly [string, (value: string) => boolean]> = [
  ["value must be an absolute path and start with '/'", (v) => v.startsWith("/")],
  ["must not contain '//'", (v) => !v.includes("//")],
  ["must not contain '/./'", (v) => !v.includes("/./")],
  ["must not contain '/../'", (v) => !v.includes("/../")],
  ["must not contain '%2f'", (v) => !v.includes("%2f")],
  ["must not contain '%2F'", (v) => !v.includes("%2F")],
  ["must not contain '#'", (v) => !v.includes("#")],
  ["must not end with '/..'", (v) => !v.endsWith("/..")],
  ["must not end with '/.'", (v) => !v.endsWith("/.")],
];

const isExactOrPrefix = (type: string): boolean => type === "Exact" || type === "PathPrefix";

const pathMatch = object(
  {
    type: string({ enum: ["Exact", "PathPrefix", "RegularExpression"], default: "PathPrefix" }),
    value: string({ maxLength: 1024, default: "/" }),
  },
  {
    default: { type: "PathPrefix", value: "/" },
    rules: [
      ...EXACT_OR_PREFIX.map(([message, ok]) =>
        rule(`${message} when type one of ['Exact', 'PathPrefix']`, (self) => !isExactOrPrefix(self.type) || ok(self.value)),
      ),
      rule("type must be one of ['Exact', 'PathPrefix', 'RegularExpression']", (self) => isExactOrPrefix(self.type) || self.type === "RegularExpression"),
      rule(
        `must only contain valid characters (matching ${URL_PATH.source}) for types ['Exact', 'PathPrefix']`,
        (self) => !isExactOrPrefix(self.type) || URL_PATH.test(self.value),
      ),
    ],
  },
);

function nameValueMatches(valueMax: number) {
  return array(
    object(
      {
        type: string({ enum: ["Exact", "RegularExpression"], default: "Exact" }),
        name: headerName,
        value: string({ minLength: 1, maxLength: valueMax }),
      },
      { required: ["name", "value"] },
    ),
    { maxItems: 16, listType: "map", mapKeys: ["name"] },
  );
}

const match = object({
  path: pathMatch,
  headers: nameValueMatches(4096),
  queryParams: nameValueMatches(1024),
  method: string({ enum: ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"] }),
});

const backend = object(
  {
    endpoint: string(),
    connector: object({ name: string() }, { required: ["name"] }),
    instance: object({ name: string(), port: integer({ minimum: 1, maximum: 65535 }) }, { required: ["name", "port"] }),
    tls: object({ hostname: string({ minLength: 1, maxLength: 253 }) }),
    filters,
  },
  {
    rules: [
      rule(
        "endpoint is required unless instance is set, and instance is mutually exclusive with endpoint and connector",
        (self) => (self.instance !== undefined ? self.endpoint === undefined && self.connector === undefined : self.endpoint !== undefined),
      ),
    ],
  },
);

type Filter = { requestRedirect?: { path?: { type?: string; replacePrefixMatch?: string } }; urlRewrite?: Filter["requestRedirect"] };
type Match = { path?: { type?: string } };
type RuleValue = { matches?: Match[]; filters?: Filter[]; backends?: Array<{ filters?: Filter[] }>; name?: string };

function exactlyOne<T>(items: readonly T[] | undefined, test: (item: T) => boolean): boolean {
  return (items ?? []).filter(test).length === 1;
}

/** A filter of the given kind that replaces the matched prefix. */
function replacesPrefix(kind: "requestRedirect" | "urlRewrite") {
  return (f: Filter): boolean => f[kind]?.path?.type === "ReplacePrefixMatch" && f[kind]?.path?.replacePrefixMatch !== undefined;
}

/** Exactly one `PathPrefix` match, which a prefix replacement needs. */
function singlePrefixMatch(self: RuleValue): boolean {
  const matches = self.matches ?? [];
  return matches.length === 1 && matches[0]?.path !== undefined && matches[0].path.type === "PathPrefix";
}

function prefixReplacementNeedsOneMatch(message: string, kind: "requestRedirect" | "urlRewrite", inBackends: boolean): Rule {
  return rule(message, (self: RuleValue) => {
    const uses = inBackends
      ? exactlyOne(self.backends, (b) => exactlyOne(b.filters, replacesPrefix(kind)))
      : exactlyOne(self.filters, replacesPrefix(kind));
    return !uses || singlePrefixMatch(self);
  });
}

const httpRule = object(
  {
    name: string({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }),
    matches: array(match, { minItems: 1, maxItems: 64, default: [{ path: { type: "PathPrefix", value: "/" } }] }),
    filters,
    backends: array(backend, { minItems: 0, maxItems: 1 }),
  },
  {
    rules: [
      rule(
        "RequestRedirect filter must not be used together with backends",
        (self: RuleValue) => !((self.backends?.length ?? 0) > 0) || (self.filters ?? []).every((f) => f.requestRedirect === undefined),
      ),
      prefixReplacementNeedsOneMatch("When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified", "requestRedirect", false),
      prefixReplacementNeedsOneMatch("When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified", "urlRewrite", false),
      prefixReplacementNeedsOneMatch(
        "Within backends, when using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified",
        "requestRedirect",
        true,
      ),
      prefixReplacementNeedsOneMatch(
        "Within backends, When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified",
        "urlRewrite",
        true,
      ),
    ],
  },
);

const MAX_MATCHES_PER_ROUTE = 128;

const rules = array(httpRule, {
  minItems: 1,
  maxItems: 16,
  rules: [
    rule("Rule name must be unique within the route", (self: RuleValue[]) =>
      self.every((a) => a.name === undefined || self.filter((b) => b.name !== undefined && b.name === a.name).length === 1),
    ),
    rule(
      "While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128",
      (self: RuleValue[]) => self.slice(0, 16).reduce((sum, r) => sum + (r.matches?.length ?? 0), 0) <= MAX_MATCHES_PER_ROUTE,
    ),
  ],
});

const address = object(
  {
    type: string({
      minLength: 1,
      maxLength: 253,
      default: "IPAddress",
      pattern: /^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/,
    }),
    value: string({ minLength: 1, maxLength: 253 }),
  },
  {
    required: ["value"],
    rules: [
      rule(
        `Hostname value must only contain valid characters (matching ${WILDCARD_HOSTNAME.source})`,
        (self) => self.type !== "Hostname" || WILDCARD_HOSTNAME.test(self.value),
      ),
    ],
  },
);

export const httpProxySchema = object(
  {
    ...typeMeta,
    spec: object(
      {
        hostnames: array(hostname, { maxItems: 16 }),
        rules,
      },
      { required: ["rules"] },
    ),
    status: object(
      {
        addresses: array(address, { maxItems: 16 }),
        canonicalHostname: string(),
        hostnames: array(hostname),
        hostnameStatuses: array(object({ hostname: string(), conditions: conditions() }, { required: ["hostname"] })),
        conditions: conditions(),
      },
      { default: waitingFor("Accepted", "Programmed") },
    ),
  },
  { required: ["spec"] },
);
