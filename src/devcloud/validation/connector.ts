/**
 * Connector (`networking.datumapis.com/v1alpha1`): a device's tunnel identity. The agent writes the
 * spec once and its connection details (public key, relay, addresses) through `/status`.
 */
import { conditions, typeMeta, waitingFor } from "./common.ts";
import { isStrictIP } from "./ip.ts";
import { parseRequestUri } from "./go-url.ts";
import { array, boolean, integer, object, rule, string } from "./schema.ts";

const capabilityType = string({ minLength: 1, maxLength: 253 });

const address = object(
  {
    address: string({ maxLength: 39, rules: [rule("Must be an IP address.", (self: string) => isStrictIP(self))] }),
    port: integer({ minimum: 1, maximum: 65535 }),
  },
  { required: ["address", "port"] },
);

const publicKey = object(
  {
    id: string(),
    discoveryMode: string({ enum: ["DNS"], default: "DNS" }),
    homeRelay: string({ rules: [rule("Must be a URL.", (self: string) => parseRequestUri(self).ok)] }),
    addresses: array(address, { maxItems: 16 }),
  },
  { required: ["addresses", "homeRelay"] },
);

const connectionDetails = object(
  {
    type: string({ enum: ["PublicKey"] }),
    publicKey,
  },
  {
    required: ["type"],
    rules: [
      rule("publicKey field must be nil if the type is not PublicKey", (self) => !(self.type !== "PublicKey" && self.publicKey !== undefined)),
      rule("publicKey field must be specified if the type is PublicKey", (self) => self.type === "PublicKey" && self.publicKey !== undefined),
    ],
  },
);

export const connectorSchema = object(
  {
    ...typeMeta,
    spec: object(
      {
        connectorClassName: string({ minLength: 1 }),
        capabilities: array(
          object(
            { type: capabilityType, connectTCP: object({ disabled: boolean() }) },
            { required: ["type"] },
          ),
          { maxItems: 16, listType: "map", mapKeys: ["type"] },
        ),
      },
      { required: ["connectorClassName"] },
    ),
    status: object(
      {
        conditions: conditions(),
        capabilities: array(object({ type: capabilityType, conditions: conditions() }, { required: ["type"] }), {
          listType: "map",
          mapKeys: ["type"],
        }),
        connectionDetails,
        leaseRef: object({ name: string({ default: "" }) }),
      },
      { default: waitingFor("Accepted") },
    ),
  },
  { required: ["spec"] },
);
