/**
 * ConnectorAdvertisement (`networking.datumapis.com/v1alpha1`): which local addresses and ports a
 * Connector offers to the platform.
 */
import { conditions, typeMeta, waitingFor } from "./common.ts";
import { array, integer, object, string } from "./schema.ts";

const port = object(
  {
    name: string(),
    port: integer({ minimum: 1, maximum: 65535 }),
    protocol: string({ default: "TCP" }),
  },
  { required: ["name", "port", "protocol"] },
);

const service = object(
  {
    address: string({ minLength: 1, maxLength: 253 }),
    ports: array(port, { minItems: 1, maxItems: 16, listType: "map", mapKeys: ["name"] }),
  },
  { required: ["address", "ports"] },
);

export const connectorAdvertisementSchema = object(
  {
    ...typeMeta,
    spec: object(
      {
        connectorRef: object({ name: string({ minLength: 1, maxLength: 253 }) }, { required: ["name"] }),
        layer4: array(
          object(
            { name: string(), services: array(service, { minItems: 1, maxItems: 16 }) },
            { required: ["name", "services"] },
          ),
          { maxItems: 16, listType: "map", mapKeys: ["name"] },
        ),
      },
      { required: ["connectorRef"] },
    ),
    status: object({ conditions: conditions() }, { default: waitingFor("Accepted") }),
  },
  { required: ["spec"] },
);
