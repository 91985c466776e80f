import { describe, expect, test } from "bun:test";
import { Exit, type CliError } from "../../../src/errors.ts";
import {
  type CallContext,
  certainlyUnprocessed,
  classifyFailure,
  decodeStatus,
  describeCall,
  type Failure,
  operationLabel,
  quotaAnswerOf,
  quotaCheckExhausted,
  quotaExceededText,
  quotaWaitNotice,
  serverMessage,
} from "../../../src/controlplane/status-error.ts";

const status = (code: number, message: string, reason = "Failure"): string =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code });

const http = (code: number, body: string = status(code, `HTTP ${code} failure`)): Failure => ({ type: "http", status: code, body });

const QUOTA_TIMEOUT =
  'admission webhook denied the request: Your request took too long to be checked against your quota. Please try again in a moment.';
const QUOTA_EXCEEDED =
  `httpproxies.networking.datumapis.com "tunnel-jw8vf" is forbidden: You've reached your quota for this resource type (Insufficient quota resources. Contact your account administrator to review quota limits and usage.).`;

const ctx = (over: Partial<CallContext> = {}): CallContext => ({
  verb: "get",
  kind: "HTTPProxy",
  plural: "httpproxies",
  name: "tunnel-abc",
  project: "p-123",
  host: "api.example.test",
  ...over,
});

describe("classifyFailure", () => {
  test.each<[string, Failure, CallContext, string]>([
    ["401 → refresh", http(401), ctx(), "unauthorized"],
    ["401 on create → refresh", http(401), ctx({ verb: "create", name: undefined }), "unauthorized"],
    ["403 quota-check timeout → wait", http(403, status(403, QUOTA_TIMEOUT, "Forbidden")), ctx({ verb: "create" }), "quota-check"],
    ["500 → transient", http(500), ctx(), "transient"],
    ["502 → transient", http(502, "<html>bad gateway</html>"), ctx({ verb: "list", name: undefined }), "transient"],
    ["503 → transient", http(503), ctx({ verb: "patch" }), "transient"],
    ["504 → transient", http(504), ctx({ verb: "delete" }), "transient"],
    ["429 → transient", http(429), ctx(), "transient"],
    ["408 → transient", http(408), ctx(), "transient"],
    ["connection refused → transient", { type: "network", code: "ECONNREFUSED", message: "Unable to connect" }, ctx(), "transient"],
    ["reset → transient", { type: "network", code: "ECONNRESET", message: "closed" }, ctx(), "transient"],
    ["timeout → transient", { type: "timeout", afterMs: 10_000 }, ctx(), "transient"],
    ["503 on generateName create → transient (never processed)", http(503), ctx({ verb: "create", name: undefined }), "transient"],
    ["refused on generateName create → transient", { type: "network", code: "ECONNREFUSED", message: "x" }, ctx({ verb: "create", name: undefined }), "transient"],
    ["500 on named create → transient (a repeat answers 409)", http(500), ctx({ verb: "create", name: "tunnel-abc" }), "transient"],
  ])("%s", (_title, failure, context, expected) => {
    expect(classifyFailure(failure, context).type).toBe(expected as never);
  });

  const final = (failure: Failure, context: CallContext): CliError => {
    const c = classifyFailure(failure, context);
    if (c.type !== "final") throw new Error(`expected final, got ${c.type}`);
    return c.error;
  };

  test.each<[string, Failure, CallContext, number, string, RegExp]>([
    [
      "403 quota exceeded → friendly text",
      http(403, status(403, QUOTA_EXCEEDED, "Forbidden")),
      ctx({ verb: "create", name: undefined }),
      Exit.rejected,
      "quota",
      /^Quota limit exceeded for HTTPProxy resources\.\n[\s\S]*Run 'tunnel list' to see existing tunnels\.$/,
    ],
    [
      "403 RBAC → permission denied (not a login problem)",
      http(403, status(403, 'connectors is forbidden: User "u" cannot list resource "connectors"', "Forbidden")),
      ctx({ verb: "list", kind: "Connector", plural: "connectors", name: undefined }),
      Exit.noAuth,
      "forbidden",
      /^Permission denied listing connectors in project p-123\.$/,
    ],
    ["404 named → not found", http(404), ctx({ verb: "patch" }), Exit.rejected, "not_found", /^HTTPProxy tunnel-abc not found in project p-123$/],
    [
      "404 on a list → project control plane missing",
      http(404),
      ctx({ verb: "list", name: undefined }),
      Exit.rejected,
      "not_found",
      /^Control plane for project 'p-123' has no httpproxies/,
    ],
    [
      "409 named create → already exists",
      http(409, status(409, 'connectoradvertisements "tunnel-abc" already exists', "AlreadyExists")),
      ctx({ verb: "create", kind: "ConnectorAdvertisement", plural: "connectoradvertisements" }),
      Exit.rejected,
      "conflict",
      /^ConnectorAdvertisement tunnel-abc already exists: /,
    ],
    ["409 patch → conflict", http(409), ctx({ verb: "patch" }), Exit.rejected, "conflict", /^Conflict updating HTTPProxy tunnel-abc/],
    [
      "422 invalid → rejected with the server's words",
      http(422, status(422, "spec.rules: Too many: 17: must have at most 16 items", "Invalid")),
      ctx({ verb: "create", name: undefined }),
      Exit.rejected,
      "rejected",
      /^The control plane rejected creating HTTPProxy: spec\.rules: Too many/,
    ],
    [
      "500 on generateName create → unreachable, may have been created",
      http(500),
      ctx({ verb: "create", name: undefined }),
      Exit.unreachable,
      "unreachable",
      /may or may not have been created/,
    ],
    [
      "reset on generateName create → unreachable",
      { type: "network", code: "ECONNRESET", message: "closed" },
      ctx({ verb: "create", name: undefined }),
      Exit.unreachable,
      "unreachable",
      /api\.example\.test/,
    ],
    ["302 → malformed", http(302, ""), ctx(), Exit.malformed, "malformed", /Unexpected HTTP 302/],
  ])("%s", (_title, failure, context, exit, code, message) => {
    const error = final(failure, context);
    expect(error.exit).toBe(exit as never);
    expect(error.code).toBe(code as never);
    expect(error.message).toMatch(message);
  });

  test("permission denied carries the ctx-switch hint (docs/wire-facts.md#authorization)", () => {
    const error = final(http(403, status(403, "forbidden")), ctx({ verb: "list", kind: "Connector", plural: "connectors", name: undefined }));
    expect(error.hint).toBe("Switch your datumctl context to this project first: 'datumctl ctx switch p-123'");
  });
});

