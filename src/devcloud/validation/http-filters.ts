/**
 * The request/response filters an HTTPProxy rule or backend may carry. They follow the Gateway
 * API's HTTPRoute filters: each filter names its `type` and carries exactly the matching field.
 */
import { API_GROUP, DNS_LABEL, DNS_SUBDOMAIN, HEADER_NAME, KIND_NAME, URL_PATH } from "./common.ts";
import { type Rule, array, boolean, integer, object, rule, string } from "./schema.ts";

const headerName = string({ minLength: 1, maxLength: 256, pattern: HEADER_NAME });
const port = integer({ minimum: 1, maximum: 65535 });
const preciseHostname = string({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN });

const headerList = array(object({ name: headerName, value: string({ minLength: 1, maxLength: 4096 }) }, { required: ["name", "value"] }), {
  maxItems: 16,
  listType: "map",
  mapKeys: ["name"],
});

const headerModifier = object({
  add: headerList,
  set: headerList,
  remove: array(string(), { maxItems: 16, listType: "set" }),
});

/** A reference to a backend object; a core `Service` needs a port. */
const backendRef = object(
  {
    group: string({ maxLength: 253, pattern: API_GROUP, default: "" }),
    kind: string({ minLength: 1, maxLength: 63, pattern: KIND_NAME, default: "Service" }),
    name: string({ minLength: 1, maxLength: 253 }),
    namespace: string({ minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
    port,
  },
  {
    required: ["name"],
    rules: [rule("Must have port for Service reference", (self) => !(self.group.length === 0 && self.kind === "Service") || self.port !== undefined)],
  },
);

/** A path rewrite: the field named by `type` must be the one that is set. */
const pathModifier = object(
  {
    type: string({ enum: ["ReplaceFullPath", "ReplacePrefixMatch"] }),
    replaceFullPath: string({ maxLength: 1024 }),
    replacePrefixMatch: string({ maxLength: 1024 }),
  },
  {
    required: ["type"],
    rules: [
      rule("replaceFullPath must be specified when type is set to 'ReplaceFullPath'", (self) => self.type !== "ReplaceFullPath" || self.replaceFullPath !== undefined),
      rule("type must be 'ReplaceFullPath' when replaceFullPath is set", (self) => self.replaceFullPath === undefined || self.type === "ReplaceFullPath"),
      rule("replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'", (self) => self.type !== "ReplacePrefixMatch" || self.replacePrefixMatch !== undefined),
      rule("type must be 'ReplacePrefixMatch' when replacePrefixMatch is set", (self) => self.replacePrefixMatch === undefined || self.type === "ReplacePrefixMatch"),
    ],
  },
);

/** A list where `*` stands alone. */
function starAlone(what: string, alongside: string): Rule {
  return rule(`${what} cannot contain '*' alongside other ${alongside}`, (self: string[]) => !(self.includes("*") && self.length > 1));
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
const ORIGIN = /(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)/;

const cors = object({
  allowOrigins: array(string({ minLength: 1, maxLength: 253, pattern: ORIGIN }), {
    maxItems: 64,
    listType: "set",
    rules: [starAlone("AllowOrigins", "origins")],
  }),
  allowCredentials: boolean(),
  allowMethods: array(string({ enum: [...METHODS, "*"] }), { maxItems: 9, listType: "set", rules: [starAlone("AllowMethods", "methods")] }),
  allowHeaders: array(headerName, { maxItems: 64, listType: "set", rules: [starAlone("AllowHeaders", "methods")] }),
  exposeHeaders: array(headerName, { maxItems: 64, listType: "set" }),
  maxAge: integer({ minimum: 1, default: 5 }),
});

const headerSet = array(string(), { maxItems: 64, listType: "set" });

const externalAuth = object(
  {
    protocol: string({ enum: ["HTTP", "GRPC"] }),
    backendRef,
    grpc: object({ allowedHeaders: headerSet }),
    http: object({
      path: string({ maxLength: 1024, pattern: URL_PATH }),
      allowedHeaders: headerSet,
      allowedResponseHeaders: headerSet,
    }),
    forwardBody: object({ maxSize: integer() }),
  },
  {
    required: ["backendRef", "protocol"],
    rules: [
      rule("grpc must be specified when protocol is set to 'GRPC'", (self) => self.protocol !== "GRPC" || self.grpc !== undefined),
      rule("protocol must be 'GRPC' when grpc is set", (self) => self.grpc === undefined || self.protocol === "GRPC"),
      rule("http must be specified when protocol is set to 'HTTP'", (self) => self.protocol !== "HTTP" || self.http !== undefined),
      rule("protocol must be 'HTTP' when http is set", (self) => self.http === undefined || self.protocol === "HTTP"),
    ],
  },
);

const requestMirror = object(
  {
    backendRef,
    percent: integer({ minimum: 0, maximum: 100 }),
    fraction: object(
      { numerator: integer({ minimum: 0 }), denominator: integer({ minimum: 1, default: 100 }) },
      { required: ["numerator"], rules: [rule("numerator must be less than or equal to denominator", (self) => self.numerator <= self.denominator)] },
    ),
  },
  {
    required: ["backendRef"],
    rules: [rule("Only one of percent or fraction may be specified in HTTPRequestMirrorFilter", (self) => !(self.percent !== undefined && self.fraction !== undefined))],
  },
);

const requestRedirect = object({
  scheme: string({ enum: ["http", "https"] }),
  hostname: preciseHostname,
  path: pathModifier,
  port,
  statusCode: integer({ enum: [301, 302, 303, 307, 308], default: 302 }),
});

const urlRewrite = object({ hostname: preciseHostname, path: pathModifier });

const extensionRef = object(
  {
    group: string({ maxLength: 253, pattern: API_GROUP }),
    kind: string({ minLength: 1, maxLength: 63, pattern: KIND_NAME }),
    name: string({ minLength: 1, maxLength: 253 }),
  },
  { required: ["group", "kind", "name"] },
);

/** Which field each filter type carries. */
const FIELD_OF_TYPE: ReadonlyArray<readonly [string, string]> = [
  ["cors", "CORS"],
  ["requestHeaderModifier", "RequestHeaderModifier"],
  ["responseHeaderModifier", "ResponseHeaderModifier"],
  ["requestMirror", "RequestMirror"],
  ["requestRedirect", "RequestRedirect"],
  ["urlRewrite", "URLRewrite"],
  ["extensionRef", "ExtensionRef"],
];

const filter = object(
  {
    type: string({ enum: ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "RequestRedirect", "URLRewrite", "ExtensionRef", "CORS"] }),
    cors,
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestMirror,
    requestRedirect,
    urlRewrite,
    extensionRef,
    externalAuth,
  },
  {
    required: ["type"],
    rules: FIELD_OF_TYPE.flatMap(([field, type]) => [
      rule(`filter.${field} must be nil if the filter.type is not ${type}`, (self) => !(self[field] !== undefined && self.type !== type)),
      rule(`filter.${field} must be specified for ${type} filter.type`, (self) => !(self[field] === undefined && self.type === type)),
    ]),
  },
);

function notRepeated(type: string): Rule {
  return rule(`${type} filter cannot be repeated`, (self: Array<{ type?: string }>) => self.filter((f) => f.type === type).length <= 1);
}

/** A rule's or a backend's filters. */
export const filters = array(filter, {
  maxItems: 16,
  rules: [
    rule(
      "May specify either requestRedirect or urlRewrite, but not both",
      (self: Array<{ type?: string }>) => !(self.some((f) => f.type === "RequestRedirect") && self.some((f) => f.type === "URLRewrite")),
    ),
    notRepeated("RequestHeaderModifier"),
    notRepeated("ResponseHeaderModifier"),
    notRepeated("RequestRedirect"),
    notRepeated("URLRewrite"),
  ],
});
