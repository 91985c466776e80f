/**
 * TrafficProtectionPolicy (`networking.datumapis.com/v1alpha`): a web application firewall (OWASP
 * core rule set) in front of a Gateway or HTTPRoute.
 */
import { API_GROUP, DNS_LABEL, DNS_SUBDOMAIN, DOMAIN_PREFIXED_PATH, KIND_NAME, conditions, typeMeta } from "./common.ts";
import { array, integer, object, rule, string } from "./schema.ts";

const targetRef = object(
  {
    group: string({ maxLength: 253, pattern: API_GROUP }),
    kind: string({ minLength: 1, maxLength: 63, pattern: KIND_NAME }),
    name: string({ minLength: 1, maxLength: 253 }),
    sectionName: string({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }),
  },
  { required: ["group", "kind", "name"] },
);

const paranoiaLevel = (fallback: number) => integer({ minimum: 1, maximum: 4, default: fallback });
const score = (fallback: number) => integer({ minimum: 1, maximum: 10000, default: fallback });

const idRange = string({
  maxLength: 21,
  pattern: /^\d{1,10}-\d{1,10}$/,
  rules: [
    rule("Max must be greater than min", (self: string) => {
      const [low = "", high = ""] = self.split("-");
      return Number(high) > Number(low);
    }),
  ],
});

const owaspCoreRuleSet = object({
  paranoiaLevels: object(
    { blocking: paranoiaLevel(1), detection: paranoiaLevel(1) },
    {
      default: { blocking: 1, detection: 1 },
      rules: [rule("detection paranoia level must be greater than or equal to blocking paranoia level", (self) => self.detection >= self.blocking)],
    },
  ),
  scoreThresholds: object({ inbound: score(5), outbound: score(4) }, { default: {} }),
  ruleExclusions: object({
    ids: array(integer(), { maxItems: 100 }),
    idRanges: array(idRange, { maxItems: 100 }),
    tags: array(string({ pattern: /^[a-zA-Z0-9_\-/]+$/ }), { maxItems: 100 }),
  }),
});

const ruleSets = array(
  object({ type: string({ enum: ["OWASPCoreRuleSet"] }), owaspCoreRuleSet }, { required: ["type"] }),
  {
    minItems: 1,
    maxItems: 16,
    listType: "map",
    mapKeys: ["type"],
    default: [{ type: "OWASPCoreRuleSet", owaspCoreRuleSet: {} }],
    rules: [rule("OWASPCoreRuleSet filter cannot be repeated", (self: Array<{ type?: string }>) => self.filter((r) => r.type === "OWASPCoreRuleSet").length <= 1)],
  },
);

const ancestorRef = object(
  {
    group: string({ maxLength: 253, pattern: API_GROUP, default: "gateway.networking.k8s.io" }),
    kind: string({ minLength: 1, maxLength: 63, pattern: KIND_NAME, default: "Gateway" }),
    name: string({ minLength: 1, maxLength: 253 }),
    namespace: string({ minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
    port: integer({ minimum: 1, maximum: 65535 }),
    sectionName: string({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }),
  },
  { required: ["name"] },
);

type TargetRef = { group?: string; kind?: string };

export const trafficProtectionPolicySchema = object(
  {
    ...typeMeta,
    spec: object(
      {
        targetRefs: array(targetRef, { minItems: 1 }),
        mode: string({ enum: ["Observe", "Enforce", "Disabled"], default: "Observe" }),
        samplingPercentage: integer({ minimum: 1, maximum: 100, default: 100 }),
        ruleSets,
      },
      {
        required: ["ruleSets", "targetRefs"],
        rules: [
          rule("this policy can only have a targetRefs[*].group of gateway.networking.k8s.io", (self: { targetRefs?: TargetRef[] }) =>
            (self.targetRefs ?? []).every((ref) => ref.group === "gateway.networking.k8s.io"),
          ),
          rule("this policy can only have a targetRefs[*].kind of Gateway/HTTPRoute", (self: { targetRefs?: TargetRef[] }) =>
            (self.targetRefs ?? []).every((ref) => ref.kind === "Gateway" || ref.kind === "HTTPRoute"),
          ),
        ],
      },
    ),
    status: object(
      {
        ancestors: array(
          object(
            {
              ancestorRef,
              controllerName: string({ minLength: 1, maxLength: 253, pattern: DOMAIN_PREFIXED_PATH }),
              conditions: conditions({ minItems: 1, maxItems: 8 }),
            },
            { required: ["ancestorRef", "conditions", "controllerName"] },
          ),
          { maxItems: 16 },
        ),
      },
      { required: ["ancestors"] },
    ),
  },
  { required: ["spec"] },
);