// The quota admission's 403s (docs/wire-facts.md#quota-and-retries), in milo's words.
const FORBIDDEN = 'httpproxies.networking.datumapis.com "tunnel-jw8vf" is forbidden: ';
const QUOTA_CHECK_ERROR = `${FORBIDDEN}Something went wrong while checking your quota for this request. Please try again — if this keeps happening, contact support.`;
const QUOTA_CLEANUP = `${FORBIDDEN}We're still cleaning up from a previous attempt to create this resource. Please try again in a few seconds.`;
const QUOTA_CLEANUP_QUOTING_DENIAL = `${FORBIDDEN}We're still cleaning up from a previous attempt to create this resource (Insufficient quota resources. Contact your account administrator to review quota limits and usage.). Please try again in a few seconds.`;
const QUOTA_EXCEEDED_NEWER = `${FORBIDDEN}You've reached your quota for this resource type (QuotaExceeded). Delete unused resources to free up capacity, or contact support to request a higher limit.`;
const QUOTA_MISCONFIGURED = `${FORBIDDEN}Quota enforcement for this resource type is misconfigured and can't be applied. This needs a fix from the service provider — please contact support.`;

describe("quota answers", () => {
  test.each<[string, number, string, string | undefined]>([
    ["check timed out", 403, QUOTA_TIMEOUT, "check-timeout"],
    ["check failed", 403, QUOTA_CHECK_ERROR, "check-error"],
    ["cleanup pending", 403, QUOTA_CLEANUP, "cleanup-pending"],
    ["cleanup pending, quoting the denial (still retryable)", 403, QUOTA_CLEANUP_QUOTING_DENIAL, "cleanup-pending"],
    ["exhausted (app fixture)", 403, QUOTA_EXCEEDED, "exhausted"],
    ["exhausted (newer wording)", 403, QUOTA_EXCEEDED_NEWER, "exhausted"],
    ["exhausted, typographic apostrophe", 403, QUOTA_EXCEEDED.replace("You've", "You\u2019ve"), "exhausted"],
    ["exhausted (claim controller's words only)", 403, "admission webhook denied: Insufficient quota resources", "exhausted"],
    ["misconfigured", 403, QUOTA_MISCONFIGURED, "misconfigured"],
    ["RBAC", 403, 'connectors is forbidden: User "u" cannot list resource "connectors"', undefined],
    ["some other 403 that says quota", 403, "quota is a word", undefined],
    ["the timeout text on another status", 500, QUOTA_TIMEOUT, undefined],
  ])("%s", (_title, code, message, expected) => {
    expect(quotaAnswerOf(code, message)).toBe(expected as never);
  });

  test.each<[string, string, string | number]>([
    ["check timed out → retried", QUOTA_TIMEOUT, "quota-check"],
    ["check failed → retried", QUOTA_CHECK_ERROR, "quota-check"],
    ["cleanup pending → retried", QUOTA_CLEANUP, "quota-check"],
    ["cleanup pending quoting the denial → retried, never 'quota exceeded'", QUOTA_CLEANUP_QUOTING_DENIAL, "quota-check"],
    ["exhausted → 64", QUOTA_EXCEEDED_NEWER, Exit.rejected],
    ["misconfigured → 64 with the platform's words", QUOTA_MISCONFIGURED, Exit.rejected],
    ["RBAC → 77", 'connectors is forbidden: User "u" cannot create resource "connectors"', Exit.noAuth],
  ])("classifyFailure: %s", (_title, message, expected) => {
    // A generateName create: only a certainly-unprocessed failure may be repeated, and a 403 is one.
    const c = classifyFailure(http(403, status(403, message, "Forbidden")), ctx({ verb: "create", name: undefined }));
    expect(c.type === "final" ? c.error.exit : c.type).toBe(expected as never);
    if (c.type === "quota-check") expect(c.message).toBe(message);
    if (c.type === "final" && expected === Exit.rejected) {
      expect(c.error.code).toBe(message === QUOTA_MISCONFIGURED ? "rejected" : "quota");
      if (message === QUOTA_MISCONFIGURED) expect(c.error.message).toContain("Quota enforcement for this resource type is misconfigured");
    }
  });

  test("the notice keeps upstream's wording for a timeout and names the other cases", () => {
    const create = ctx({ verb: "create", name: undefined });
    expect(quotaWaitNotice(create, "check-timeout", 15)).toBe("  … quota check timed out for HTTPProxy create; retrying for up to 15s");
    expect(quotaWaitNotice(create, "check-error", 15)).toBe("  … quota check failed for HTTPProxy create; retrying for up to 15s");
    expect(quotaWaitNotice(create, "cleanup-pending", 15)).toBe("  … quota cleanup still pending for HTTPProxy create; retrying for up to 15s");
  });

  test("giving up is 69 with the platform's own words and the number of attempts", () => {
    const error = quotaCheckExhausted(ctx({ verb: "create", name: undefined }), 5, QUOTA_CHECK_ERROR, "HTTP 403: …");
    expect(error.exit).toBe(Exit.unreachable);
    expect(error.message).toBe(`The quota check for HTTPProxy create did not succeed after 5 attempts: ${QUOTA_CHECK_ERROR}`);
    expect(error.message).not.toMatch(/exceeded/i);
  });
});

describe("helpers", () => {
  test("decodeStatus accepts a Status and rejects everything else", () => {
    expect(decodeStatus(status(404, "nope"))?.message).toBe("nope");
    expect(decodeStatus("<html/>")).toBeUndefined();
    expect(decodeStatus(JSON.stringify({ kind: "HTTPProxy" }))).toBeUndefined();
    expect(decodeStatus("")).toBeUndefined();
  });

  test.each([
    [503, status(503, "etcd leader changed"), "etcd leader changed"],
    [502, "<html>\n  <body>Bad   Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>"],
    [500, "", "HTTP 500"],
    [500, "x".repeat(300), `${"x".repeat(200)}…`],
  ])("serverMessage(%p, …)", (code, body, expected) => {
    expect(serverMessage(code, body)).toBe(expected);
  });

  test.each<[Partial<CallContext>, string, string]>([
    [{ verb: "list", name: undefined, kind: "Connector", plural: "connectors" }, "listing connectors", "Connector list"],
    [{ verb: "create", name: undefined }, "creating HTTPProxy", "HTTPProxy create"],
    [{ verb: "create", kind: "ConnectorAdvertisement" }, "creating ConnectorAdvertisement tunnel-abc", "ConnectorAdvertisement create"],
    [{ verb: "get" }, "reading HTTPProxy tunnel-abc", "HTTPProxy get"],
    [{ verb: "patch" }, "updating HTTPProxy tunnel-abc", "HTTPProxy patch"],
    [{ verb: "patchStatus", kind: "Connector", name: "datum-connect-x" }, "updating the status of Connector datum-connect-x", "Connector status patch"],
    [{ verb: "delete" }, "deleting HTTPProxy tunnel-abc", "HTTPProxy delete"],
  ])("describeCall / operationLabel %#", (over, described, label) => {
    expect(describeCall(ctx(over))).toBe(described);
    expect(operationLabel(ctx(over))).toBe(label);
  });

  test.each<[Failure, boolean]>([
    [http(503), true],
    [http(429), true],
    [http(500), false],
    [http(504), false],
    [{ type: "network", code: "ECONNREFUSED", message: "" }, true],
    [{ type: "network", code: "ENOTFOUND", message: "" }, true],
    [{ type: "network", code: "ECONNRESET", message: "" }, false],
    [{ type: "network", message: "socket hang up" }, false],
    [{ type: "timeout", afterMs: 1 }, false],
  ])("certainlyUnprocessed %#", (failure, expected) => {
    expect(certainlyUnprocessed(failure)).toBe(expected);
  });

  test("quota text names the resource type", () => {
    const text = quotaExceededText("ConnectorAdvertisement");
    expect(text.split("\n")[0]).toBe("Quota limit exceeded for ConnectorAdvertisement resources.");
    expect(text).toContain("Delete unused tunnels");
  });
});
